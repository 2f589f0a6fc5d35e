"""Client of the CDS xMatch service (SIMBAD, Gaia DR3 in VizieR): labels for alert positions, never a stall.

The request is the one the reference broker sends: an HTTP POST (multipart form) to the service's
`sync` endpoint with `request=xmatch`, `distMaxArcsec`, `selection=all`, `RESPONSEFORMAT=csv`,
`cat2` (`simbad`, `vizier:I/355/gaiadr3`), `cols2` (the columns wanted back), `colRA1`/`colDec1`, and
the positions uploaded as `cat1`, a CSV `ra_in,dec_in,objectId` (here `objectId` is the row number in
the batch). The answer is CSV: `angDist` (arcsec), the uploaded columns, then the catalog's; one line
per pair within the radius, so the nearest per `objectId` is kept.

A micro-batch must never wait on a remote service: each request has a timeout, failures are retried
a bounded number of times with exponential backoff, and the answer for rows that could not be asked
is an explicit `Fail` value (`Fail <status>` for an HTTP error, as the reference broker writes it).
After a failure a per-process circuit breaker answers `Fail` at once, without a request, until
`cooldown_seconds` have passed; then one batch tries again.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from siskin.config import CdsSettings
from siskin.errors import SiskinError

_LOG = logging.getLogger(__name__)

FAIL = "Fail"
SIMBAD = "simbad"


class CdsError(SiskinError):
    """The xMatch service did not answer usefully; `label` is the Fail value its rows get."""

    def __init__(self, message: str, label: str = FAIL, retry: bool = True) -> None:
        super().__init__(message)
        self.label = label
        self.retry = retry


@dataclass
class Breaker:
    """Open after a failure: no request until `cooldown_seconds` have passed (one per service URL)."""

    cooldown_seconds: float
    open_until: float = 0.0
    label: str = FAIL

    def allows(self) -> bool:
        """Whether a request may be sent now."""
        return time.monotonic() >= self.open_until

    def trip(self, label: str) -> None:
        """A request failed: answer `label` without asking for the cool-down."""
        self.open_until = time.monotonic() + self.cooldown_seconds
        self.label = label

    def reset(self) -> None:
        """A request succeeded."""
        self.open_until = 0.0


_BREAKERS: dict[str, Breaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(url: str, cooldown_seconds: float) -> Breaker:
    """The process's breaker for one service URL (shared by every module that calls it)."""
    with _BREAKERS_LOCK:
        breaker = _BREAKERS.get(url)
        if breaker is None:
            breaker = _BREAKERS[url] = Breaker(cooldown_seconds)
        breaker.cooldown_seconds = cooldown_seconds
        return breaker


def reset_breakers() -> None:
    """Close every breaker (tests; an operator who knows the service is back)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()


def positions_csv(ra: np.ndarray, dec: np.ndarray) -> bytes:
    """The uploaded table: `ra_in,dec_in,objectId` with the row number as `objectId`."""
    rows = np.arange(len(ra))
    lines = [f"{r!r},{d!r},{i}" for r, d, i in zip(ra.tolist(), dec.tolist(), rows.tolist(), strict=True)]
    return ("ra_in,dec_in,objectId\n" + "\n".join(lines) + "\n").encode()


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, data in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def parse_answer(body: bytes, columns: Sequence[str], n: int) -> dict[str, pa.Array]:
    """Per uploaded row, the requested columns of its nearest match (null: none); CdsError if malformed."""
    if not body.strip():
        return {c: pa.nulls(n, pa.string()) for c in columns}
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}),
        )
    except (pa.ArrowInvalid, ValueError) as exc:
        raise CdsError(f"xMatch answer is not CSV: {exc}", retry=False) from None
    missing = [c for c in ("angDist", "objectId", *columns) if c not in table.column_names]
    if missing:
        raise CdsError(f"xMatch answer lacks columns {missing} (has {table.column_names})", retry=False)
    try:
        rows = pc.cast(table.column("objectId"), pa.int64()).to_numpy()
        dist = pc.cast(table.column("angDist"), pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CdsError(f"xMatch answer has bad objectId/angDist values: {exc}", retry=False) from None
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise CdsError("xMatch answer names rows that were not sent", retry=False)
    order = np.lexsort((dist, rows))
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    nearest = order[first]
    out: dict[str, pa.Array] = {}
    for column in columns:
        values = np.full(n, None, dtype=object)
        values[rows[nearest]] = table.column(column).take(pa.array(nearest)).to_numpy(zero_copy_only=False)
        out[column] = pa.array(values, pa.string())
    return out


@dataclass(frozen=True)
class Answer:
    """Per row: the requested columns of the nearest match (null: none), or `failed` with its Fail label."""

    values: dict[str, pa.Array]
    failed: np.ndarray  # bool per row
    labels: np.ndarray  # object per row: the Fail label of failed rows, else None


class CdsClient:
    """Batched, retried, time-limited xMatch requests behind a per-process circuit breaker."""

    def __init__(self, settings: CdsSettings) -> None:
        self.settings = settings
        self.breaker = breaker_for(settings.url, settings.cooldown_seconds)

    def _post(self, fields: dict[str, str], upload: bytes) -> bytes:
        body, content_type = multipart(fields, {"cat1": upload})
        request = urllib.request.Request(
            self.settings.url, data=body, method="POST", headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise CdsError(
                f"xMatch answered HTTP {exc.code}", f"{FAIL} {exc.code}", exc.code >= 500
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CdsError(f"xMatch unreachable: {exc}") from None

    def _ask(self, fields: dict[str, str], upload: bytes) -> bytes:
        """One request, retried with backoff after a timeout, connection error or 5xx."""
        attempt = 0
        while True:
            try:
                return self._post(fields, upload)
            except CdsError as exc:
                if not exc.retry or attempt >= self.settings.retries:
                    raise
                time.sleep(self.settings.backoff_seconds * 2**attempt)
                attempt += 1

    def xmatch(
        self, ra: np.ndarray, dec: np.ndarray, catalog: str, columns: Sequence[str], radius_arcsec: float
    ) -> Answer:
        """The nearest `catalog` source within `radius_arcsec` of each position, in batches."""
        n = len(ra)
        values = {c: np.full(n, None, dtype=object) for c in columns}
        failed = np.zeros(n, dtype=bool)
        labels = np.full(n, None, dtype=object)
        fields = {
            "request": "xmatch",
            "distMaxArcsec": repr(float(radius_arcsec)),
            "selection": "all",
            "RESPONSEFORMAT": "csv",
            "cat2": catalog,
            "cols2": ",".join(columns),
            "colRA1": "ra_in",
            "colDec1": "dec_in",
        }
        for start in range(0, n, self.settings.batch_size):
            part = slice(start, min(n, start + self.settings.batch_size))
            count = part.stop - part.start
            if not self.breaker.allows():
                failed[part], labels[part] = True, self.breaker.label
                continue
            try:
                body = self._ask(fields, positions_csv(ra[part], dec[part]))
                answer = parse_answer(body, columns, count)
            except CdsError as exc:
                _LOG.warning("CDS xMatch %s failed (%s): Fail for %d rows", catalog, exc, count)
                self.breaker.trip(exc.label)
                failed[part], labels[part] = True, exc.label
                continue
            self.breaker.reset()
            for c in columns:
                values[c][part] = answer[c].to_numpy(zero_copy_only=False)
        return Answer({c: pa.array(v, pa.string()) for c, v in values.items()}, failed, labels)
