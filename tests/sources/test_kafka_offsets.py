"""Offset planning of the Kafka source, without a broker."""

from __future__ import annotations

import pytest

from siskin.errors import BrokerError, ConfigurationError
from siskin.sources.kafka_offsets import (
    KafkaSourceOptions,
    OffsetRange,
    allocate,
    begin_offsets,
    plan_end,
    resolve_offsets,
    split_ranges,
    to_flat,
    to_json,
)

A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


def test_offsets_round_trip_through_json_with_string_partition_keys() -> None:
    flat = {A1: 7, A0: 5, B0: 0}
    assert to_json(flat) == {"a": {"0": 5, "1": 7}, "b": {"0": 0}}
    assert to_flat(to_json(flat)) == flat


def test_options_are_case_insensitive_and_pass_kafka_keys_through() -> None:
    opts = KafkaSourceOptions.parse(
        {"bootstrap": "h:1", "subscribe": "x, y", "maxAlertsPerTrigger": "10", "kafka.Fetch.Wait.Max.Ms": "5"}
    )
    assert opts.topics == ("x", "y")
    assert opts.max_alerts_per_trigger == 10
    assert opts.client_conf == {"fetch.wait.max.ms": "5"}


@pytest.mark.parametrize(
    "options",
    [
        {"subscribe": "x"},
        {"bootstrap": "h:1"},
        {"bootstrap": "h:1", "subscribe": "x", "subscribePattern": "x.*"},
        {"bootstrap": "h:1", "subscribePattern": "("},
        {"bootstrap": "h:1", "subscribe": "x", "startingOffsets": "{not json"},
        {"bootstrap": "h:1", "subscribe": "x", "maxAlertsPerTrigger": "0"},
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        KafkaSourceOptions.parse(options)


def test_pattern_matches_whole_names_and_skips_internal_topics() -> None:
    opts = KafkaSourceOptions.parse({"bootstrap": "h:1", "subscribePattern": "ztf.*|__.*"})
    assert opts.subscribed("ztf-alerts")
    assert not opts.subscribed("old-ztf")
    assert not opts.subscribed("__consumer_offsets")


def test_starting_offsets_resolve_against_watermarks() -> None:
    low, high = {A0: 2, A1: 0}, {A0: 10, A1: 4}
    assert resolve_offsets("earliest", low, high) == low
    assert resolve_offsets("latest", low, high) == high
    assert resolve_offsets('{"a": {"0": 5}}', low, high) == {A0: 5, A1: 0}
    assert resolve_offsets('{"a": {"0": -1, "1": -2}, "b": {"0": 3}}', low, high) == {A0: 10, A1: 0, B0: 3}


def test_allocate_is_max_min_fair_and_uses_the_whole_budget() -> None:
    assert allocate({A0: 2, A1: 100, B0: 100}, 10) == {A0: 2, A1: 4, B0: 4}
    assert sum(allocate({A0: 5, A1: 5, B0: 5}, 10).values()) == 10
    assert allocate({A0: 3}, 10) == {A0: 3}


def test_plan_end_reads_all_without_a_limit_and_new_partitions_from_their_log_start() -> None:
    end = plan_end(start={A0: 5}, low={A0: 0, A1: 3}, high={A0: 9, A1: 6}, max_rows=None)
    assert end == {A0: 9, A1: 6}


def test_plan_end_respects_the_row_limit() -> None:
    end = plan_end(start={A0: 0, A1: 0}, low={A0: 0, A1: 0}, high={A0: 100, A1: 1}, max_rows=10)
    assert end == {A0: 9, A1: 1}


def test_plan_end_never_passes_the_available_now_target() -> None:
    end = plan_end(start={A0: 0}, low={A0: 0, B0: 0}, high={A0: 50, B0: 5}, max_rows=None, target={A0: 20})
    assert end == {A0: 20}


def test_plan_end_skips_offsets_removed_by_retention() -> None:
    assert plan_end(start={A0: 2}, low={A0: 10}, high={A0: 20}, max_rows=4) == {A0: 14}


def test_plan_end_fails_when_the_log_went_backwards() -> None:
    with pytest.raises(BrokerError, match="new checkpoint"):
        plan_end(start={A0: 50}, low={A0: 0}, high={A0: 3}, max_rows=None)


def test_split_ranges_cuts_big_ranges() -> None:
    assert split_ranges({A0: 0, A1: 5}, {A0: 25, A1: 5}, 10) == [
        OffsetRange("a", 0, 0, 10),
        OffsetRange("a", 0, 10, 20),
        OffsetRange("a", 0, 20, 25),
    ]


def test_settings_translate_into_valid_source_options() -> None:
    from siskin.config import KafkaSettings
    from siskin.sources.kafka import source_options

    settings = KafkaSettings(topic_pattern="ztf-.*", client={"security.protocol": "SSL"})
    opts = KafkaSourceOptions.parse(source_options(settings))
    assert opts.pattern == "ztf-.*" and opts.topics == ()
    assert opts.max_alerts_per_trigger == settings.max_alerts_per_trigger
    assert opts.client_conf == {"group.id": "siskin", "security.protocol": "SSL"}


def test_offsets_below_the_log_start_are_gaps_and_reading_resumes_at_the_log_start() -> None:
    begin, gaps = begin_offsets(first={A0: 5, A1: 40}, last={A0: 50, A1: 60}, low={A0: 20, A1: 0})
    assert begin == {A0: 20, A1: 40}
    assert gaps == [OffsetRange("a", 0, 5, 20)]


def test_a_range_wholly_deleted_is_one_gap_and_no_read() -> None:
    begin, gaps = begin_offsets(first={A0: 5}, last={A0: 30}, low={A0: 90})
    assert begin == {} and gaps == [OffsetRange("a", 0, 5, 30)]


def test_a_partition_that_appeared_later_should_start_at_zero() -> None:
    begin, gaps = begin_offsets(first={A0: 5}, last={A0: 5, B0: 12}, low={B0: 7})
    assert begin == {B0: 7} and gaps == [OffsetRange("b", 0, 0, 7)]
    assert begin_offsets(first={}, last={B0: 12}, low={B0: 0}) == ({B0: 0}, [])


def test_fail_on_data_loss_defaults_to_true_and_parses_strictly() -> None:
    base = {"bootstrap": "h:1", "subscribe": "x"}
    assert KafkaSourceOptions.parse(base).fail_on_data_loss is True
    assert KafkaSourceOptions.parse({**base, "FailOnDataLoss": "False"}).fail_on_data_loss is False
    with pytest.raises(ConfigurationError, match="true or false"):
        KafkaSourceOptions.parse({**base, "failOnDataLoss": "maybe"})
