-- Server fleet: CPU, memory and network per host, one model per host and
-- metric; alert only when two or more metrics of a host are anomalous in the
-- same reading (same host and timestamp). Three ML_DETECT_ANOMALIES calls are
-- nested, each renaming its flag; no GROUP BY is needed, so the job streams.
-- The readings come from the Kafka topic 'fleet-metrics' (filled by
-- sql/jobs/fleet_producer.sql: host-wide incidents besides single-metric
-- blips, which must not alert); alerts go to the topic 'fleet-alerts'.
--   wasmad run sql/jobs/server_fleet.sql --stats
CREATE TABLE fleet (
  host STRING,
  ts TIMESTAMP(3),
  cpu DOUBLE,
  mem DOUBLE,
  net DOUBLE,
  injected BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE
) WITH (
  'connector' = 'kafka',
  'topic' = 'fleet-metrics',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE alerts (
  host STRING,
  ts TIMESTAMP(3),
  cpu DOUBLE,
  mem DOUBLE,
  net DOUBLE,
  cpu_anomaly BOOLEAN,
  mem_anomaly BOOLEAN,
  net_anomaly BOOLEAN
) WITH (
  'connector' = 'kafka',
  'topic' = 'fleet-alerts',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'format' = 'json',
  'key.fields' = 'host'
);

INSERT INTO alerts
SELECT host, ts, cpu, mem, net, cpu_anomaly, mem_anomaly, is_anomaly AS net_anomaly
FROM ML_DETECT_ANOMALIES(
  (SELECT host, ts, cpu, mem, net, cpu_anomaly, is_anomaly AS mem_anomaly
   FROM ML_DETECT_ANOMALIES(
     (SELECT host, ts, cpu, mem, net, is_anomaly AS cpu_anomaly
      FROM ML_DETECT_ANOMALIES(fleet, 'cpu', 'ts', '{"window":200,"threshold":5,"partitionBy":"host"}')),
     'mem', 'ts', '{"window":200,"threshold":5,"partitionBy":"host"}')),
  'net', 'ts', '{"window":200,"threshold":5,"partitionBy":"host"}')
WHERE CAST(cpu_anomaly AS INT) + CAST(mem_anomaly AS INT) + CAST(is_anomaly AS INT) >= 2;
