-- Every photometric point per object (the lake's gold.lightcurves view: detections, upper limits, forced).
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
