-- Confluent Cloud for Apache Flink's anomaly detection, unchanged.
-- Run from the repository root: wasmad run sql/confluent_anomalies.sql
--
-- ML_DETECT_ANOMALIES(...) OVER (...) returns one struct per row, fields in
-- Confluent's order: timestamp, actual_value, forecast_value, lower_bound,
-- upper_bound, is_anomaly, rmse, aic, then wasmad's score, direction and
-- status. The OVER form runs on the same batch operator as the table form.

CREATE EXTERNAL TABLE metrics (series VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, v DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Robust (median/MAD) detection per series. (imputeOutliers TRUE keeps flagged values out
-- of the baseline; it also keeps a lasting level shift flagged, so it is off here.)
SELECT series, count(*) AS anomalies, min(ts) AS first, max(ts) AS last
FROM (
  SELECT series, ts,
    ML_DETECT_ANOMALIES_ROBUST(v, ts, JSON_OBJECT('window' VALUE 288, 'threshold' VALUE 8.0, 'imputeOutliers' VALUE FALSE))
      OVER (PARTITION BY series ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS r
  FROM metrics)
WHERE r.is_anomaly GROUP BY series ORDER BY series;

-- Fields by name and by Confluent's 1-based position (r[6] is is_anomaly)
SELECT ts, r.actual_value, round(r.forecast_value, 2) AS forecast, r[6] AS is_anomaly, r.status
FROM (
  SELECT ts, ML_DETECT_ANOMALIES_ROBUST(v, ts, '{"window":288,"threshold":8.0}')
    OVER (ORDER BY ts) AS r
  FROM metrics WHERE series = 'ec2_cpu_825cc2')
WHERE r[6] ORDER BY ts LIMIT 5;
