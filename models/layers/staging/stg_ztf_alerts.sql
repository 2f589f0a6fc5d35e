-- ZTF alerts from silver, one row per candid, in the marts' column names.
select
  'ztf' as survey,
  objectId as object_id,
  candid as alert_id,
  night,
  jd,
  case fid when 1 then 'g' when 2 then 'r' when 3 then 'i' end as band,
  cast(magpsf as double) as mag,
  cast(sigmapsf as double) as magerr,
  quality_ok,
  quality_reason,
  ingest_time,
  processed_at,
  {{ column_or_null(source('silver', 'alerts'), 'finkclass') }} as class,
  {{ column_or_null(source('silver', 'alerts'), 'finkclass_version') }} as class_version
from {{ source('silver', 'alerts') }}
