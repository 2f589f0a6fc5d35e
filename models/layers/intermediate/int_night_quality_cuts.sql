-- Per night and survey: the fraction of alerts failing each quality cut (quality_reason is `;`-joined).
with alerts as (
  select night, survey, quality_reason from {{ ref('int_alerts') }}
),
totals as (
  select night, survey, count(*) as n_alerts from alerts group by night, survey
),
failed as (
  select night, survey, trim(cut) as cut
  from alerts lateral view explode(split(quality_reason, ';')) c as cut
  where quality_reason is not null and trim(cut) <> ''
)
select f.night, f.survey, f.cut, count(*) as n_failed, count(*) / max(t.n_alerts) as fraction
from failed f join totals t on f.night = t.night and f.survey = t.survey
group by f.night, f.survey, f.cut
