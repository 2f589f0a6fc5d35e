-- One row per night: alerts, objects, per survey, per band, per class (`unclassified` where no class
-- column or value yet), rejects by reason, quality-cut fractions, silver latency.
-- With var `night` only that night is computed (`siskin marts build --night N` replaces that night); the
-- filter reaches the scans of silver, so only that night's partition is read.
-- The alerts are read once: one aggregation with grouping sets gives the night's totals and its counts
-- per survey, band and class (each set's rows are told apart by grouping()).
{% set night_filter %}{% if var('night') is not none %}where night = {{ var('night') | int }}{% endif %}{% endset %}
with alerts as (
  select
    night,
    survey,
    coalesce(band, 'unknown') as band,
    coalesce(class, 'unclassified') as class,
    object_key,
    quality_ok,
    latency_s
  from {{ ref('int_alerts') }} {{ night_filter }}
),
grouped as (
  select
    night,
    survey,
    band,
    class,
    grouping(survey) as all_surveys,
    grouping(band) as all_bands,
    grouping(class) as all_classes,
    count(*) as n,
    size(collect_set(object_key)) as n_objects,  -- not count(distinct): with percentile_approx beside it
    -- Spark builds one percentile sketch per (group, object) (14 s instead of 0.2 s on 20k alerts)
    count_if(quality_ok) as n_good,
    avg(case when quality_ok then 1.0 else 0.0 end) as quality_ok_fraction,
    percentile_approx(latency_s, 0.5) as latency_p50_s,
    percentile_approx(latency_s, 0.95) as latency_p95_s,
    max(latency_s) as latency_max_s
  from alerts
  group by grouping sets ((night), (night, survey), (night, band), (night, class))
),
base as (
  select
    night, n as n_alerts, n_objects, n_good, quality_ok_fraction, latency_p50_s, latency_p95_s, latency_max_s
  from grouped
  where all_surveys = 1 and all_bands = 1 and all_classes = 1
),
per_survey as (
  select night, map_from_entries(collect_list(struct(survey, n))) as alerts_per_survey
  from grouped where all_surveys = 0 group by night
),
per_band as (
  select night, map_from_entries(collect_list(struct(band, n))) as alerts_per_band
  from grouped where all_bands = 0 group by night
),
per_class as (
  select night, map_from_entries(collect_list(struct(class, n))) as alerts_per_class
  from grouped where all_classes = 0 group by night
),
cuts as (
  select night, map_from_entries(collect_list(struct(concat(survey, ':', cut), fraction))) as quality_cut_fractions
  from {{ ref('int_night_quality_cuts') }} {{ night_filter }} group by night
),
reject_counts as (
  select night, sum(n) as n_rejects, map_from_entries(collect_list(struct(reason_code, n))) as rejects_by_reason
  from (
    select night, reason_code, count(*) as n from {{ ref('stg_rejects') }} {{ night_filter }}
    group by night, reason_code
  ) group by night
),
nights as (
  select night from base union select night from reject_counts
)
select
  n.night,
  coalesce(b.n_alerts, 0) as n_alerts,
  coalesce(b.n_objects, 0) as n_objects,
  coalesce(b.n_good, 0) as n_good,
  b.quality_ok_fraction,
  coalesce(r.n_rejects, 0) as n_rejects,
  coalesce(s.alerts_per_survey, cast(map() as map<string, bigint>)) as alerts_per_survey,
  coalesce(p.alerts_per_band, cast(map() as map<string, bigint>)) as alerts_per_band,
  coalesce(c.alerts_per_class, cast(map() as map<string, bigint>)) as alerts_per_class,
  coalesce(r.rejects_by_reason, cast(map() as map<string, bigint>)) as rejects_by_reason,
  coalesce(q.quality_cut_fractions, cast(map() as map<string, double>)) as quality_cut_fractions,
  b.latency_p50_s,
  b.latency_p95_s,
  b.latency_max_s
from nights n
left join base b on b.night = n.night
left join per_survey s on s.night = n.night
left join per_band p on p.night = n.night
left join per_class c on c.night = n.night
left join cuts q on q.night = n.night
left join reject_counts r on r.night = n.night
