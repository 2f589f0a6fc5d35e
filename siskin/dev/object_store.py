"""An S3-compatible object store on loopback: moto's server mode (`pip install moto[s3] flask flask-cors`).

The lake's code reaches S3 only through the standard `AWS_*` variables (delta-rs, Arrow's S3
filesystem), so pointing them at this server exercises the same code as MinIO on docker-compose.
Conditional writes (`If-None-Match`) are honoured, which delta-rs 1.x relies on for safe concurrent commits.

    python -m siskin.dev.object_store --bucket lake      # prints the AWS_* variables; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from siskin.broker.tansu import free_port
from siskin.errors import SiskinError

HOST = "127.0.0.1"


class LocalS3:
    """A moto S3 server process with the named buckets created; `env` holds the client variables."""

    def __init__(
        self, work_dir: Path, *, buckets: tuple[str, ...] = ("lake",), startup_timeout_s: float = 30.0
    ) -> None:
        self.work_dir = Path(work_dir)
        self.buckets = buckets
        self.startup_timeout_s = startup_timeout_s
        self.port = free_port(HOST)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard variables delta-rs, Arrow and Hadoop's S3A connector read."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "siskin",
            "AWS_SECRET_ACCESS_KEY": "siskin-lake-secret",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1.0):
                return True
        except OSError:
            return False

    def start(self) -> LocalS3:
        """Start the server, wait until it answers, create the buckets."""
        try:
            import moto  # noqa: F401
        except ImportError as exc:
            raise SiskinError(
                "the local object store needs moto: pip install 'moto[s3]' flask flask-cors"
            ) from exc
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / "moto.log", "ab") as log_file:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._up():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SiskinError(f"the moto S3 server did not come up; see {self.work_dir / 'moto.log'}")
            time.sleep(0.2)
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            endpoint_override=self.endpoint,
            scheme="http",
            access_key=self.env["AWS_ACCESS_KEY_ID"],
            secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region=self.env["AWS_REGION"],
            allow_bucket_creation=True,
        )
        for bucket in self.buckets:
            fs.create_dir(bucket)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the store in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m siskin.dev.object_store", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--work-dir", type=Path, default=Path("object-store"))
    parser.add_argument("--bucket", action="append", default=None)
    args = parser.parse_args(argv)
    with LocalS3(args.work_dir, buckets=tuple(args.bucket or ["lake"])) as store:
        for key, value in store.env.items():
            print(f"export {key}={value}")
        print("Ctrl-C stops", flush=True)
        try:
            while store._process is not None and store._process.poll() is None:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
