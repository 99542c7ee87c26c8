-- Card fraud: a per-user rolling z-score of payment amounts; alerts go to a
-- file sink (alerts.json in the current directory). The payments come from
-- datagen here (200 users, one payment per user every 10 s of event time,
-- up to 5 s out of order); swap the WITH clause for a file or stdin source
-- to score real traffic. Run with --stats to log the event-to-alert latency:
--   wasmad run sql/jobs/card_fraud.sql --stats --checkpoint-dir /tmp/fraud-ckpt
CREATE TABLE payments (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  injected BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'datagen',
  'keys' = '200',
  'key.prefix' = 'user-',
  'interval' = '10s',
  'number-of-rows' = '100000',
  'rows-per-second' = '0',
  'seed' = '42',
  'base' = '40',
  'noise' = '4',
  'spike.probability' = '0.001',
  'spike.magnitude' = '60',
  'dip.probability' = '0',
  'shuffle' = '100',
  'anomaly.start' = '40'
);

CREATE TABLE alerts (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  expected DOUBLE,
  score DOUBLE,
  severity STRING,
  injected BOOLEAN
) WITH ('connector' = 'file', 'path' = 'alerts.json');

INSERT INTO alerts
SELECT user_id, ts, amount, round(forecast_value, 2), round(score, 2), severity, injected
FROM ML_DETECT_ANOMALIES(payments, 'amount', 'ts',
  '{"algorithm":"zscore","window":100,"threshold":6,"direction":"up","partitionBy":"user_id"}')
WHERE is_anomaly;
