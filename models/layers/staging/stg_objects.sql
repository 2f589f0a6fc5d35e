-- Per-object state from gold, one row per (survey, object).
-- A table, not a view: gold.objects is bucketed into hundreds of small files, and its tests, `candidates`
-- and the relationships tests would each list and open all of them again.
{{ config(materialized='table', file_format='parquet') }}
select
  survey,
  objectId as object_id,
  concat(survey, ':', objectId) as object_key,
  first_jd, last_jd, first_night, last_night, n_alerts, n_good, ra, dec,
  last_mag_g, last_mag_r, last_mag_i, color_g_r, last_class, updated_at
from {{ source('gold', 'objects') }}
