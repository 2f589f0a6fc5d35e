-- Objects per science class, latest state: the class of each object's latest classified alert (not
-- `Unknown`), its classifier version, and the object's current gold state.
select
  c.survey,
  c.object_id,
  c.object_key,
  c.class,
  c.class_version,
  c.classified_jd,
  c.classified_night,
  o.n_alerts,
  o.n_good,
  o.first_jd,
  o.last_jd,
  o.last_night,
  o.ra,
  o.dec,
  o.last_mag_g,
  o.last_mag_r,
  o.color_g_r
from {{ ref('int_object_latest_class') }} c
join {{ ref('stg_objects') }} o on o.survey = c.survey and o.object_id = c.object_id
where c.class <> 'Unknown'
