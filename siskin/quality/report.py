"""The one-page nightly report: plots as embedded PNGs (no network), the checks' verdicts, and links.

Alerts per hour, magnitude histogram per band, a sky map, class counts (when classes exist), rejects by
reason, pipeline latency (ingest -> silver per alert, and the stages' batch times from ops.batches).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siskin.quality.gx_run import Outcome
from siskin.quality.offline import STYLE

BAND_NAMES = {1: "g", 2: "r", 3: "i"}


@dataclass
class NightData:
    """What the report plots, gathered by `siskin.quality.run` (numpy arrays, small tables)."""

    night: int
    hours: np.ndarray  # UTC hour (fractional) of each alert
    mags: dict[str, np.ndarray]  # band -> magnitudes
    ra: np.ndarray
    dec: np.ndarray
    classes: dict[str, int]
    rejects: dict[str, int]
    latency_s: np.ndarray  # silver processed_at - ingest_time per alert
    stage_seconds: dict[str, list[float]]  # ops.batches: seconds per batch, by stage
    extra: dict[str, Any] = field(default_factory=dict)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.set_title(title)
    return fig, ax


def plots(data: NightData) -> dict[str, str]:
    """Each plot as a PNG data URI, by title."""
    out: dict[str, str] = {}
    fig, ax = _figure("alerts per hour (UTC)")
    ax.hist(data.hours, bins=np.arange(25), color="#4c72b0")
    ax.set_xlabel("hour")
    ax.set_ylabel("alerts")
    out["alerts per hour"] = _png(fig)

    fig, ax = _figure("magnitude per band")
    for band, mags in sorted(data.mags.items()):
        mags = mags[np.isfinite(mags)]
        if len(mags):
            ax.hist(mags, bins=30, histtype="step", label=f"{band} ({len(mags)})")
    ax.set_xlabel("PSF magnitude (ZTF magpsf; Rubin psfFlux as AB)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no magnitudes", ha="center", va="center")
    out["magnitudes"] = _png(fig)

    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(7, 3.8))
    ax = fig.add_subplot(111, projection="mollweide")
    ax.set_title("sky map (RA wrapped to ±180°, Dec)")
    ra = np.radians(np.where(data.ra > 180, data.ra - 360, data.ra))
    ax.scatter(ra, np.radians(data.dec), s=4, alpha=0.6)
    ax.grid(True)
    out["sky map"] = _png(fig)

    if data.classes:
        fig, ax = _figure("objects per class")
        names = sorted(data.classes, key=lambda k: -data.classes[k])
        ax.barh(names, [data.classes[n] for n in names])
        out["classes"] = _png(fig)

    fig, ax = _figure("rejects by reason")
    if data.rejects:
        ax.barh(list(data.rejects), list(data.rejects.values()), color="#c44e52")
    else:
        ax.text(0.5, 0.5, "no rejects", ha="center", va="center")
    out["rejects"] = _png(fig)

    fig, ax = _figure("latency: ingest -> silver (s)")
    if len(data.latency_s):
        ax.hist(data.latency_s, bins=30, color="#55a868")
    ax.set_xlabel("seconds")
    out["latency"] = _png(fig)
    return out


def _percentile(values: np.ndarray, q: float) -> str:
    return f"{np.percentile(values, q):.1f}" if len(values) else "-"


def render(data: NightData, outcomes: Sequence[Outcome], status: str, docs_link: str) -> str:
    """The report page as one self-contained HTML string."""
    images = "".join(
        f"<figure><img alt='{html.escape(t)}' src='{uri}'><figcaption>{html.escape(t)}</figcaption></figure>"
        for t, uri in plots(data).items()
    )
    failed = [o for o in outcomes if not o.success]
    rows = "".join(
        f"<tr><td>{html.escape(o.suite)}</td><td>{html.escape(o.expectation)}</td>"
        f"<td>{html.escape(o.column)}</td><td class='{'ok' if o.success else 'fail'}'>"
        f"{'ok' if o.success else 'FAILED'}</td><td>{html.escape(o.observed)}</td></tr>"
        for o in outcomes
    )
    stages = "".join(
        f"<tr><td>{html.escape(s)}</td><td>{len(v)}</td><td>{_percentile(np.array(v), 50)}</td>"
        f"<td>{_percentile(np.array(v), 99)}</td></tr>"
        for s, v in sorted(data.stage_seconds.items())
    )
    summary = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in data.extra.items())
    classes = "" if data.classes else "<p>No classes yet (the class column is empty or absent).</p>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Siskin night {data.night}</title>{STYLE}"
        "<style>figure{display:inline-block;margin:.5rem}img{max-width:100%}</style></head><body>"
        f"<div class='container'><h1>Night {data.night}: <span class='{'ok' if status == 'ok' else 'fail'}'>"
        f"{status}</span></h1><ul>{summary}<li>checks: {len(outcomes) - len(failed)}/{len(outcomes)} passed"
        f"</li><li>latency ingest -> silver: p50 {_percentile(data.latency_s, 50)} s, p99 "
        f"{_percentile(data.latency_s, 99)} s</li></ul>"
        f"<p><a href='{html.escape(docs_link)}'>Data Docs</a></p>"
        f"{images}{classes}<h2>Stage batches</h2><table><tr><th>stage</th><th>batches</th><th>p50 s</th>"
        f"<th>p99 s</th></tr>{stages}</table><h2>Checks</h2><table><tr><th>suite</th><th>expectation</th>"
        f"<th>column</th><th>result</th><th>observed</th></tr>{rows}</table></div></body></html>"
    )
