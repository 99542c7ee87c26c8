-- wasmad quickstart: four real series from the Numenta Anomaly Benchmark
-- (examples/data, MIT licence), one detector model per series.
-- Run from the repository root: wasmad run sql/quickstart.sql

CREATE EXTERNAL TABLE nab_metrics (series VARCHAR NOT NULL, timestamp TIMESTAMP NOT NULL, value DOUBLE)
STORED AS CSV LOCATION 'examples/data/nab_metrics.csv' OPTIONS ('format.has_header' 'true');

CREATE EXTERNAL TABLE nab_windows (series VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL)
STORED AS CSV LOCATION 'examples/data/nab_windows.csv' OPTIONS ('format.has_header' 'true');

-- Rolling median / MAD (robust z-score) over the last day of 5-minute samples, per series.
CREATE VIEW detections AS
SELECT * FROM ML_DETECT_ANOMALIES(nab_metrics, 'value', 'timestamp',
  '{"algorithm":"mad","window":288,"threshold":8,"minTrainingSize":288,"partitionBy":"series"}');

-- Per series: rows scored, anomalies flagged, rows still in warm-up
SELECT series,
       count(*) AS rows,
       sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) AS anomalies,
       sum(CASE WHEN status = 'warmup' THEN 1 ELSE 0 END) AS warmup_rows
FROM detections GROUP BY series ORDER BY series;

-- NAB's labelled incident windows, and the first flag raised inside each
SELECT w.series, w.window_start, w.window_end,
       count(d.timestamp) AS flags_in_window,
       min(d.timestamp) AS first_flag
FROM nab_windows w
LEFT JOIN detections d
  ON d.series = w.series AND d.is_anomaly AND d.timestamp BETWEEN w.window_start AND w.window_end
GROUP BY w.series, w.window_start, w.window_end
ORDER BY w.series, w.window_start;

-- The 12 strongest anomalies (by the displayed, rounded score; ties by time)
SELECT series, timestamp, value, round(forecast_value, 2) AS forecast,
       round(lower_bound, 2) AS lower_bound, round(upper_bound, 2) AS upper_bound,
       round(score, 1) AS score, direction
FROM detections WHERE is_anomaly
ORDER BY abs(score) DESC, timestamp LIMIT 12;
