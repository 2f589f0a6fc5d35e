-- One row per object: its light curve as an array of points sorted by time, with counts per kind.
select
  survey,
  object_id,
  object_key,
  count(*) as n_points,
  count_if(kind = 'detection') as n_detections,
  count_if(kind = 'upper_limit') as n_upper_limits,
  count_if(kind = 'forced') as n_forced,
  array_sort(collect_set(band)) as bands,
  min(jd) as first_jd,
  max(jd) as last_jd,
  array_sort(collect_list(struct(jd, band, mag, magerr, limiting_mag, kind, point_id))) as points
from {{ ref('stg_lightcurve_points') }}
group by survey, object_id, object_key
