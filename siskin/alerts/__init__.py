"""Alert payloads -> Arrow: envelope recognition, framing, DataFusion decoding, survey codecs."""

from siskin.alerts.decoder import (
    DecodedBatch,
    cutout_schema,
    decode_payloads,
    peek_payloads,
    quality_flags,
    reject_schema,
    rubin_alert_schema,
    silver_alert_schema,
)

__all__ = [
    "DecodedBatch",
    "cutout_schema",
    "decode_payloads",
    "peek_payloads",
    "quality_flags",
    "reject_schema",
    "rubin_alert_schema",
    "silver_alert_schema",
]
