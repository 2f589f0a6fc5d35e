-- Rubin diaSources from silver, AB magnitudes from psfFlux (nJy), in the marts' column names.
select
  'rubin' as survey,
  cast(diaObjectId as string) as object_id,
  diaSourceId as alert_id,
  night,
  midpointMjdTai + 2400000.5 as jd,
  band,
  case when psfFlux > 0 then 31.4 - 2.5 * log10(psfFlux) end as mag,
  case when psfFlux > 0 then 1.0857362047581294 * abs(psfFluxErr / psfFlux) end as magerr,
  quality_ok,
  quality_reason,
  ingest_time,
  processed_at,
  cast(null as string) as class,
  cast(null as string) as class_version
from {{ source('silver', 'rubin_alerts') }}
