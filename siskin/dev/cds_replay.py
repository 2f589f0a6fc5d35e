"""A local stand-in for the CDS xMatch `sync` endpoint, answering from real SIMBAD and Gaia labels.

Serves on 127.0.0.1 (stdlib `http.server`). It reads the multipart request the reference broker
sends (`cat1` CSV upload, `cat2`, `cols2`, `distMaxArcsec`, `colRA1`/`colDec1`) and answers in the
service's CSV format: `angDist` (arcsec), the uploaded row's columns, then the requested catalog
columns, one line per (uploaded row, source) pair within the radius. The sources are the labelled
alert positions of `taxonomy/simbad_cdsxmatch_labels_from_fink_processed_ztf_alerts.csv` (500 real
SIMBAD labels from the peer broker's processed alerts, with Gaia DR3 names and parallaxes where it has
them); positions labelled "Unknown" (no SIMBAD object) or "Fail" (the peer could not ask) are not
sources. Faults for tests: `status` (answer that HTTP code), `delay_seconds` (answer late),
`malformed` (answer a body that is not the service's CSV); `requests` counts what was received.

    python -m siskin.dev.cds_replay --port 8765    # then SISKIN_SCIENCE__CDS__URL=http://127.0.0.1:8765/xmatch/api/v1/sync
"""

from __future__ import annotations

import argparse
import csv
import io
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from siskin.science.xmatch.index import separation_arcsec

LABELS = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/taxonomy/simbad_cdsxmatch_labels_from_fink_processed_ztf_alerts.csv"
)
SYNC_PATH = "/xmatch/api/v1/sync"
NOT_SOURCES = ("", "Unknown", "Fail", "nan")


def read_sources(path: Path) -> dict[str, pa.Table]:
    """Per catalog (`simbad`, `gaia`): the labelled positions that are sources, with their columns."""
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in ("cdsxmatch", "DR3Name")}),
    )

    def real(column: str) -> pa.Array:
        text = pc.fill_null(pc.utf8_trim_whitespace(table.column(column)), "")
        return pc.invert(pc.is_in(text, pa.array(NOT_SOURCES)))

    simbad = table.filter(real("cdsxmatch"))
    gaia = table.filter(real("DR3Name"))
    return {
        "simbad": pa.table({"ra": simbad["ra"], "dec": simbad["dec"], "main_type": simbad["cdsxmatch"]}),
        "gaia": pa.table(
            {
                "ra": gaia["ra"],
                "dec": gaia["dec"],
                "DR3Name": gaia["DR3Name"],
                "Plx": pc.cast(gaia["Plx"], pa.string()),
                "e_Plx": pa.nulls(gaia.num_rows, pa.string()),
            }
        ),
    }


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields and files of a multipart/form-data body, by name."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, bytes] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name is not None and isinstance(payload, bytes):
            form[str(name)] = payload.rstrip(b"\r\n")
    return form


def answer(sources: dict[str, pa.Table], form: dict[str, bytes]) -> bytes:
    """The service's CSV answer to one request (every pair within `distMaxArcsec`)."""
    cat2 = form["cat2"].decode()
    catalog = sources["simbad" if cat2 == "simbad" else "gaia" if "gaiadr3" in cat2 else ""]
    wanted = [c.strip() for c in form.get("cols2", b"").decode().split(",") if c.strip()]
    radius = float(form["distMaxArcsec"])
    ra_col, dec_col = form.get("colRA1", b"ra").decode(), form.get("colDec1", b"dec").decode()
    upload = list(csv.DictReader(io.StringIO(form["cat1"].decode())))
    header = list(upload[0]) if upload else [ra_col, dec_col]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["angDist", *header, *wanted])
    if catalog.num_rows and upload:
        ra = np.array([float(r[ra_col]) for r in upload])
        dec = np.array([float(r[dec_col]) for r in upload])
        src_ra, src_dec = catalog["ra"].to_numpy(), catalog["dec"].to_numpy()
        columns = {c: catalog[c].to_pylist() for c in wanted if c in catalog.column_names}
        for i in range(len(ra)):  # a test double over a few hundred sources: clarity over speed
            seps = separation_arcsec(
                np.full(len(src_ra), ra[i]), np.full(len(src_dec), dec[i]), src_ra, src_dec
            )
            for j in np.flatnonzero(seps <= radius):
                row = [f"{seps[j]:.6f}", *(upload[i][h] for h in header)]
                writer.writerow(row + [columns.get(c, [""] * len(src_ra))[j] or "" for c in wanted])
    return out.getvalue().encode()


class ReplayServer(ThreadingHTTPServer):
    """The replaying endpoint, with switchable faults and a request counter."""

    daemon_threads = True

    def __init__(self, port: int = 0, labels: Path = LABELS) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.sources = read_sources(labels)
        self.status = 200
        self.delay_seconds = 0.0
        self.malformed = False
        self.requests = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The sync endpoint's URL."""
        return f"http://127.0.0.1:{self.server_address[1]}{SYNC_PATH}"

    def start(self) -> ReplayServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="cds-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ReplayServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        server = self.server
        server.requests += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if server.delay_seconds:
            time.sleep(server.delay_seconds)
        if server.status != 200:
            self._send(server.status, b"<html><body>Service Unavailable</body></html>", "text/html")
            return
        if server.malformed:
            self._send(200, b'<?xml version="1.0"?><VOTABLE><ERROR>truncated', "text/csv")
            return
        try:
            data = answer(server.sources, parse_form(self.headers.get("Content-Type", ""), body))
        except (KeyError, ValueError) as exc:
            self._send(400, f"bad request: {exc}".encode(), "text/plain")
            return
        self._send(200, data, "text/csv")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        del format, args


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description="replay CDS xMatch answers from real SIMBAD/Gaia labels")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--labels", type=Path, default=LABELS)
    args = parser.parse_args()
    server = ReplayServer(args.port, args.labels)
    print(
        f"CDS xMatch replay on {server.url} ({server.sources['simbad'].num_rows} SIMBAD sources)", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":
    main()
