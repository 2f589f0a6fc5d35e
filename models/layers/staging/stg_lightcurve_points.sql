-- Every photometric point per object (the lake's gold.lightcurves view: detections, upper limits, forced).
-- A table, not a view: the view explodes every alert's history and deduplicates it with a window; as a
-- table that happens once per build, not once more for each of its tests and for `object_lightcurves`.
{{ config(materialized='table', file_format='parquet') }}
select
  survey,
  objectId as object_id,
  concat(survey, ':', objectId) as object_key,
  candid as point_id,
  jd,
  band,
  cast(magpsf as double) as mag,
  cast(sigmapsf as double) as magerr,
  cast(diffmaglim as double) as limiting_mag,
  kind
from {{ source('gold', 'lightcurves') }}
