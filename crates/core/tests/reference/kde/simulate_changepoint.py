"""The simulations quoted in crates/core/src/changepoint.rs: how often the
change point martingale flags pure noise, and how soon it flags a 5-sigma
level shift, for ML.NET as is and with wasmad's warm-up bets (warm-up rows
bet on as p = 1/2). Uses the ML.NET transcription in make_kde_reference.py.
Run from this directory (standard library only, about a minute):

    python3 simulate_changepoint.py
"""

import math
import random

from make_kde_reference import log_power, run


def main():
    print("conf W warmup-bets | series flagged in the first W scored rows (noise)"
          " | in the next W | shift missed | max / mean delay")
    for conf in (80, 90, 95):
        for w in (20, 50, 120):
            thr = math.exp(w * log_power(1 - conf / 100, 0.1))
            for neutral in (False, True):
                early = late = 0
                delays = []
                n = 200
                for seed in range(n):
                    rng = random.Random(seed)
                    # sd 2 around 100; +10 (5 sigma) from row 3W on.
                    xs = [100 + 2 * rng.gauss(0, 1) + (10 if t >= 3 * w else 0)
                          for t in range(4 * w)]
                    out = run(xs, w, "twosided", "martingale", thr, "power",
                              neutral_warmup=neutral)
                    flagged = [t for t, o in enumerate(out) if o[2]]
                    early += any(t < 2 * w for t in flagged)
                    late += any(2 * w <= t < 3 * w for t in flagged)
                    after = [t - 3 * w for t in flagged if t >= 3 * w]
                    delays.append(after[0] if after else None)
                found = [d for d in delays if d is not None]
                print(conf, w, "yes" if neutral else "no ", "|", f"{early}/{n}", "|",
                      f"{late}/{n}", "|", delays.count(None), "|",
                      max(found) if found else "-",
                      f"{sum(found) / len(found):.1f}" if found else "-")


if __name__ == "__main__":
    main()
