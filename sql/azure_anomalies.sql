-- Azure Stream Analytics anomaly detection, unchanged.
-- Run from the repository root: wasmad run sql/azure_anomalies.sql
--
-- TIMESTAMP BY gives the event time; LIMIT DURATION bounds the history and
-- WHEN restricts what the model learns from; results are records read with
-- GetRecordPropertyValue, as in ASA.

CREATE EXTERNAL TABLE input (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Spikes and dips per series (kernel density p-values over 288 events = one day)
WITH scored AS (
  SELECT series, timestamp, value,
    AnomalyDetection_SpikeAndDip(CAST(value AS float), 99, 288, 'spikesanddips')
      OVER (PARTITION BY series LIMIT DURATION(hour, 24) WHEN value IS NOT NULL) AS sd
  FROM input TIMESTAMP BY timestamp)
SELECT series, count(*) AS flagged,
       round(min(CAST(GetRecordPropertyValue(sd, 'Score') AS DOUBLE)), 6) AS lowest_p_value
FROM scored WHERE GetRecordPropertyValue(sd, 'IsAnomaly') = 1
GROUP BY series ORDER BY series;

-- Change points in the EC2 CPU series (exchangeability martingale over a day of history;
-- as in ML.NET, the martingale and its threshold at confidence 80 are far below 1)
SELECT timestamp, value, GetRecordPropertyValue(cp, 'Score') AS martingale
FROM (SELECT timestamp, value,
        AnomalyDetection_ChangePoint(CAST(value AS float), 80, 288) OVER (LIMIT DURATION(day, 5)) AS cp
      FROM input TIMESTAMP BY timestamp WHERE series = 'ec2_cpu_825cc2')
WHERE GetRecordPropertyValue(cp, 'IsAnomaly') = 1
ORDER BY timestamp;
