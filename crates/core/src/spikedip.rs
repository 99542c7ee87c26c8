//! `spikedip`: Azure Stream Analytics' `AnomalyDetection_SpikeAndDip(value,
//! confidence, historySize, mode)`, i.e. ML.NET's `IidSpikeDetector`:
//! adaptive kernel density p-values over a sliding window of the last
//! `historySize` values (see [`crate::kde`] for the density and its
//! differences from ML.NET).
//!
//! # The algorithm, per row `x` (scored before it is learned)
//! 1. `P(X >= x)` under the kernel density of the window (the right tail).
//! 2. The score is the p-value of the tail `mode` names, clamped to
//!    `[1e-8, 1 - 1e-8]`: `spikes` the right tail `P(X >= x)`, `dips` the
//!    left tail `1 - P(X >= x)`, `spikesanddips` the smaller of the two.
//!    Lower is more anomalous (ASA's `Score`).
//! 3. The row is an anomaly when `score <= 1 - confidence / 100` (ML.NET:
//!    `AlertThreshold = 1 - Confidence / 100`, alert on
//!    `pValue <= AlertThreshold`). So `confidence` 95 in `spikesanddips`
//!    flags either tail beyond 5% (10% in all), and `confidence` 100 never
//!    flags (the p-value is at least 1e-8).
//! 4. `x` joins the window, dropping the oldest value once `historySize`
//!    are held.
//!
//! # Defaults and warm-up
//! * `confidence` 95 (ASA's range [1, 100]; ML.NET's own default is 99),
//!   `historySize` 120 (at least 3), `mode` `spikesanddips`,
//!   `historyDuration` 0 (no time limit; see below).
//! * `minTrainingSize` defaults to `historySize - 1`: ML.NET raises no alert
//!   until its window is full *after* adding the row, i.e. the first row
//!   that may be flagged is the `historySize`-th, scored against the
//!   `historySize - 1` values before it. Until then rows have status
//!   `warmup` (learned, score NaN; ML.NET still reports their p-values).
//!   A smaller `minTrainingSize` scores earlier, against a partial window.
//!   A larger one only waits longer (the window still holds `historySize`).
//! * NaN and infinite values are `skipped`: neither scored nor learned
//!   (ML.NET likewise leaves NaN raw scores out of its window).
//!
//! # `historyDuration`: ASA's `LIMIT DURATION`
//! ASA's `OVER (LIMIT DURATION(unit, n))` bounds the history in time as
//! well: "the model only considers event history over the sliding window
//! ... as the sliding window moves, old values are evicted". With
//! `historyDuration` set (a duration string such as `"120s"`; 0, the
//! default, is no time limit) the window holds only values learned at most
//! `historyDuration` before the row's event time (`t >= ts - d`, inclusive),
//! and at most `historySize` of them; older ones are dropped before the row
//! is scored. Inclusive, so that at ASA's documented sizing (`d` = the time
//! `historySize` events take, e.g. 120 events at one per second and
//! `LIMIT DURATION(second, 120)`) the time limit keeps exactly the
//! `historySize` values the count keeps, and only bites when events slow
//! down or stop. Event times are the rows' timestamps (microseconds); a row
//! earlier than the latest learned one counts as at that latest time.
//! * `minTrainingSize` still counts learned rows over the key's life (the
//!   default, `historySize - 1`, no longer means "the window is full": a
//!   time-limited window may never fill).
//! * A gap longer than `historyDuration` empties the window. The next row
//!   has nothing to be scored against: it is learned with status `warmup`
//!   (score NaN, never flagged) and starts a new window; the rows after it
//!   are scored against the (small, growing) window, as after warm-up with
//!   a small `minTrainingSize`.
//! * ASA fills gaps by imputing values (its docs say so, without saying
//!   how); we do not impute: the window just holds fewer values.
//!
//! # Cost
//! `historySize` `erf`s per row: about 2 us per row at 120 and 19 us at
//! 1200 (native, release); the state is the window (16 bytes per value:
//! the value and its event time).
//!
//! # Output ([`Step`])
//! `score` = the p-value above; `anomaly`; `up` when `P(X >= x) <= 1/2`
//! (the row lies at or above the density's median: a spike side);
//! `forecast` = the window mean (the density's mean); `lower`/`upper` NaN
//! (the density's quantiles are not computed: each would need a root
//! search costing several times the p-value itself).
//!
//! # API
//! ```
//! use wasmad_core::config::{Reader, parse_object};
//! use wasmad_core::spikedip::SpikeDip;
//! let obj = parse_object(r#"{"confidence":99,"historySize":30,"mode":"spikes"}"#).unwrap();
//! let reader = Reader::new(SpikeDip::NAME, &obj, SpikeDip::specs()).unwrap();
//! let (_common, params) = SpikeDip::read(&reader).unwrap();
//! let mut model = SpikeDip::new(&params);          // one per key
//! for i in 0..40 {
//!     let step = model.update((i % 5) as f64, &params);
//!     assert!(!step.anomaly);
//! }
//! assert!(model.update(100.0, &params).anomaly);
//! ```
//! With event times (what the detector's row adapter calls):
//! `model.update_at(x, ts_micros, &params)`; [`SpikeDip::update`] is
//! `update_at` with every row at time 0 (no time limit ever applies).
//!
//! Keys: [`SpikeDip::specs`] (no `threshold` or `direction`: `confidence`
//! and `mode` replace them, so do not call `Reader::common`, use
//! [`SpikeDip::read`] or [`SpikeDip::params`]); the effective config:
//! [`SpikeDip::params_json`]. Per row: [`SpikeDip::update_at`] returns a
//! [`Step`] (`Step::flags()` gives the flag byte). State: `Serialize +
//! Deserialize + Clone`; guard restores with [`SpikeDip::is_consistent`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, Direction, ParamSpec, Reader, Span};
use crate::error::{Error, Result};
use crate::flags::Status;
use crate::kde::{KdeWindow, Side, tail_p, time_cutoff};
pub use crate::step::Step;

/// Default `historySize`.
pub const HISTORY_DEFAULT: u64 = 120;
/// The largest accepted `historySize` (each row costs `historySize` `erf`s).
pub const HISTORY_MAX: u64 = 100_000;
/// The accepted `mode` values.
pub const MODES: &[&str] = &["spikes", "dips", "spikesanddips"];

/// Parameters of [`SpikeDip`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeDipParams {
    /// `confidence` in [1, 100].
    pub confidence: f64,
    /// `historySize`: values in the window.
    pub history_size: u64,
    /// `historyDuration` in microseconds: the window keeps only values
    /// learned at most this long before the row (0: no time limit).
    pub history_duration: u64,
    /// The tail `mode` selects.
    pub side: Side,
    /// Values a key learns before its rows are scored.
    pub min_training_size: u64,
}

impl SpikeDipParams {
    /// The p-value at or below which a row is flagged: `1 - confidence/100`.
    pub fn alpha(&self) -> f64 {
        1.0 - self.confidence / 100.0
    }

    /// The config spelling of the mode.
    pub fn mode(&self) -> &'static str {
        match self.side {
            Side::Right => "spikes",
            Side::Left => "dips",
            Side::Both => "spikesanddips",
        }
    }
}

/// One key's state: the window of learned values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeDip {
    seen: u64,
    window: KdeWindow,
}

/// The `minTrainingSize` spec shared by the KDE detectors.
pub(crate) fn min_training_spec() -> ParamSpec {
    ParamSpec::integer(
        "minTrainingSize",
        Some(HISTORY_DEFAULT - 1),
        "Rows each key learns before it is scored (status 'warmup' until then). Default: historySize - 1, as ML.NET/ASA raise no alert before the window is full.",
    )
    .min(2.0)
    .max(1e9)
}

/// The `confidence` spec shared by the KDE detectors.
pub(crate) fn confidence_spec(default: f64, description: &'static str) -> ParamSpec {
    ParamSpec::number("confidence", Some(default), description)
        .min(1.0)
        .max(100.0)
}

/// The `historySize` spec shared by the KDE detectors.
pub(crate) fn history_spec(description: &'static str) -> ParamSpec {
    ParamSpec::integer("historySize", Some(HISTORY_DEFAULT), description)
        .min(3.0)
        .max(HISTORY_MAX as f64)
}

/// The `historyDuration` spec shared by the KDE detectors.
pub(crate) fn history_duration_spec(description: &'static str) -> ParamSpec {
    ParamSpec::duration("historyDuration", description)
}

/// `historyDuration` in microseconds (0: no time limit). The key is a
/// [`crate::config::Kind::Duration`] so that `describe()` presents it as a
/// duration, but of its row counts only 0 is meaningful (a length in rows
/// is `historySize`); any other number is an error naming the key.
pub(crate) fn read_history_duration(reader: &Reader<'_>, algorithm: &str) -> Result<u64> {
    match reader.span("historyDuration") {
        Ok(Span::Micros(us)) => Ok(us),
        Ok(Span::Rows(0)) => Ok(0),
        // A number of rows, or not a duration at all.
        _ => Err(Error::InvalidConfig(format!(
            "'historyDuration' = {} is not a duration for algorithm '{algorithm}'; accepted: a duration string such as \"120s\", \"20m\" or \"1h\" (units: us, ms, s, m, h, d; at most about 31 years), or 0 for no time limit (the window's length in rows is 'historySize')",
            reader.raw("historyDuration").unwrap_or(&Value::Null)
        ))),
    }
}

/// `historyDuration` as the config spells it: 0, or a duration string.
pub(crate) fn history_duration_json(us: u64) -> Value {
    if us == 0 {
        Value::from(0)
    } else {
        Span::Micros(us).to_json()
    }
}

/// `minTrainingSize`: set, or `historySize - 1`.
pub(crate) fn read_min_training(reader: &Reader<'_>, history: u64) -> Result<u64> {
    Ok(if reader.is_set("minTrainingSize") {
        reader.integer_or_default("minTrainingSize")?
    } else {
        history - 1
    })
}

impl SpikeDip {
    /// The `algorithm` name in configs.
    pub const NAME: &'static str = "spike_dip";
    /// One line for `describe()`.
    pub const DESCRIPTION: &'static str = "Azure Stream Analytics AnomalyDetection_SpikeAndDip (ML.NET IidSpikeDetector): kernel density p-value of each row against the last historySize rows; score = p-value, flagged when <= 1 - confidence/100.";

    /// Every config key with its default.
    pub fn specs() -> Vec<ParamSpec> {
        vec![
            confidence_spec(
                95.0,
                "Confidence in percent, in [1, 100]: a row is flagged when its p-value is at most 1 - confidence/100 (100: never).",
            ),
            history_spec(
                "Values in the sliding window the kernel density is estimated from (ASA historySize).",
            ),
            history_duration_spec(
                "ASA's LIMIT DURATION: a duration such as \"120s\" or \"20m\"; the window then holds only values learned at most this long before the row's event time (and at most historySize of them). 0: no time limit.",
            ),
            ParamSpec::choice(
                "mode",
                "spikesanddips",
                MODES,
                "Which tail is scored: spikes (P(X >= x)), dips (P(X <= x)) or spikesanddips (the smaller).",
            ),
            min_training_spec(),
        ]
    }

    /// Read and validate the keys. Sets every field of `common`:
    /// `min_training_size`, `threshold` = the p-value threshold
    /// `1 - confidence/100`, `direction` = up / down / both for spikes /
    /// dips / spikesanddips.
    pub fn params(reader: &Reader<'_>, common: &mut Common) -> Result<SpikeDipParams> {
        let confidence = reader.number_or_default("confidence")?;
        let history_size = reader.integer_or_default("historySize")?;
        let history_duration = read_history_duration(reader, SpikeDip::NAME)?;
        let side = match reader.choice("mode")? {
            "spikes" => Side::Right,
            "dips" => Side::Left,
            _ => Side::Both,
        };
        let min_training_size = read_min_training(reader, history_size)?;
        let p = SpikeDipParams {
            confidence,
            history_size,
            history_duration,
            side,
            min_training_size,
        };
        common.min_training_size = min_training_size;
        common.threshold = p.alpha();
        common.direction = match side {
            Side::Right => Direction::Up,
            Side::Left => Direction::Down,
            Side::Both => Direction::Both,
        };
        Ok(p)
    }

    /// [`SpikeDip::params`] with a fresh [`Common`].
    pub fn read(reader: &Reader<'_>) -> Result<(Common, SpikeDipParams)> {
        let mut common = Common::ZERO;
        let p = SpikeDip::params(reader, &mut common)?;
        Ok((common, p))
    }

    /// The effective config keys (every default filled in).
    pub fn params_json(p: &SpikeDipParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("confidence".into(), p.confidence.into());
        m.insert("historySize".into(), p.history_size.into());
        m.insert(
            "historyDuration".into(),
            history_duration_json(p.history_duration),
        );
        m.insert("mode".into(), p.mode().into());
        m.insert("minTrainingSize".into(), p.min_training_size.into());
        m
    }

    /// A fresh, untrained key.
    pub fn new(_: &SpikeDipParams) -> Self {
        SpikeDip {
            seen: 0,
            window: KdeWindow::default(),
        }
    }

    /// Values learned so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// [`SpikeDip::update_at`] for callers without event times: every row at
    /// time 0, so `historyDuration` never drops a value.
    #[inline]
    pub fn update(&mut self, x: f64, p: &SpikeDipParams) -> Step {
        self.update_at(x, 0, p)
    }

    /// Score `x`, a row at event time `ts` (microseconds), against the
    /// window, then learn it (see the module doc). With `historyDuration`,
    /// values learned more than that before `ts` leave the window first.
    #[inline]
    pub fn update_at(&mut self, x: f64, ts: i64, p: &SpikeDipParams) -> Step {
        if !x.is_finite() {
            return Step::missing(Status::Skipped);
        }
        let t = self.window.effective_time(ts);
        if let Some(cutoff) = time_cutoff(t, p.history_duration) {
            self.window.evict_before(cutoff);
        }
        // Warm-up, or nothing left in the window to score against (a gap
        // longer than historyDuration): learned, not scored.
        if self.seen < p.min_training_size || self.window.len() == 0 {
            self.learn(x, t, p);
            return Step::missing(Status::Warmup);
        }
        let (right, mean) = self.window.right_p(x);
        let score = tail_p(right, p.side);
        self.learn(x, t, p);
        Step {
            status: Status::Ok,
            score,
            anomaly: score <= p.alpha(),
            up: right <= 0.5 || right.is_nan(),
            forecast: mean,
            lower: f64::NAN,
            upper: f64::NAN,
        }
    }

    fn learn(&mut self, x: f64, t: i64, p: &SpikeDipParams) {
        self.window.push(x, t, p.history_size);
        self.seen = self.seen.saturating_add(1);
    }

    /// Whether a deserialised state fits `params`.
    pub fn is_consistent(&self, p: &SpikeDipParams) -> bool {
        let full = self.seen.min(p.history_size);
        self.window.is_consistent(p.history_size)
            && if p.history_duration == 0 {
                self.window.len() as u64 == full
            } else {
                // The time limit may have dropped values.
                self.window.len() as u64 <= full
            }
    }
}
