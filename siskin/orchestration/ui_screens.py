"""Screenshots of the local Airflow UI (logged in as a named user), checked for a complete render.

`python -m siskin.orchestration.ui_screens [--lake L] [--out DIR]` (what `scripts/screenshots.sh` runs):
uses the Airflow `siskin airflow` serves for this lake, or starts one for the duration.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from siskin.config import Settings, load_settings
from siskin.orchestration.screenshot import PageCheck, capture

TOKEN_COOKIE = "_token"  # the cookie Airflow's UI reads its JWT from
PAGES = {"airflow.png": "/dags/nightly", "airflow-dags.png": "/dags"}


def screenshot_airflow(settings: Settings, out: Path, port: int | None = None) -> list[PageCheck]:
    """Capture the Airflow UI's pages of `PAGES` into `out`, logged in as the first configured user."""
    from siskin.orchestration import serve
    from siskin.orchestration.local import prepare
    from siskin.orchestration.rest import AirflowClient

    local = prepare(settings, port=port)
    running = None
    if serve.health(local.url) is None:
        serve.migrate(local)
        running = serve.start(local)
        serve.wait_healthy(running)
    try:
        user = next(iter(local.passwords))
        client = AirflowClient(local.url, user, local.passwords[user])
        client.wait_for_dag("nightly")
        return [
            capture(f"{local.url}{path}", out / name, cookies={TOKEN_COOKIE: client.token})
            for name, path in PAGES.items()
        ]
    finally:
        if running is not None:
            running.stop()


def screenshot_reports(settings: Settings, night: int, out: Path) -> list[PageCheck]:
    """Capture the night's one-page report and its Data Docs index (`siskin quality` wrote them) into `out`,
    opened from disk as a person opens them: offline, so any missing style or image shows as a failure."""
    folder = Path(settings.lake_uri) / "_reports" / str(night)
    pages = {"report.png": folder / "report.html", "data-docs.png": folder / "data_docs" / "index.html"}
    missing = [str(p) for p in pages.values() if not p.is_file()]
    if missing:
        from siskin.errors import SiskinError

        hint = f"run `siskin quality --night {night}`"
        raise SiskinError(f"no report to screenshot: {', '.join(missing)} ({hint})")
    return [capture(path.resolve().as_uri(), out / f"{night}-{name}") for name, path in pages.items()]


def main(argv: list[str] | None = None) -> int:
    """Capture, print one JSON line per page, and exit 1 unless every page rendered completely."""
    parser = argparse.ArgumentParser(prog="python -m siskin.orchestration.ui_screens")
    parser.add_argument("--lake", help="lake root (default: the settings')")
    parser.add_argument("--out", type=Path, help="folder (default: <lake>/_reports/screenshots)")
    parser.add_argument("--port", type=int, help="the Airflow UI's port (default: airflow.port)")
    parser.add_argument("--night", type=int, help="also the night's report and Data Docs (YYYYMMDD)")
    args = parser.parse_args(argv)
    settings = load_settings(**({"lake": args.lake} if args.lake else {}))
    out = args.out or Path(settings.lake_uri) / "_reports" / "screenshots"
    checks = screenshot_airflow(settings, out, args.port)
    if args.night:
        checks += screenshot_reports(settings, args.night, out)
    for check in checks:
        print(json.dumps({**asdict(check), "png": str(check.png), "rendered": check.rendered}))
    return 0 if all(check.rendered for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
