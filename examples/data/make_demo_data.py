#!/usr/bin/env python3
"""Builds the demo data from a NAB checkout (Numenta Anomaly Benchmark, MIT licence).

    python3 examples/data/make_demo_data.py ../shared/data/NAB

Writes nab_metrics.csv (series,timestamp,value: four NAB series in long format,
so one query can model each series separately with partitionBy) and
nab_windows.csv (series,window_start,window_end: NAB's labelled anomaly windows).
"""
import csv
import json
import os
import sys

SERIES = {
    "machine_temperature": "realKnownCause/machine_temperature_system_failure.csv",
    "ambient_temperature": "realKnownCause/ambient_temperature_system_failure.csv",
    "nyc_taxi": "realKnownCause/nyc_taxi.csv",
    "ec2_cpu_825cc2": "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
}


def main(nab):
    here = os.path.dirname(os.path.abspath(__file__))
    windows = json.load(open(os.path.join(nab, "labels", "combined_windows.json")))
    with open(os.path.join(here, "nab_metrics.csv"), "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["series", "timestamp", "value"])
        for name, path in SERIES.items():
            with open(os.path.join(nab, "data", path)) as f:
                r = csv.reader(f)
                next(r)
                for ts, value in r:
                    w.writerow([name, ts, value])
    with open(os.path.join(here, "nab_windows.csv"), "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["series", "window_start", "window_end"])
        for name, path in SERIES.items():
            for start, end in windows[path]:
                w.writerow([name, start[:19], end[:19]])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/NAB")
