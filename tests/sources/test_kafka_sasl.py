"""An authenticated (SASL/PLAIN) Kafka stream lands in bronze, and its password is written nowhere.

The broker is tansu behind `SaslPlainFront` (tansu 0.6 itself offers only SCRAM and keeps no SCRAM users
in memory, so nothing can log in to it directly); librdkafka does the real SASL exchange with the front.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable
from sasl_front import SaslPlainFront

from siskin.broker.tansu import EmbeddedBroker, free_port, tansu_binary
from siskin.config import Settings
from siskin.errors import BrokerError, SiskinError

pytestmark = pytest.mark.slow  # a Spark stream end to end


def _files_holding(root: Path, secret: str) -> list[str]:
    """Files under `root` whose bytes, or whose Parquet string columns (compressed on disk), hold `secret`."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if secret.encode() in path.read_bytes():
            found.append(str(path))
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            for column in table.columns:
                if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
                    if pc.any(pc.match_substring(column, secret)).as_py():
                        found.append(f"{path}:{column}")
    return found


@pytest.fixture
def sasl_broker(tmp_path: Path) -> Any:
    """tansu behind a SASL/PLAIN front that knows one user, `siskin`, with a random password."""
    try:
        tansu_binary()
    except BrokerError as exc:
        pytest.skip(str(exc))
    port = free_port()
    password = f"pw-{uuid.uuid4().hex}"
    with EmbeddedBroker(tmp_path / "tansu", advertised_port=port) as broker:
        front = SaslPlainFront(broker.bootstrap, {"siskin": password}, port).start()
        try:
            yield front, password
        finally:
            front.stop()


def test_an_authenticated_stream_lands_and_its_password_is_written_nowhere(
    sasl_broker: Any, spark_session: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: Any
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.sources.kafka import _Cluster, source_options
    from siskin.sources.kafka_offsets import KafkaSourceOptions
    from siskin.sources.kafka_publish import publish
    from siskin.sources.kafka_security import client_config

    caplog.set_level(logging.DEBUG)
    front, password = sasl_broker
    secret_file = tmp_path / "secrets" / "kafka-password"
    secret_file.parent.mkdir()
    secret_file.write_text(password)
    kafka = {
        "bootstrap": front.bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "siskin",
        "sasl_password_file": str(secret_file),
        "poll_timeout_s": 20,
    }
    settings = Settings(lake=tmp_path / "lake", kafka=kafka)
    conf = client_config(settings.kafka)  # the publisher's and admin's settings, password resolved
    topic = "authenticated-alerts"
    admin = AdminClient(conf)  # kept referenced: its futures die with it
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(20)
    del admin
    payloads = [b"alert-%d" % i for i in range(60)]
    assert publish(payloads, topic, front.bootstrap, client_conf=conf).messages == 60

    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    house.start_bronze_kafka(available_now=True, topics=[topic]).awaitTermination(300)
    bronze = DeltaTable(str(tmp_path / "lake" / "bronze" / "alerts")).to_pyarrow_table(columns=["payload"])
    assert sorted(bronze.column("payload").to_pylist()) == sorted(payloads)
    assert front.authenticated >= 4 and front.rejected == 0  # admin, publisher, the planner, the tasks

    wrong = tmp_path / "secrets" / "wrong-password"
    wrong.write_text("not-" + password)
    bad = settings.kafka.model_copy(update={"sasl_password_file": str(wrong), "poll_timeout_s": 3})
    with pytest.raises(SiskinError) as refused:
        _Cluster(KafkaSourceOptions.parse(source_options(bad))).partitions()
    assert front.rejected > 0 and password not in str(refused.value)

    source = json.loads(next((tmp_path / "lake").rglob("siskin_source.json")).read_text())
    assert source["kafka"]["kafkaSecret.sasl.password"] == f"file:{secret_file}"
    roots = {tmp_path / "lake", Path(settings.checkpoints_uri)}
    assert [f for root in roots for f in _files_holding(root, password)] == []
    out, err = capfd.readouterr()
    assert password not in out and password not in err and password not in caplog.text
