//! `changepoint`: Azure Stream Analytics' `AnomalyDetection_ChangePoint(value,
//! confidence, historySize)`, i.e. ML.NET's `IidChangePointDetector`: kernel
//! density p-values (see [`crate::kde`]) fed into an exchangeability
//! martingale (Fedorova et al., "Plug-in martingales for testing
//! exchangeability on-line", arXiv:1204.3251).
//!
//! # The algorithm, per row `x` (scored before it is learned)
//! 1. Two-sided p-value `p = min(P(X >= x), P(X <= x))` under the kernel
//!    density of the last `historySize` (= `W`) learned values, clamped to
//!    `[1e-8, 1 - 1e-8]` (ML.NET fixes `Side = TwoSided` for change points).
//! 2. Log betting function of `p`:
//!    `power`: `ln(eps) + (eps - 1) ln p` (default, `epsilon` 0.1);
//!    `mixture`: `ln(p ln p + 1 - p) - 2 ln(-ln p) - ln p` (the power
//!    martingale averaged over `eps` in (0, 1)).
//! 3. The log martingale is the sum of the last `W` log bets (ML.NET's
//!    `LogMartingaleUpdateBuffer`, a window of length `historySize`); the
//!    very first bet fills the whole window, as in ML.NET. The score is the
//!    martingale `exp(sum)` (ASA's `Score`), which grows while p-values stay
//!    small, i.e. while recent values keep falling outside the history's
//!    density. It is capped at `f64::MAX`; the comparison below is done on
//!    the logarithm, so the cap never changes a flag (ML.NET compares the
//!    exponentials, whose threshold overflows to infinity for long windows,
//!    e.g. `W` = 1200 at `confidence` 99).
//! 4. Threshold, as ML.NET computes it from `confidence`:
//!    `exp(W * bet(1 - confidence/100))`, the martingale of `W` consecutive
//!    p-values equal to `1 - confidence/100`. The row is flagged when the
//!    martingale is at least the threshold, unless a change was flagged
//!    within the previous `W - 1` scored rows (ML.NET's
//!    `_martingaleAlertCounter`: one alert per change). `confidence` 100
//!    never flags.
//! 5. `x` joins the density window.
//!
//! # Warm-up bets: our one change to ML.NET
//! ML.NET bets on every row from the first, with p-values from windows of
//! one, two, three values (its bandwidth for a single value is an absolute
//! `sqrt(2)`, whatever the data's scale). Those early p-values are often
//! tiny, and their bets are still in the martingale's window when alerts
//! begin, so ML.NET often flags a change at the end of its warm-up. We bet
//! on every warm-up row as if its p-value were 1/2, ML.NET's own bet for its
//! first row (so the window starts full of that bet, as ML.NET's does);
//! scored rows bet on their p-values exactly as ML.NET does, and with the
//! default `minTrainingSize` the martingale equals ML.NET's from the `W`-th
//! scored row on (every warm-up bet has left the window).
//!
//! ML.NET does not reset the martingale after an alert: the product simply
//! slides, so the evidence of a change leaves it `W` rows later, and the
//! alert counter keeps those rows from re-flagging the same change. We do
//! the same.
//!
//! # `historyDuration`: ASA's `LIMIT DURATION`
//! As for [`crate::spikedip`] (see there for the inclusive boundary, late
//! rows, `minTrainingSize` and gaps): with `historyDuration` set, the
//! density window holds only values learned at most `historyDuration`
//! before the row's event time. ASA's documentation describes a single
//! sliding window bounded by both `historySize` and `LIMIT DURATION` ("the
//! model only considers event history over the sliding window"), so the
//! martingale's bets are limited the same way: bets of rows older than
//! `historyDuration` leave the bet window with their values. The
//! threshold is still that of a full window of `historySize` bets, so a
//! missing bet (dropped by time, or not yet made) counts as the bet on
//! p = 1/2, the same neutral bet as a warm-up row: without this a
//! time-shortened window would sum fewer (mostly negative) log bets and
//! cross the threshold on noise. Without a time limit this is exactly the
//! window above (ML.NET's first bet, which fills its window, is a warm-up
//! row's p = 1/2 bet). After a gap longer than `historyDuration` both
//! windows are empty: the next row is `warmup` (learned, bet on as p = 1/2,
//! not scored), and the martingale restarts from `historySize` neutral
//! bets. The alert counter still counts scored rows, as in ML.NET.
//!
//! # Defaults and warm-up
//! * `confidence` 80 (range [1, 100]; ASA's documented example uses 80,
//!   ML.NET's default is 95, see below), `historySize` 120 (at least 3;
//!   ML.NET's own default is 20, ASA's example uses 1200), `martingale`
//!   `power`, `epsilon` 0.1, `historyDuration` 0 (no time limit).
//! * `minTrainingSize` defaults to `historySize - 1`, ML.NET's "no alert
//!   until the window is full" rule (see [`crate::spikedip`]). Warm-up rows
//!   are learned and bet on as p = 1/2, but not scored (score NaN).
//! * NaN and infinite values are `skipped`: not scored, not learned, no bet.
//!
//! # Choosing `confidence`
//! The threshold is a per-row rate: the windowed martingale must average a
//! log bet of `bet(1 - confidence/100)` over the whole window. For the power
//! martingale with `eps` 0.1 that is `-0.85` per row at 80, `-0.23` at 90,
//! `+0.39` at 95. Under no change a row's log bet averages about `-0.8`
//! (two-sided p-values lie in (0, 1/2]), and after a level shift only the
//! first few rows have tiny p-values, because the shifted rows join the
//! density window at once. So, as in ML.NET, `confidence` 90 or more rarely
//! flags even a 5-sigma level shift, while 80 flags it within a few rows.
//!
//! Seeded simulations (`tests/reference/kde/simulate_changepoint.py`: 200
//! series of noise, sd 2, then a 5-sigma shift after `3W` rows; power
//! martingale, `eps` 0.1):
//!
//! | confidence | `W` | noise flagged in first `W` scored rows: ML.NET / ours | in the next `W` | shift missed | delay max / mean |
//! |---|---|---|---|---|---|
//! | 80 | 20  | 197 / 18 | 40 | 0   | 19 / 2.0 |
//! | 80 | 50  | 95 / 0   | 0  | 0   | 7 / 2.0  |
//! | 80 | 120 | 9 / 0    | 0  | 0   | 17 / 10.1 |
//! | 90 | 20  | 35 / 0   | 0  | 104 | 14 / 3.7 |
//! | 90 | 50, 120 | 0 / 0 | 0 | 200 | - |
//! | 95 | 20, 50, 120 | 3 (`W` 20) / 0 | 0 | 200 | - |
//!
//! Hence our default of 80 (ASA's own example) and a history of 50 to 120.
//! With defaults (`W` = 120, power, `eps` = 0.1, `confidence` 80) the
//! threshold is `exp(120 * (ln 0.1 - 0.9 ln 0.2)) = exp(-102.5)`.
//!
//! # Seasonal series: a flag every `historySize` rows
//! The martingale tests exchangeability: that the recent values could have
//! come from the window in any order. A seasonal series is not
//! exchangeable over a window shorter than its period, and ASA's docs say
//! as much ("The machine learning operations do not support seasonality
//! trends"). Measured on a sine (amplitude 10, noise sd 0 or 2) with the
//! defaults (`W` = 120, `confidence` 80, threshold `exp(-102.5)`):
//! * period 100 (the window holds 1.2 periods, so the whole seasonal range):
//!   the log martingale stays in about [-151, -128], no flags; a level
//!   shift of 3 times the amplitude is flagged 16 rows after it.
//! * period 200 (the window holds less than a period, which looks like a
//!   trend): the log martingale stays above the threshold (about -105 to
//!   -45), and exactly one row in every `W` = 120 is flagged: the alert
//!   counter (ML.NET's `_martingaleAlertCounter`) suppresses the other
//!   `W - 1`. A real level shift falls into one of those suppressed
//!   stretches and is not told apart. At period 144 the martingale crosses
//!   the threshold once per period (a flag about every 144 rows).
//! * `confidence` 70 (threshold `exp(-146.3)`) does much the same at
//!   period 100 (a flag every 120 to 160 rows).
//!
//! This is ML.NET's behaviour, not a bug: the same windowed martingale and
//! counter. What helps: a `historySize` covering at least 1.5 periods (at
//! period 200, `W` = 300 at `confidence` 80: no flag on the seasonal rows,
//! the shift flagged 34 to 63 rows after it), or removing the seasonality
//! first. Raising `confidence` to 90 silences the seasonal flags but also
//! the shifts (see "Choosing `confidence`"). `tests/changepoint.rs`
//! (`seasonal_*`) pins these cases.
//!
//! # Cost
//! `historySize` `erf`s and `log`s per row: about 2 us per row at 120 and
//! 25 us at 1200 (native, release); the state is the value window and the
//! bet window with their event times (32 bytes per `historySize`).
//!
//! # Output ([`Step`])
//! `score` = the martingale; `anomaly`; `up` when `P(X >= x) <= 1/2` (the
//! row lies at or above the density's median); `forecast` = the window
//! mean; `lower`/`upper` NaN.
//!
//! # API
//! ```
//! use wasmad_core::config::{Reader, parse_object};
//! use wasmad_core::changepoint::ChangePoint;
//! let obj = parse_object(r#"{"confidence":95,"historySize":20}"#).unwrap();
//! let reader = Reader::new(ChangePoint::NAME, &obj, ChangePoint::specs()).unwrap();
//! let (_common, params) = ChangePoint::read(&reader).unwrap();
//! let mut model = ChangePoint::new(&params);  // one per key
//! let step = model.update(1.0, &params);      // a Step, as for spikedip
//! # let _ = step;
//! ```
//! With event times (what the detector's row adapter calls):
//! `model.update_at(x, ts_micros, &params)`; [`ChangePoint::update`] is
//! `update_at` with every row at time 0. The log martingale after a row:
//! [`ChangePoint::log_martingale`]`(&params)`.
//!
//! Keys: [`ChangePoint::specs`] (no `threshold` or `direction`: do not call
//! `Reader::common`, use [`ChangePoint::read`] or [`ChangePoint::params`]);
//! the effective config: [`ChangePoint::params_json`]. State: `Serialize +
//! Deserialize + Clone`; guard restores with [`ChangePoint::is_consistent`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, Direction, ParamSpec, Reader};
use crate::error::Result;
use crate::flags::Status;
use crate::kde::{
    KdeWindow, Side, log_mixture_bet, log_power_bet, tail_p, time_cutoff, times_consistent,
};
use crate::spikedip::{
    confidence_spec, history_duration_json, history_duration_spec, history_spec, min_training_spec,
    read_history_duration, read_min_training,
};
pub use crate::step::Step;

/// The martingale's betting function (ML.NET's `MartingaleType`, without
/// `None`, which cannot alert).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Martingale {
    /// Power martingale with this `epsilon` in (0, 1).
    Power(f64),
    /// Mixture martingale.
    Mixture,
}

impl Martingale {
    /// The log bet on the p-value `p`.
    pub fn log_bet(self, p: f64) -> f64 {
        match self {
            Martingale::Power(eps) => log_power_bet(p, eps),
            Martingale::Mixture => log_mixture_bet(p),
        }
    }
}

/// Parameters of [`ChangePoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePointParams {
    /// `confidence` in [1, 100].
    pub confidence: f64,
    /// `historySize`: values in the density window and bets in the
    /// martingale window.
    pub history_size: u64,
    /// `historyDuration` in microseconds: the density window and the bet
    /// window keep only rows at most this long before the row (0: no time
    /// limit).
    pub history_duration: u64,
    /// The betting function.
    pub martingale: Martingale,
    /// Values a key learns before its rows are scored.
    pub min_training_size: u64,
    /// The log of the alert threshold (derived; `+inf`: never flag).
    pub log_threshold: f64,
}

impl ChangePointParams {
    /// The alert threshold on the martingale (may be `+inf`).
    pub fn threshold(&self) -> f64 {
        libm::exp(self.log_threshold)
    }
}

/// `ln` of ML.NET's threshold: `W * bet(1 - confidence/100)`; `+inf` when
/// that p-value is 0 (`confidence` 100).
pub fn log_threshold(confidence: f64, history_size: u64, martingale: Martingale) -> f64 {
    let p = 1.0 - confidence / 100.0;
    if p <= 0.0 {
        return f64::INFINITY;
    }
    history_size as f64 * martingale.log_bet(p)
}

/// One key's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    seen: u64,
    window: KdeWindow,
    /// The last `historySize` log bets, oldest first; the martingale pads
    /// the missing ones with the bet on p = 1/2 (see [`ChangePoint::log_martingale`]).
    bets: VecDeque<f64>,
    /// The event time of each bet (non-decreasing).
    bet_times: VecDeque<i64>,
    /// Scored rows left during which a new alert is suppressed.
    alert_counter: u64,
}

impl ChangePoint {
    /// The `algorithm` name in configs.
    pub const NAME: &'static str = "change_point";
    /// One line for `describe()`.
    pub const DESCRIPTION: &'static str = "Azure Stream Analytics AnomalyDetection_ChangePoint (ML.NET IidChangePointDetector): kernel density p-values fed to a windowed power (or mixture) martingale; score = martingale, flagged above ML.NET's confidence threshold.";

    /// Every config key with its default.
    pub fn specs() -> Vec<ParamSpec> {
        vec![
            confidence_spec(
                80.0,
                "Confidence in percent, in [1, 100]: the martingale threshold is exp(historySize * bet(1 - confidence/100)) (100: never flag).",
            ),
            history_spec(
                "Values in the kernel density window, and p-values in the martingale window (ASA historySize).",
            ),
            history_duration_spec(
                "ASA's LIMIT DURATION: a duration such as \"120s\" or \"20m\"; the density window and the martingale's bets then hold only rows at most this long before the row's event time (and at most historySize of them). 0: no time limit.",
            ),
            ParamSpec::choice(
                "martingale",
                "power",
                &["power", "mixture"],
                "Betting function: power (eps * p^(eps - 1)) or mixture (power averaged over eps).",
            ),
            ParamSpec::number(
                "epsilon",
                Some(0.1),
                "The power martingale's epsilon, in (0, 1).",
            )
            .above(0.0)
            .below(1.0),
            min_training_spec(),
        ]
    }

    /// Read and validate the keys. Sets every field of `common`:
    /// `min_training_size`, `threshold` = the martingale threshold (may be
    /// `+inf`, or `f64::MAX` when it overflows), `direction` = both.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<ChangePointParams> {
        let confidence = reader.number_or_default("confidence")?;
        let history_size = reader.integer_or_default("historySize")?;
        let history_duration = read_history_duration(reader, ChangePoint::NAME)?;
        let epsilon = reader.number_or_default("epsilon")?;
        let martingale = match reader.choice("martingale")? {
            "mixture" => Martingale::Mixture,
            _ => Martingale::Power(epsilon),
        };
        let min_training_size = read_min_training(reader, history_size)?;
        let p = ChangePointParams {
            confidence,
            history_size,
            history_duration,
            martingale,
            min_training_size,
            log_threshold: log_threshold(confidence, history_size, martingale),
        };
        common.min_training_size = min_training_size;
        common.threshold = if p.log_threshold == f64::INFINITY {
            f64::INFINITY
        } else {
            p.threshold().min(f64::MAX)
        };
        common.direction = Direction::Both;
        Ok(p)
    }

    /// [`ChangePoint::params`] with a fresh [`Common`].
    pub fn read(reader: &Reader<'_>) -> Result<(Common, ChangePointParams)> {
        let mut common = Common::ZERO;
        let p = ChangePoint::params(reader, &mut common)?;
        Ok((common, p))
    }

    /// The effective config keys (every default filled in).
    pub fn params_json(p: &ChangePointParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("confidence".into(), p.confidence.into());
        m.insert("historySize".into(), p.history_size.into());
        m.insert(
            "historyDuration".into(),
            history_duration_json(p.history_duration),
        );
        let (name, eps) = match p.martingale {
            Martingale::Power(e) => ("power", e),
            Martingale::Mixture => ("mixture", 0.1),
        };
        m.insert("martingale".into(), name.into());
        m.insert("epsilon".into(), eps.into());
        m.insert("minTrainingSize".into(), p.min_training_size.into());
        m
    }

    /// A fresh, untrained key.
    pub fn new(_: &ChangePointParams) -> Self {
        ChangePoint {
            seen: 0,
            window: KdeWindow::default(),
            bets: VecDeque::new(),
            bet_times: VecDeque::new(),
            alert_counter: 0,
        }
    }

    /// Values learned so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The current log martingale: the sum of the last `historySize` log
    /// bets, the missing ones (before `historySize` rows were learned, or
    /// dropped by `historyDuration`) counted as the bet on p = 1/2. 0 before
    /// the first learned row.
    pub fn log_martingale(&self, p: &ChangePointParams) -> f64 {
        if self.seen == 0 {
            return 0.0;
        }
        let w = p.history_size.max(1);
        let neutral = p.martingale.log_bet(0.5);
        // Padding first, then the bets, oldest first: the order (and so the
        // rounding) of a window that started full of the first row's bet
        // (ML.NET's), which is the p = 1/2 bet of a warm-up row.
        let mut s = 0.0;
        for _ in (self.bets.len() as u64).min(w)..w {
            s += neutral;
        }
        for b in &self.bets {
            s += *b;
        }
        s
    }

    /// [`ChangePoint::update_at`] for callers without event times: every
    /// row at time 0, so `historyDuration` never drops anything.
    pub fn update(&mut self, x: f64, p: &ChangePointParams) -> Step {
        self.update_at(x, 0, p)
    }

    /// Score `x`, a row at event time `ts` (microseconds), update the
    /// martingale, then learn `x` (see the module doc). With
    /// `historyDuration`, values and bets of rows more than that before `ts`
    /// are dropped first.
    pub fn update_at(&mut self, x: f64, ts: i64, p: &ChangePointParams) -> Step {
        if !x.is_finite() {
            return Step::missing(Status::Skipped);
        }
        let mut t = self.window.effective_time(ts);
        if let Some(last) = self.bet_times.back() {
            t = t.max(*last);
        }
        if let Some(cutoff) = time_cutoff(t, p.history_duration) {
            self.window.evict_before(cutoff);
            while self.bet_times.front().is_some_and(|b| *b < cutoff) {
                self.bet_times.pop_front();
                self.bets.pop_front();
            }
        }
        // Not scored in warm-up, nor when a gap longer than historyDuration
        // has emptied the window.
        let scored = self.seen >= p.min_training_size && self.window.len() > 0;
        let (right, mean) = self.window.right_p(x);
        // Unscored rows are bet on as p = 1/2 (see "Warm-up bets").
        let bet = p.martingale.log_bet(if scored {
            tail_p(right, Side::Both)
        } else {
            0.5
        });
        let w = p.history_size.max(1);
        while self.bets.len() as u64 >= w {
            self.bets.pop_front();
            self.bet_times.pop_front();
        }
        self.bets.push_back(bet);
        self.bet_times.push_back(t);
        self.window.push(x, t, p.history_size);
        self.seen = self.seen.saturating_add(1);
        if !scored {
            return Step::missing(Status::Warmup);
        }
        let log_m = self.log_martingale(p);
        let mut anomaly = log_m >= p.log_threshold;
        if anomaly {
            if self.alert_counter > 0 {
                anomaly = false;
            } else {
                self.alert_counter = w;
            }
        }
        self.alert_counter = self.alert_counter.saturating_sub(1);
        Step {
            status: Status::Ok,
            score: libm::exp(log_m).min(f64::MAX),
            anomaly,
            up: right <= 0.5 || right.is_nan(),
            forecast: mean,
            lower: f64::NAN,
            upper: f64::NAN,
        }
    }

    /// Whether a deserialised state fits `params`.
    pub fn is_consistent(&self, p: &ChangePointParams) -> bool {
        let full = self.seen.min(p.history_size);
        let lengths = if p.history_duration == 0 {
            self.window.len() as u64 == full && self.bets.len() as u64 == full
        } else {
            // The time limit may have dropped values and bets.
            self.window.len() as u64 <= full && self.bets.len() as u64 <= full
        };
        self.window.is_consistent(p.history_size)
            && lengths
            && self.bet_times.len() == self.bets.len()
            && times_consistent(&self.bet_times)
            && self.bets.iter().all(|b| b.is_finite())
            && self.alert_counter < p.history_size
    }
}
