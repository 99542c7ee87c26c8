-- Migrating a Kinesis Data Analytics RANDOM_CUT_FOREST application.
-- Run from the repository root: wasmad run sql/kinesis_migration.sql
--
-- In Kinesis the source was an in-application stream with a ROWTIME column;
-- here it is a table (or, in a streaming job, a source) with the same shape.
-- The query text below is unchanged from Kinesis: SELECT STREAM, TABLE(...),
-- CURSOR(...) and the quoted stream name all work as they did.

CREATE EXTERNAL TABLE nab_metrics (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

CREATE VIEW "SOURCE_SQL_STREAM_001" AS
SELECT timestamp AS ROWTIME, value AS temperature
FROM nab_metrics WHERE series = 'machine_temperature';

-- The Kinesis query, unchanged: the five most anomalous readings
SELECT STREAM ROWTIME, temperature, round(ANOMALY_SCORE, 3) AS anomaly_score
FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 50, 256, 100000, 4))
ORDER BY ANOMALY_SCORE DESC, ROWTIME LIMIT 5;

-- With explanations (withDirectionality = true): direction and strength per column
SELECT STREAM ROWTIME, round(ANOMALY_SCORE, 3) AS anomaly_score, ANOMALY_EXPLANATION
FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 50, 256, 100000, 1, true))
ORDER BY ANOMALY_SCORE DESC, ROWTIME LIMIT 3;

-- The same forest through wasmad's own form: per-key models, is_anomaly,
-- direction and severity, which Kinesis never had
SELECT series, count(*) AS anomalies, min(timestamp) AS first, max(timestamp) AS last
FROM ML_DETECT_ANOMALIES(nab_metrics, 'value', 'timestamp',
  '{"algorithm":"rcf","numberOfTrees":50,"shingleSize":4,"threshold":3.5,"cooldown":"6h","partitionBy":"series"}')
WHERE is_anomaly GROUP BY series ORDER BY series;
