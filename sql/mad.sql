-- mad: Rolling median and median absolute deviation: robust to outliers in the window.
-- Run from the repository root: wasmad run sql/mad.sql

CREATE EXTERNAL TABLE nab_metrics (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Rows warming up, scored, and flagged
SELECT count(*) AS rows,
       sum(CASE WHEN status = 'warmup' THEN 1 ELSE 0 END) AS warmup,
       sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS scored,
       sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) AS anomalies
FROM ML_DETECT_ANOMALIES((SELECT * FROM nab_metrics WHERE series = 'ec2_cpu_825cc2'), 'value', 'timestamp',
  '{"algorithm":"mad","window":288,"threshold":6,"minTrainingSize":288}');

-- The ten strongest anomalies of the EC2 CPU series
SELECT timestamp, value, round(forecast_value, 2) AS forecast, round(lower_bound, 2) AS lower_bound,
       round(upper_bound, 2) AS upper_bound, round(score, 2) AS score, direction
FROM ML_DETECT_ANOMALIES((SELECT * FROM nab_metrics WHERE series = 'ec2_cpu_825cc2'), 'value', 'timestamp',
  '{"algorithm":"mad","window":288,"threshold":6,"minTrainingSize":288}')
WHERE is_anomaly ORDER BY abs(score) DESC, timestamp LIMIT 10;
