-- Per object: the class of its latest classified alert, and that alert's classifier version.
select survey, object_id, object_key, class, class_version, jd as classified_jd, night as classified_night
from (
  select *, row_number() over (partition by survey, object_id order by jd desc, alert_id desc) as rn
  from {{ ref('int_alerts') }}
  where class is not null
) where rn = 1
