-- Card fraud: a per-user rolling z-score of payment amounts, read from the
-- Kafka topic 'payments' (JSON, event time 'ts', up to 5 s out of order);
-- alerts go to the topic 'fraud-alerts', keyed by user. The job runs until
-- SIGINT/SIGTERM; with --checkpoint-dir a restart resumes exactly once.
-- sql/jobs/payments_producer.sql fills 'payments' with generated traffic.
-- Run with --stats to log the event-to-alert latency at the end:
--   wasmad run sql/jobs/card_fraud.sql --stats --checkpoint-dir /tmp/fraud-ckpt
CREATE TABLE payments (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  injected BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'payments',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'properties.group.id' = 'card-fraud',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE alerts (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  expected DOUBLE,
  score DOUBLE,
  severity STRING,
  injected BOOLEAN
) WITH (
  'connector' = 'kafka',
  'topic' = 'fraud-alerts',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'format' = 'json',
  'key.fields' = 'user_id'
);

INSERT INTO alerts
SELECT user_id, ts, amount, round(forecast_value, 2), round(score, 2), severity, injected
FROM ML_DETECT_ANOMALIES(payments, 'amount', 'ts',
  '{"algorithm":"zscore","window":100,"threshold":6,"direction":"up","partitionBy":"user_id"}')
WHERE is_anomaly;
