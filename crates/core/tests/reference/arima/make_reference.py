#!/usr/bin/env python3
"""Reference fits for crates/core/tests/arima.rs, from statsmodels.

Copies the first 600 rows of three NAB series (MIT licence, see
NAB_LICENSE.txt) next to this script, fits statsmodels' ARIMA with fixed
orders on the first WINDOW rows of each (exact Gaussian MLE by the state-space
Kalman filter, trend "c" when d = 0, stationarity and invertibility
enforced, as crates/core/src/arima.rs), and writes reference.json: the
coefficients, sigma2, log-likelihood, AIC and the next 12 forecasts with 95 %
prediction intervals, and the one-step predictions of the next 100 rows
with the parameters fixed (filtering on, no refit); plus STL decompositions (crates/core/src/stl.rs) of the
first series with period 24.

Run (statsmodels 0.14+, pandas):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install statsmodels pandas
    /tmp/venv/bin/python make_reference.py [path/to/NAB/data]
Without a NAB path it reuses the CSVs already here.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import statsmodels
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.seasonal import STL

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 600
WINDOW = 500
HORIZON = 12
CASES = [
    ("ambient_temperature", "realKnownCause/ambient_temperature_system_failure.csv", (1, 0, 1)),
    ("machine_temperature", "realKnownCause/machine_temperature_system_failure.csv", (2, 1, 1)),
    ("ec2_request_latency", "realKnownCause/ec2_request_latency_system_failure.csv", (0, 1, 1)),
]


def stream(res, values):
    ext = res.append(values[WINDOW:ROWS])
    pred = ext.get_prediction(start=WINDOW, end=ROWS - 1)
    ci = pred.conf_int(alpha=0.05)
    return {
        "forecast": pred.predicted_mean.tolist(),
        "lower": ci[:, 0].tolist(),
        "upper": ci[:, 1].tolist(),
    }


def main():
    nab = sys.argv[1] if len(sys.argv) > 1 else None
    out = {"statsmodels": statsmodels.__version__, "window": WINDOW, "horizon": HORIZON, "cases": []}
    for name, path, order in CASES:
        local = os.path.join(HERE, name + ".csv")
        if nab:
            df = pd.read_csv(os.path.join(nab, path)).head(ROWS)
            df.to_csv(local, index=False)
        df = pd.read_csv(local)
        y = df["value"].to_numpy(dtype=float)[:WINDOW]
        res = ARIMA(y, order=order).fit()
        names = list(res.model.param_names)
        params = dict(zip(names, res.params.tolist()))
        fc = res.get_forecast(HORIZON)
        ci = fc.conf_int(alpha=0.05)
        out["cases"].append({
            "name": name,
            "file": name + ".csv",
            "order": list(order),
            "ar": [params[k] for k in names if k.startswith("ar.L")],
            "ma": [params[k] for k in names if k.startswith("ma.L")],
            "const": params.get("const"),
            "sigma2": params["sigma2"],
            "llf": float(res.llf),
            "aic": float(res.aic),
            "series_sd": float(np.std(y)),
            "forecast": fc.predicted_mean.tolist(),
            # One-step predictions (95 %) of rows WINDOW..ROWS with the
            # parameters fixed and the state filtered on (no refit).
            "stream": stream(res, df["value"].to_numpy(dtype=float)),
            "lower": ci[:, 0].tolist(),
            "upper": ci[:, 1].tolist(),
        })
    # STL (crates/core/src/stl.rs) on the hourly ambient temperature, period
    # 24: statsmodels' defaults (seasonal 7, degree 1) and the "periodic"
    # spans arima uses (seasonal 10 * (n // 24) + 1, degree 0).
    y = pd.read_csv(os.path.join(HERE, "ambient_temperature.csv"))["value"].to_numpy(dtype=float)[:WINDOW]
    out["stl"] = []
    for seasonal, deg in [(7, 1), (10 * (WINDOW // 24) + 1, 0)]:
        res = STL(y, period=24, seasonal=seasonal, seasonal_deg=deg, robust=False).fit()
        out["stl"].append({
            "period": 24,
            "seasonal_span": seasonal,
            "seasonal_degree": deg,
            "seasonal": res.seasonal.tolist(),
            "trend": res.trend.tolist(),
        })
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
