"""Reference outputs for crates/core/src/spikedip.rs and changepoint.rs: a
line-by-line transcription of ML.NET's SequentialAnomalyDetectionTransformBase
(ComputeKernelPValue with its running _sumSquaredDist, the TwoSided/Positive/
Negative p-value, the MinPValue clamp, the Power and Mixture log betting
functions, the windowed LogMartingaleUpdateBuffer, the "no alert until the
RawScoreBuffer is full" rule and _martingaleAlertCounter) and of the
thresholds IidSpikeDetector (1 - confidence/100) and IidChangePointDetector
(exp(W * bet(1 - confidence/100))) derive. Plain Python floats (double) and
math.erf; ML.NET itself buffers float32 values, which this does not copy.
The change point configs apply wasmad's one documented change to ML.NET
(neutral_warmup: warm-up rows are bet on as p = 1/2; see changepoint.rs);
run(..., neutral_warmup=False) is ML.NET as is.

Writes kde_input.csv (t,value) and one kde_<name>_expected.csv per config:
line 1 is the wasmad config, then t,status,score,is_anomaly where status is
ok (the ML.NET window is full, so the row may alert), warmup or skipped.
Run from this directory (standard library only):

    python3 make_kde_reference.py
"""

import json
import math
import random

MIN_P = 1e-8
MAX_P = 1 - MIN_P


def series():
    rng = random.Random(7)
    xs = []
    for t in range(320):
        level = 10.0 if t < 170 else 16.0
        x = rng.gauss(level, 1.0)
        if t == 60:
            x += 9.0
        if t == 100:
            x -= 8.0
        if t == 120:
            x += 4.0
        if t in (30, 200):
            x = float("nan")
        if t == 31:
            x = float("inf")
        if 240 <= t < 246:
            x = 16.0  # a short flat run
        xs.append(x)
    return xs


def log_power(p, eps):
    return math.log(eps) + (eps - 1) * math.log(p)


def log_mixture(p):
    lp = math.log(p)
    return math.log(p * lp + 1 - p) - 2 * math.log(-lp) - lp


def run(xs, window, side, alert_on, threshold, martingale=None, eps=0.1,
        neutral_warmup=False):
    raw = []  # RawScoreBuffer, capacity window
    ssd = 0.0  # _sumSquaredDist
    bets = []  # LogMartingaleUpdateBuffer, capacity window
    log_m = 0.0
    counter = 0
    out = []
    for x in xs:
        if not math.isfinite(x):
            out.append(("skipped", float("nan"), 0))
            continue
        # ComputeKernelPValue
        n = len(raw)
        if n == 0:
            p = 0.5
        else:
            bw = math.sqrt(2) * (1 if n == 1 else math.sqrt(ssd) / n)
            bw = max(bw, 1e-6)
            acc = 0.0
            for r in raw:
                d = x - r
                acc -= math.erf(d / bw)
                ssd += d * d
            p = 0.5 + acc / (2 * n)
            if n == window:
                for r in raw[1:]:
                    d = raw[0] - r
                    ssd -= d * d
                d = raw[0] - x
                ssd -= d * d
        if side == "negative":
            p = 1 - p
        elif side == "twosided":
            p = min(p, 1 - p)
        p = min(max(p, MIN_P), MAX_P)
        # wasmad's one change to ML.NET (changepoint only): a row scored
        # against fewer than window - 1 values (a warm-up row) is bet on as
        # p = 1/2, ML.NET's own bet for its very first row.
        bet_p = 0.5 if neutral_warmup and n < window - 1 else p
        raw.append(x)
        if len(raw) > window:
            raw.pop(0)
        score = p
        if alert_on == "martingale":
            u = log_power(bet_p, eps) if martingale == "power" else log_mixture(bet_p)
            if not bets:
                bets = [u] * window
                log_m += window * u
            else:
                log_m += u
                log_m -= bets[0]
                bets.append(u)
                bets.pop(0)
            score = math.exp(log_m)
        alert = 0
        full = len(raw) == window
        if full:
            if alert_on == "pvalue":
                alert = int(p <= threshold)
            else:
                alert = int(score >= threshold)
                if alert:
                    if counter > 0:
                        alert = 0
                    else:
                        counter = window
                counter = max(counter - 1, 0)
        out.append(("ok" if full else "warmup", score, alert))
    return out


SIDES = {"spikes": "positive", "dips": "negative", "spikesanddips": "twosided"}

CONFIGS = [
    ("spikedip_h40", {"algorithm": "spikedip", "confidence": 95, "historySize": 40,
                      "mode": "spikesanddips"}),
    ("spikedip_h40_spikes99", {"algorithm": "spikedip", "confidence": 99,
                               "historySize": 40, "mode": "spikes"}),
    ("spikedip_h25_dips90", {"algorithm": "spikedip", "confidence": 90,
                             "historySize": 25, "mode": "dips"}),
    ("changepoint_h30", {"algorithm": "changepoint", "confidence": 95,
                         "historySize": 30}),
    ("changepoint_h40_80", {"algorithm": "changepoint", "confidence": 80,
                            "historySize": 40}),
    ("changepoint_h20_mixture90", {"algorithm": "changepoint", "confidence": 90,
                                   "historySize": 20, "martingale": "mixture"}),
]


def main():
    xs = series()
    with open("kde_input.csv", "w") as f:
        f.write("t,value\n")
        for t, x in enumerate(xs):
            f.write(f"{t},{x!r}\n")
    for name, cfg in CONFIGS:
        w = cfg["historySize"]
        conf = cfg["confidence"]
        if cfg["algorithm"] == "spikedip":
            out = run(xs, w, SIDES[cfg["mode"]], "pvalue", 1 - conf / 100)
        else:
            mart = cfg.get("martingale", "power")
            p = 1 - conf / 100
            bet = log_power(p, 0.1) if mart == "power" else log_mixture(p)
            out = run(xs, w, "twosided", "martingale", math.exp(w * bet), mart,
                      neutral_warmup=True)
        with open(f"kde_{name}_expected.csv", "w") as f:
            f.write(json.dumps(cfg, separators=(",", ":")) + "\n")
            f.write("t,status,score,is_anomaly\n")
            for t, (status, score, alert) in enumerate(out):
                f.write(f"{t},{status},{score!r},{alert}\n")
        flagged = [t for t, o in enumerate(out) if o[2]]
        print(name, "flagged rows:", flagged)


if __name__ == "__main__":
    main()
