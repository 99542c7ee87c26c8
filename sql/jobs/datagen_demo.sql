-- A streaming job that needs no broker: a synthetic fleet of 4 servers, one
-- reading per server per minute of event time, with spikes and dips injected
-- (the `injected` column is the ground truth). One z-score model per host;
-- anomalies are written to stdout as JSON lines.
--   wasmad run sql/jobs/datagen_demo.sql --stats
CREATE TABLE metrics (
  host STRING,
  ts TIMESTAMP(3),
  cpu DOUBLE,
  injected BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '5' MINUTE
) WITH (
  'connector' = 'datagen',
  'keys' = '4',
  'key.prefix' = 'host-',
  'number-of-rows' = '20000',
  'rows-per-second' = '0',
  'seed' = '7',
  'base' = '50',
  'noise' = '2',
  'seasonality' = '10',
  'spike.probability' = '0.002',
  'dip.probability' = '0.002',
  'spike.magnitude' = '25',
  'dip.magnitude' = '25'
);

SELECT host, ts, cpu, injected, round(score, 2) AS score, direction
FROM ML_DETECT_ANOMALIES(metrics, 'cpu', 'ts',
  '{"algorithm":"zscore","window":500,"threshold":5,"partitionBy":"host"}')
WHERE is_anomaly;
