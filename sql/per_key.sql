-- Per-key models: one z-score model per series, keys spread over partitions.
-- Run from the repository root: wasmad run sql/per_key.sql

CREATE EXTERNAL TABLE nab_metrics (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Each series gets its own baseline: a value normal for one series can be anomalous for another
SELECT series,
       count(*) AS rows,
       sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) AS anomalies,
       sum(CASE WHEN direction = 'up' THEN 1 ELSE 0 END) AS up,
       sum(CASE WHEN direction = 'down' THEN 1 ELSE 0 END) AS down,
       round(avg(forecast_value), 2) AS mean_forecast
FROM ML_DETECT_ANOMALIES(nab_metrics, 'value', 'timestamp',
  '{"algorithm":"zscore","window":576,"threshold":5,"minTrainingSize":288,"partitionBy":"series"}')
GROUP BY series ORDER BY series;

-- The first anomaly of each series
SELECT series, min(timestamp) AS first_anomaly
FROM ML_DETECT_ANOMALIES(nab_metrics, 'value', 'timestamp',
  '{"algorithm":"zscore","window":576,"threshold":5,"minTrainingSize":288,"partitionBy":"series"}')
WHERE is_anomaly GROUP BY series ORDER BY series;
