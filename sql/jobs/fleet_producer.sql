-- The metrics agent of the server-fleet sample: CPU, memory and network
-- readings of 20 hosts every 15 s of event time (40,000 rows), with host-wide
-- incidents ('anomaly.correlated') and single-metric blips, into the Kafka
-- topic 'fleet-metrics', keyed by host, as JSON.
--   wasmad run sql/jobs/fleet_producer.sql --stats
CREATE TABLE generated (
  host STRING,
  ts TIMESTAMP(3),
  cpu DOUBLE,
  mem DOUBLE,
  net DOUBLE,
  injected BOOLEAN
) WITH (
  'connector' = 'datagen',
  'keys' = '20',
  'key.prefix' = 'host-',
  'interval' = '15s',
  'number-of-rows' = '40000',
  'rows-per-second' = '0',
  'seed' = '5',
  'base' = '50',
  'noise' = '2',
  'seasonality' = '5',
  'spike.probability' = '0.002',
  'dip.probability' = '0',
  'spike.magnitude' = '30',
  'anomaly.correlated' = '0.5'
);

CREATE TABLE fleet (
  host STRING,
  ts TIMESTAMP(3),
  cpu DOUBLE,
  mem DOUBLE,
  net DOUBLE,
  injected BOOLEAN
) WITH (
  'connector' = 'kafka',
  'topic' = 'fleet-metrics',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'format' = 'json',
  'key.fields' = 'host'
);

INSERT INTO fleet SELECT * FROM generated;
