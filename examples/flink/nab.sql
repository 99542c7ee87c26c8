-- Per-key z-score models over the four NAB series, on Flink: the query of
-- sql/per_key.sql in the host's ML_DETECT_ANOMALIES shape. Run from the
-- repository root (README.md in this directory):
--   python examples/flink/wasmad_flink.py --file examples/flink/nab.sql
--
-- Flink's CSV format has no header option: the header line parses as a row
-- with a NULL time, which the subquery drops.
CREATE TABLE nab_metrics (series STRING, ts TIMESTAMP(3), reading DOUBLE) WITH (
  'connector' = 'filesystem',
  'path' = 'examples/data/nab_metrics.csv',
  'format' = 'csv',
  'csv.ignore-parse-errors' = 'true'
);

SELECT series, ts, reading, forecast_value, lower_bound, upper_bound, score, is_anomaly, direction, status
FROM ML_DETECT_ANOMALIES((SELECT * FROM nab_metrics WHERE ts IS NOT NULL), 'reading', 'ts',
  '{"algorithm":"zscore","window":576,"threshold":5,"minTrainingSize":288,"partitionBy":"series"}')
WHERE is_anomaly;
