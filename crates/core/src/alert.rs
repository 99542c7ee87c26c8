//! What turns a scored row into an alert, for every detector: the optional
//! likelihood layer ([`crate::likelihood`]), alert hygiene (`minConsecutive`,
//! `cooldown`, `minDeviation`) and severity grading. All per key, all in
//! snapshots.
//!
//! A row of a key is flagged when, in order:
//! 1. it is a *candidate*: outside the band on an allowed side (raw mode), or
//!    with likelihood on, its anomaly probability is at least
//!    `likelihood.threshold` and it lies on an allowed side of the forecast;
//! 2. it departs from the forecast by more than `minDeviation.absolute` and
//!    by more than `minDeviation.relative × |forecast|`;
//! 3. it ends a run of at least `minConsecutive` consecutive candidate rows
//!    of the key (skipped rows neither extend nor break a run);
//! 4. the key is not cooling down: no flag within the last `cooldown` scored
//!    rows of the key, or, for a duration, no flag at a timestamp less than
//!    `cooldown` before this row's.
//!
//! A flagged row's severity is `high` when its score is at least
//! `severity.high` times the threshold, `medium` from `severity.medium`
//! times, else `low`. Raw mode compares `|score|` with `threshold`; with
//! likelihood, the standardised recent average (whose Gaussian probability is
//! the row's probability) with the one `likelihood.threshold` stands for
//! (3.72 for 0.9999).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ParamSpec, Reader, Span};
use crate::error::Result;
use crate::flags::Severity;
use crate::likelihood::{LikelihoodParams, LikelihoodState};

/// `minDeviation`: floors on `|x - forecast|`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinDeviation {
    /// `|x - forecast|` must exceed this.
    pub absolute: f64,
    /// `|x - forecast|` must exceed this times `|forecast|`.
    pub relative: f64,
}

/// `severity`: band multiples of the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeverityBands {
    /// From this multiple of the threshold, `medium`.
    pub medium: f64,
    /// From this multiple, `high`.
    pub high: f64,
}

/// Likelihood, hygiene and severity settings, shared by every key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Alerts {
    /// The likelihood layer, when on.
    pub likelihood: Option<LikelihoodParams>,
    /// Consecutive candidate rows needed before a flag (1: no constraint).
    pub min_consecutive: u64,
    /// Quiet period after a flag (`Rows(0)`: none).
    pub cooldown: Span,
    /// Floors on the deviation.
    pub min_deviation: MinDeviation,
    /// Severity bands.
    pub severity: SeverityBands,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            likelihood: None,
            min_consecutive: 1,
            cooldown: Span::Rows(0),
            min_deviation: MinDeviation {
                absolute: 0.0,
                relative: 0.0,
            },
            severity: SeverityBands {
                medium: 1.5,
                high: 2.0,
            },
        }
    }
}

/// The config keys of [`Alerts`], in the order `describe()` lists them.
pub const KEYS: &[&str] = &[
    "likelihood",
    "minConsecutive",
    "cooldown",
    "minDeviation",
    "severity",
];

impl Alerts {
    /// The specs of [`KEYS`]; every algorithm takes them.
    pub fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional_object(
                "likelihood",
                LikelihoodParams::specs(),
                "Report a calibrated anomaly probability per row (anomaly_probability) and flag on it: true for defaults, or an object.",
            ),
            ParamSpec::integer(
                "minConsecutive",
                Some(1),
                "Flag only from the k-th consecutive anomalous row of a key.",
            )
            .min(1.0)
            .max(1e6),
            ParamSpec::duration(
                "cooldown",
                "After a flag, flag nothing more for the key during this many scored rows, or this long (a duration such as \"30m\").",
            )
            .max(1e9),
            ParamSpec::object(
                "minDeviation",
                vec![
                    ParamSpec::number(
                        "absolute",
                        Some(0.0),
                        "|value - forecast| must exceed this to flag.",
                    )
                    .min(0.0),
                    ParamSpec::number(
                        "relative",
                        Some(0.0),
                        "|value - forecast| must exceed this times |forecast| to flag.",
                    )
                    .min(0.0),
                ],
                "Floors on the deviation, in the value's units, below which nothing is flagged.",
            ),
            ParamSpec::object(
                "severity",
                vec![
                    ParamSpec::number(
                        "medium",
                        Some(1.5),
                        "An anomaly at least this many times the threshold is medium.",
                    )
                    .min(1.0)
                    .max(1e6),
                    ParamSpec::number(
                        "high",
                        Some(2.0),
                        "An anomaly at least this many times the threshold is high (at least medium).",
                    )
                    .min(1.0)
                    .max(1e6),
                ],
                "Severity bands of flagged rows, as multiples of the threshold (with likelihood, of its Gaussian z).",
            ),
        ]
    }

    /// Read the keys of [`KEYS`].
    pub fn read(r: &Reader<'_>) -> Result<Alerts> {
        // The ensemble does not take `likelihood`: its members calibrate.
        let likelihood = match r.knows("likelihood") {
            true => match r.object("likelihood")? {
                Some(l) => Some(LikelihoodParams::read(&l)?),
                None => None,
            },
            false => None,
        };
        let mut min_deviation = MinDeviation {
            absolute: 0.0,
            relative: 0.0,
        };
        if let Some(m) = r.object("minDeviation")? {
            min_deviation.absolute = m.number_or_default("absolute")?;
            min_deviation.relative = m.number_or_default("relative")?;
        }
        let mut severity = SeverityBands {
            medium: 1.5,
            high: 2.0,
        };
        if let Some(s) = r.object("severity")? {
            severity.medium = s.number_or_default("medium")?;
            severity.high = s.number_or_default("high")?;
            if severity.high < severity.medium {
                return Err(s.invalid(&format!(
                    "'high' ({}) must be at least 'medium' ({})",
                    severity.high, severity.medium
                )));
            }
        }
        Ok(Alerts {
            likelihood,
            min_consecutive: r.integer_or_default("minConsecutive")?,
            cooldown: r.span("cooldown")?,
            min_deviation,
            severity,
        })
    }

    /// The settings as JSON key/values, every default filled in.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "likelihood".into(),
            self.likelihood.map_or(Value::Null, |l| l.to_json()),
        );
        m.insert("minConsecutive".into(), self.min_consecutive.into());
        m.insert("cooldown".into(), self.cooldown.to_json());
        m.insert(
            "minDeviation".into(),
            serde_json::json!({
                "absolute": self.min_deviation.absolute,
                "relative": self.min_deviation.relative,
            }),
        );
        m.insert(
            "severity".into(),
            serde_json::json!({"medium": self.severity.medium, "high": self.severity.high}),
        );
        m
    }

    /// Whether keys need per-key state (likelihood, runs or cooldowns).
    /// Without, the engine takes its plain path.
    pub fn stateful(&self) -> bool {
        self.likelihood.is_some() || self.min_consecutive > 1 || self.cooldown != Span::Rows(0)
    }

    /// Whether a deviation clears the `minDeviation` floors.
    #[inline]
    pub fn deviates(&self, x: f64, forecast: f64) -> bool {
        let d = (x - forecast).abs();
        d > self.min_deviation.absolute && d > self.min_deviation.relative * forecast.abs()
    }

    /// The severity of a flagged row whose score is `ratio` times the threshold.
    #[inline]
    pub fn grade(&self, ratio: f64) -> Severity {
        if ratio >= self.severity.high {
            Severity::High
        } else if ratio >= self.severity.medium {
            Severity::Medium
        } else {
            Severity::Low
        }
    }

    /// Whether derived settings are consistent (a restored snapshot).
    pub fn is_consistent(&self) -> bool {
        self.min_consecutive >= 1
            && self.severity.medium >= 1.0
            && self.severity.high >= self.severity.medium
            && self.likelihood.is_none_or(|l| l.is_consistent())
    }
}

/// One key's alert state: its likelihood state, the current run of
/// candidate rows and its cooldown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Likelihood state (empty when the layer is off).
    pub likelihood: LikelihoodState,
    /// Consecutive candidate rows up to the last scored row.
    run: u64,
    /// Scored rows still to cool down (row cooldowns).
    cooling: u64,
    /// Timestamp of the last flag (duration cooldowns).
    last_flag: Option<i64>,
}

impl KeyState {
    /// Steps 3 and 4 of the module docs for one scored row: whether a
    /// candidate (or not) at `ts` is flagged, updating the run and cooldown.
    #[inline]
    pub fn admit(&mut self, candidate: bool, ts: i64, a: &Alerts) -> bool {
        self.run = if candidate {
            self.run.saturating_add(1)
        } else {
            0
        };
        let cooling = match a.cooldown {
            Span::Rows(_) => {
                let c = self.cooling > 0;
                self.cooling = self.cooling.saturating_sub(1);
                c
            }
            Span::Micros(d) => self
                .last_flag
                .is_some_and(|t| (ts as i128) < t as i128 + d as i128),
        };
        let flag = candidate && self.run >= a.min_consecutive && !cooling;
        if flag {
            match a.cooldown {
                Span::Rows(n) => self.cooling = n,
                Span::Micros(_) => self.last_flag = Some(ts),
            }
        }
        flag
    }

    /// Whether a deserialised state fits the settings.
    pub fn is_consistent(&self, a: &Alerts) -> bool {
        let cooldown_ok = match a.cooldown {
            Span::Rows(n) => self.cooling <= n && self.last_flag.is_none(),
            Span::Micros(_) => self.cooling == 0,
        };
        let likelihood_ok = match &a.likelihood {
            Some(p) => self.likelihood.is_consistent(p),
            None => self.likelihood == LikelihoodState::default(),
        };
        cooldown_ok && likelihood_ok
    }
}
