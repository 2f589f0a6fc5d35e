-- Per-object state from gold, one row per (survey, object).
select
  survey,
  objectId as object_id,
  concat(survey, ':', objectId) as object_key,
  first_jd, last_jd, first_night, last_night, n_alerts, n_good, ra, dec,
  last_mag_g, last_mag_r, last_mag_i, color_g_r, last_class, updated_at
from {{ source('gold', 'objects') }}
