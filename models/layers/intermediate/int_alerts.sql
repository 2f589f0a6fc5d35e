-- Alerts of both surveys in one shape, with their silver latency (bronze ingest -> silver processed).
select
  *,
  concat(survey, ':', object_id) as object_key,
  (unix_micros(processed_at) - unix_micros(ingest_time)) / 1e6 as latency_s
from {{ ref('stg_ztf_alerts') }}
union all
select
  *,
  concat(survey, ':', object_id) as object_key,
  (unix_micros(processed_at) - unix_micros(ingest_time)) / 1e6 as latency_s
from {{ ref('stg_rubin_alerts') }}
