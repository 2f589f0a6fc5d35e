-- Objects whose class changed: one row per change, with the classifier (rules) versions before and after.
-- Changes of the version alone (same class) are not transitions.
select
  concat_ws(':', survey, object_id, cast(alert_id as string), class_version) as transition_key,
  survey,
  object_id,
  object_key,
  alert_id,
  jd,
  night,
  previous_class,
  class,
  previous_class_version,
  class_version,
  source
from {{ ref('stg_class_history') }}
where previous_class is not null and class is not null and previous_class <> class
