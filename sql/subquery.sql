-- The subquery form: choose, transform or join the rows the detector learns from.
-- Run from the repository root: wasmad run sql/subquery.sql

CREATE EXTERNAL TABLE nab_metrics (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Daily NYC taxi demand (the subquery aggregates before the detector sees the rows):
-- holidays, the marathon weekend and the January 2015 blizzard stand out
SELECT day, round(value) AS trips, round(forecast_value) AS forecast, round(score, 2) AS score, direction
FROM ML_DETECT_ANOMALIES(
  (SELECT date_trunc('day', timestamp) AS day, sum(value) AS value
   FROM nab_metrics WHERE series = 'nyc_taxi' GROUP BY date_trunc('day', timestamp)),
  'value', 'day', '{"algorithm":"mad","window":28,"threshold":2.5,"minTrainingSize":14}')
WHERE is_anomaly ORDER BY day;

-- Learning only from business hours of the machine temperature series
SELECT count(*) AS rows, sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) AS anomalies
FROM ML_DETECT_ANOMALIES(
  (SELECT * FROM nab_metrics WHERE series = 'machine_temperature' AND extract(hour FROM timestamp) BETWEEN 8 AND 18),
  'value', 'timestamp', '{"algorithm":"zscore","window":500,"threshold":4,"minTrainingSize":100}');
