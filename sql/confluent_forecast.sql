-- Confluent Cloud for Apache Flink's ARIMA anomaly detection and forecasting, unchanged.
-- Run from the repository root: wasmad run sql/confluent_forecast.sql
--
-- The default model of ML_DETECT_ANOMALIES ... OVER is ARIMA, refitted per key
-- on a rolling window (orders by AIC when p, d, q are absent; STL seasonal
-- decomposition with enableStl and m). Fields are NULL while a key warms up,
-- with status 'warmup' saying why.

CREATE EXTERNAL TABLE metrics (series VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, v DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

-- Half-hourly taxi demand: the daily season is 48 rows
CREATE VIEW taxi AS SELECT ts, v FROM metrics WHERE series = 'nyc_taxi';

-- Anomalies outside the 99.9% prediction interval, with the model's recent RMSE
SELECT r.timestamp, r.actual_value, round(r.forecast_value, 0) AS forecast,
       round(r.lower_bound, 0) AS lower, round(r.upper_bound, 0) AS upper, round(r.rmse, 0) AS rmse
FROM (
  SELECT ML_DETECT_ANOMALIES(v, ts, JSON_OBJECT('minTrainingSize' VALUE 336, 'maxTrainingSize' VALUE 1008,
           'confidencePercentage' VALUE 99.9, 'enableStl' VALUE TRUE, 'm' VALUE 48, 'p' VALUE 2, 'd' VALUE 0, 'q' VALUE 1))
         OVER (ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS r
  FROM taxi)
WHERE r.is_anomaly AND r.timestamp >= TIMESTAMP '2014-11-25' AND r.timestamp < TIMESTAMP '2014-12-01'
ORDER BY r.timestamp;

-- The next three half-hours as forecast at the last row
SELECT ts, f[1]['timestamp'] AS step1, round(f[1]['forecast_value'], 0) AS forecast1,
       f[3]['timestamp'] AS step3, round(f[3]['forecast_value'], 0) AS forecast3,
       round(f[3]['lower_bound'], 0) AS lower3, round(f[3]['upper_bound'], 0) AS upper3
FROM (SELECT ts, ML_FORECAST(v, ts, JSON_OBJECT('horizon' VALUE 3, 'enableStl' VALUE TRUE, 'm' VALUE 48,
               'p' VALUE 2, 'd' VALUE 0, 'q' VALUE 1, 'minTrainingSize' VALUE 336)) OVER (ORDER BY ts) AS f
      FROM taxi)
ORDER BY ts DESC LIMIT 1;
