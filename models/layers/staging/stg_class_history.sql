-- Every change of an object's class or of the rules' version giving it (gold.class_history, append-only).
select
  survey,
  objectId as object_id,
  concat(survey, ':', objectId) as object_key,
  candid as alert_id,
  jd,
  night,
  class,
  class_version,
  previous_class,
  previous_class_version,
  source
from {{ source('gold', 'class_history') }}
