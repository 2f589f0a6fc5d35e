"""`gold.lightcurves`: every photometric point per object, both surveys, as one Spark SQL view.

ZTF: the alert's candidate and its `prv_candidates` (detections and upper limits). Rubin: the diaSource,
`prvDiaSources` (detections) and `prvDiaForcedSources` (forced photometry), fluxes in nJy with AB
magnitudes derived (31.4 - 2.5 log10 flux) where the flux is positive. Points repeated by later alerts'
histories are kept once: per (survey, objectId, jd, band, kind), the alert's own measurement first.
"""

LIGHTCURVES_SQL = """
WITH ztf AS (
  SELECT 'ztf' AS survey, objectId, candid, jd, fid,
         CASE fid WHEN 1 THEN 'g' WHEN 2 THEN 'r' WHEN 3 THEN 'i' END AS band,
         magpsf, sigmapsf, diffmaglim, isdiffpos, CAST(NULL AS DOUBLE) AS psfFlux,
         CAST(NULL AS DOUBLE) AS psfFluxErr, ra, dec, night, 'detection' AS kind, 0 AS priority
  FROM silver__alerts
  UNION ALL
  SELECT 'ztf', a.objectId, p.candid, p.jd, p.fid,
         CASE p.fid WHEN 1 THEN 'g' WHEN 2 THEN 'r' WHEN 3 THEN 'i' END,
         p.magpsf, p.sigmapsf, p.diffmaglim, p.isdiffpos, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
         p.ra, p.dec, a.night, CASE WHEN p.magpsf IS NULL THEN 'upper_limit' ELSE 'detection' END, 1
  FROM silver__alerts a LATERAL VIEW explode(a.prv_candidates) t AS p
),
rubin_points AS (
  SELECT CAST(diaObjectId AS STRING) AS objectId, diaSourceId AS candid, midpointMjdTai, band,
         psfFlux, psfFluxErr, ra, dec, night, 'detection' AS kind, 0 AS priority
  FROM silver__rubin_alerts
  UNION ALL
  SELECT CAST(a.diaObjectId AS STRING), p.diaSourceId, p.midpointMjdTai, p.band, p.psfFlux, p.psfFluxErr,
         p.ra, p.dec, a.night, 'detection', 1
  FROM silver__rubin_alerts a LATERAL VIEW explode(a.prvDiaSources) t AS p
  UNION ALL
  SELECT CAST(a.diaObjectId AS STRING), f.diaForcedSourceId, f.midpointMjdTai, f.band, f.psfFlux,
         f.psfFluxErr, f.ra, f.dec, a.night, 'forced', 1
  FROM silver__rubin_alerts a LATERAL VIEW explode(a.prvDiaForcedSources) t AS f
),
rubin AS (
  SELECT 'rubin' AS survey, objectId, candid, midpointMjdTai + 2400000.5 AS jd, CAST(NULL AS INT) AS fid,
         band,
         CASE WHEN psfFlux > 0 THEN 31.4 - 2.5 * log10(psfFlux) END AS magpsf,
         CASE WHEN psfFlux > 0 THEN 1.0857362047581294 * abs(psfFluxErr / psfFlux) END AS sigmapsf,
         CAST(NULL AS DOUBLE) AS diffmaglim, CAST(NULL AS STRING) AS isdiffpos,
         CAST(psfFlux AS DOUBLE) AS psfFlux, CAST(psfFluxErr AS DOUBLE) AS psfFluxErr, ra, dec, night, kind,
         priority
  FROM rubin_points
),
points AS (SELECT * FROM ztf UNION ALL SELECT * FROM rubin)
SELECT survey, objectId, candid, jd, fid, band, magpsf, sigmapsf, diffmaglim, isdiffpos, psfFlux, psfFluxErr,
       ra, dec, kind
FROM (
  SELECT *, row_number() OVER (
    PARTITION BY survey, objectId, jd, band, kind ORDER BY priority, night DESC, candid
  ) AS rn
  FROM points
) WHERE rn = 1
"""
