-- Per night and survey: the fraction of alerts failing each quality cut (quality_reason is `;`-joined).
-- One scan of the alerts: each alert carries its night's total (a window) before its reasons are exploded.
with alerts as (
  select night, survey, quality_reason, count(*) over (partition by night, survey) as n_alerts
  from {{ ref('int_alerts') }}
),
failed as (
  select night, survey, trim(cut) as cut, n_alerts
  from alerts lateral view explode(split(quality_reason, ';')) c as cut
  where quality_reason is not null and trim(cut) <> ''
)
select night, survey, cut, count(*) as n_failed, count(*) / max(n_alerts) as fraction
from failed
group by night, survey, cut
