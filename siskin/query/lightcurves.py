"""`gold.lightcurves`: every photometric point per object, both surveys, as one Spark SQL view.

ZTF: the alert's candidate and its `prv_candidates` (detections and upper limits). Rubin: the diaSource,
`prvDiaSources` (detections) and `prvDiaForcedSources` (forced photometry), fluxes in nJy with AB
magnitudes derived (31.4 - 2.5 log10 flux) where the flux is positive. Points repeated by later alerts'
histories are kept once: per (survey, objectId, jd to the millisecond, band, kind), the alert's own
measurement first. The window partitions on plain columns only (the jd as whole milliseconds, not the
double itself, which Spark normalises), so a filter on `objectId` is pushed below it into the scans: a
point query reads one object's row groups, not all of silver. Each survey's table is scanned once: the
alert's own point and its histories are exploded from one array.

The dedup's shuffle goes to one partition (`REPARTITION(1)`): the view's rows then come out of a single
partition, so a query's `ORDER BY` sorts them in place instead of planning a range exchange (a sampling
job, a second shuffle). That is most of a point query's run time (`... WHERE objectId = 'x' ORDER BY
jd`); the scans before the shuffle stay parallel, only the window runs in one task (the full view on
100k synthetic alerts: no slower, measured).
"""

LIGHTCURVES_SQL = """
WITH ztf AS (
  SELECT 'ztf' AS survey, a.objectId, p.candid, p.jd, p.fid,
         CASE p.fid WHEN 1 THEN 'g' WHEN 2 THEN 'r' WHEN 3 THEN 'i' END AS band,
         p.magpsf, p.sigmapsf, p.diffmaglim, p.isdiffpos, CAST(NULL AS DOUBLE) AS psfFlux,
         CAST(NULL AS DOUBLE) AS psfFluxErr, p.ra, p.dec, a.night, p.kind, p.priority
  FROM silver__alerts a LATERAL VIEW explode(concat(
    array(named_struct(
      'candid', a.candid, 'jd', a.jd, 'fid', a.fid, 'magpsf', CAST(a.magpsf AS DOUBLE),
      'sigmapsf', CAST(a.sigmapsf AS DOUBLE), 'diffmaglim', CAST(a.diffmaglim AS DOUBLE),
      'isdiffpos', a.isdiffpos, 'ra', a.ra, 'dec', a.dec, 'kind', 'detection', 'priority', 0)),
    coalesce(transform(a.prv_candidates, c -> named_struct(
      'candid', c.candid, 'jd', c.jd, 'fid', c.fid, 'magpsf', CAST(c.magpsf AS DOUBLE),
      'sigmapsf', CAST(c.sigmapsf AS DOUBLE), 'diffmaglim', CAST(c.diffmaglim AS DOUBLE),
      'isdiffpos', c.isdiffpos, 'ra', c.ra, 'dec', c.dec,
      'kind', CASE WHEN c.magpsf IS NULL THEN 'upper_limit' ELSE 'detection' END, 'priority', 1)),
      array())
  )) t AS p
),
rubin_points AS (
  SELECT CAST(a.diaObjectId AS STRING) AS objectId, p.candid, p.midpointMjdTai, p.band, p.psfFlux,
         p.psfFluxErr, p.ra, p.dec, a.night, p.kind, p.priority
  FROM silver__rubin_alerts a LATERAL VIEW explode(concat(
    array(named_struct(
      'candid', a.diaSourceId, 'midpointMjdTai', a.midpointMjdTai, 'band', a.band,
      'psfFlux', CAST(a.psfFlux AS DOUBLE), 'psfFluxErr', CAST(a.psfFluxErr AS DOUBLE), 'ra', a.ra,
      'dec', a.dec, 'kind', 'detection', 'priority', 0)),
    coalesce(transform(a.prvDiaSources, s -> named_struct(
      'candid', s.diaSourceId, 'midpointMjdTai', s.midpointMjdTai, 'band', s.band,
      'psfFlux', CAST(s.psfFlux AS DOUBLE), 'psfFluxErr', CAST(s.psfFluxErr AS DOUBLE), 'ra', s.ra,
      'dec', s.dec, 'kind', 'detection', 'priority', 1)), array()),
    coalesce(transform(a.prvDiaForcedSources, f -> named_struct(
      'candid', f.diaForcedSourceId, 'midpointMjdTai', f.midpointMjdTai, 'band', f.band,
      'psfFlux', CAST(f.psfFlux AS DOUBLE), 'psfFluxErr', CAST(f.psfFluxErr AS DOUBLE), 'ra', f.ra,
      'dec', f.dec, 'kind', 'forced', 'priority', 1)), array())
  )) t AS p
),
rubin AS (
  SELECT 'rubin' AS survey, objectId, candid, midpointMjdTai + 2400000.5 AS jd, CAST(NULL AS INT) AS fid,
         band,
         CASE WHEN psfFlux > 0 THEN 31.4 - 2.5 * log10(psfFlux) END AS magpsf,
         CASE WHEN psfFlux > 0 THEN 1.0857362047581294 * abs(psfFluxErr / psfFlux) END AS sigmapsf,
         CAST(NULL AS DOUBLE) AS diffmaglim, CAST(NULL AS STRING) AS isdiffpos,
         psfFlux, psfFluxErr, ra, dec, night, kind, priority
  FROM rubin_points
),
points AS (SELECT * FROM ztf UNION ALL SELECT * FROM rubin)
SELECT survey, objectId, candid, jd, fid, band, magpsf, sigmapsf, diffmaglim, isdiffpos, psfFlux, psfFluxErr,
       ra, dec, kind
FROM (
  SELECT *, row_number() OVER (
    PARTITION BY survey, objectId, jd_ms, band, kind ORDER BY priority, night DESC, candid
  ) AS rn
  FROM (SELECT /*+ REPARTITION(1) */ *, CAST(round(jd * 86400000.0) AS BIGINT) AS jd_ms FROM points)
) WHERE rn = 1
"""
