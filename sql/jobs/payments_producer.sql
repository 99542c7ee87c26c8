-- The payment service of the card-fraud sample: 100,000 payments of 200
-- users (one per user every 10 s of event time, up to 5 s out of order, 0.1%
-- injected fraud after each user's first 40 payments) into the Kafka topic
-- 'payments', keyed by user, as JSON. The 'injected' column is the ground
-- truth the fraud job's alerts are checked against.
--   wasmad run sql/jobs/payments_producer.sql --stats
CREATE TABLE generated (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  injected BOOLEAN
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

CREATE TABLE payments (
  user_id STRING,
  ts TIMESTAMP(3),
  amount DOUBLE,
  injected BOOLEAN
) WITH (
  'connector' = 'kafka',
  'topic' = 'payments',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'format' = 'json',
  'key.fields' = 'user_id'
);

INSERT INTO payments SELECT * FROM generated;
