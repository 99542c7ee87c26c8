//! `ensemble`: several detectors over the same rows, combined through their
//! calibrated anomaly probabilities.
//!
//! ```json
//! {"algorithm": "ensemble",
//!  "members": [{"algorithm": "zscore", "likelihood": {"window": 20000}},
//!              {"algorithm": "rcf", "numberOfTrees": 50, "shingleSize": 4}],
//!  "combine": "max", "threshold": 0.99999, "cooldown": 100}
//! ```
//!
//! Each member is a whole detector (any algorithm but `ensemble`) with the
//! likelihood layer on ([`crate::likelihood`]; a member without `likelihood`
//! gets its defaults), so every member reports a probability on the same
//! scale however different its raw scores are: a z-score, a forest's depth
//! score, a p-value. Per row:
//!
//! 1. every member scores then learns the row, as it would alone;
//! 2. the row's probability is the maximum (`combine: "max"`, an alarm from
//!    any member) or the mean (`"mean"`, a vote) of the probabilities of the
//!    members that scored it (`ok`); with none, the row is `warmup` while any
//!    member warms up, else `skipped`;
//! 3. the row is a candidate when that probability reaches `threshold` on a
//!    side `direction` allows (the side of the most probable member), then
//!    the ensemble's own `minDeviation`, `minConsecutive`, `cooldown` and
//!    `severity` apply as for any detector ([`crate::alert`]). Members' own
//!    alert keys would act on flags the ensemble ignores, so a member that
//!    sets them is refused.
//!
//! Output: `score` and `anomaly_probability` are the combined probability;
//! `forecast_value` and the band come from the first member that scored the
//! row and has a forecast; severity compares the probability's Gaussian z
//! with the z of `threshold`. Snapshots hold every member's state.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert::{Alerts, KeyState};
use crate::config::{Direction, ParamSpec, Reader};
use crate::detector::Detector;
use crate::engine::{Input, Scores};
use crate::error::{Error, Result};
use crate::flags::{self, Status};
use crate::gauss;

/// The `algorithm` name.
pub const NAME: &str = "ensemble";
/// One line for `describe()`.
pub const DESCRIPTION: &str = "Several detectors over the same rows, each calibrated by its likelihood layer; flags when the max (or mean) of their anomaly probabilities reaches threshold.";
/// Most members an ensemble takes.
pub const MAX_MEMBERS: usize = 8;

/// How member probabilities combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combine {
    /// The largest probability: any member can raise an alert.
    Max,
    /// The mean probability: members vote.
    Mean,
}

impl Combine {
    fn as_str(self) -> &'static str {
        match self {
            Combine::Max => "max",
            Combine::Mean => "mean",
        }
    }
}

/// An ensemble detector (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ensemble {
    pub(crate) members: Vec<Detector>,
    pub(crate) combine: Combine,
    /// Flag from this combined probability.
    pub(crate) threshold: f64,
    /// `gauss::quantile(threshold)`, for severity. Derived.
    pub(crate) z_threshold: f64,
    pub(crate) direction: Direction,
    /// The members' default warm-up, when set.
    pub(crate) min_training_size: Option<u64>,
    pub(crate) alerts: Alerts,
    /// One per key.
    pub(crate) states: Vec<KeyState>,
    /// Per-member output buffers, reused across batches.
    #[serde(skip)]
    scratch: Vec<Scores>,
}

/// The ensemble's keys, alert keys included.
pub fn specs() -> Vec<ParamSpec> {
    let mut s = vec![
        ParamSpec::list(
            "members",
            "The member detectors: 1 to 8 config objects of any algorithm but ensemble, each calibrated by its likelihood layer (on by default).",
        ),
        ParamSpec::choice(
            "combine",
            "max",
            &["max", "mean"],
            "How member probabilities combine: the largest (any member alarms) or the mean (a vote).",
        ),
        ParamSpec::number(
            "threshold",
            Some(0.9999),
            "Flag a row when its combined anomaly probability is at least this.",
        )
        .above(0.5)
        .below(1.0),
        ParamSpec::integer(
            "minTrainingSize",
            None,
            "When set, the warm-up (rows per key) of every member that does not set its own.",
        )
        .min(2.0)
        .max(1e9),
        ParamSpec::choice(
            "direction",
            "both",
            &["both", "up", "down"],
            "Which deviations are flagged (the side of the most probable member): above, below, or both.",
        ),
    ];
    s.extend(
        Alerts::specs()
            .into_iter()
            .filter(|p| p.key != "likelihood"),
    );
    s
}

/// Build one member from its config object.
fn member(i: usize, v: &Value, min_training_size: Option<u64>) -> Result<Detector> {
    let Value::Object(obj) = v else {
        return Err(Error::InvalidConfig(format!(
            "ensemble member {i} must be a detector config object such as {{\"algorithm\":\"zscore\"}}, got {v}"
        )));
    };
    let algorithm = obj
        .get("algorithm")
        .and_then(Value::as_str)
        .unwrap_or("zscore")
        .to_ascii_lowercase();
    let fail =
        |msg: String| Error::InvalidConfig(format!("ensemble member {i} ({algorithm}): {msg}"));
    if algorithm == NAME {
        return Err(fail("an ensemble cannot be a member of an ensemble".into()));
    }
    if obj.contains_key("partitionBy") {
        return Err(fail(
            "'partitionBy' belongs on the ensemble (all members share its keys), not on a member"
                .into(),
        ));
    }
    let mut obj = obj.clone();
    if let Some(n) = min_training_size {
        obj.entry("minTrainingSize").or_insert(n.into());
    }
    match obj.get("likelihood") {
        None | Some(Value::Null) => {
            obj.insert("likelihood".into(), Value::Bool(true));
        }
        Some(Value::Bool(false)) => {
            return Err(fail(
                "'likelihood' cannot be false: the ensemble combines its members' calibrated probabilities".into(),
            ));
        }
        Some(_) => {}
    }
    let d = Detector::from_config(&Value::Object(obj).to_string())
        .map_err(|e| fail(e.message().to_string()))?;
    let a = d.alerts();
    let defaults = Alerts::default();
    for (key, default) in [
        (
            "minConsecutive",
            a.min_consecutive == defaults.min_consecutive,
        ),
        ("cooldown", a.cooldown == defaults.cooldown),
        ("minDeviation", a.min_deviation == defaults.min_deviation),
    ] {
        if !default {
            return Err(fail(format!(
                "'{key}' acts on the ensemble's alerts: set it on the ensemble, not on a member"
            )));
        }
    }
    Ok(d)
}

impl Ensemble {
    /// Build from a config object.
    pub fn build(obj: &Map<String, Value>) -> Result<Ensemble> {
        let reader = Reader::new(NAME, obj, specs())?;
        let list = match reader.raw("members") {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_MEMBERS => a,
            Some(Value::Array(a)) => {
                return Err(Error::InvalidConfig(format!(
                    "'members' of algorithm 'ensemble' holds {} detectors; accepted: 1 to {MAX_MEMBERS}",
                    a.len()
                )));
            }
            Some(other) => {
                return Err(Error::InvalidConfig(format!(
                    "'members' of algorithm 'ensemble' must be a list of detector configs, got {other}"
                )));
            }
            None => {
                return Err(Error::InvalidConfig(
                    "algorithm 'ensemble' needs 'members': a list of detector configs such as [{\"algorithm\":\"zscore\"},{\"algorithm\":\"rcf\"}]".into(),
                ));
            }
        };
        let min_training_size = reader.integer("minTrainingSize")?;
        let members = list
            .iter()
            .enumerate()
            .map(|(i, v)| member(i, v, min_training_size))
            .collect::<Result<Vec<_>>>()?;
        let combine = match reader.choice("combine")? {
            "mean" => Combine::Mean,
            _ => Combine::Max,
        };
        let threshold = reader.number_or_default("threshold")?;
        let direction = match reader.choice("direction")? {
            "up" => Direction::Up,
            "down" => Direction::Down,
            _ => Direction::Both,
        };
        Ok(Ensemble {
            members,
            combine,
            threshold,
            z_threshold: gauss::quantile(threshold),
            direction,
            min_training_size,
            alerts: Alerts::read(&reader)?,
            states: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Keys held (every member holds the same keys).
    pub fn key_count(&self) -> usize {
        self.members.first().map_or(0, Detector::key_count)
    }

    /// Whether rows of more than one value are accepted: when every member
    /// takes them.
    pub fn multivariate(&self) -> bool {
        self.members.iter().all(Detector::multivariate)
    }

    /// Refuse a batch every member would not take, before any member learns
    /// from it (a member failing half-way would leave the others ahead).
    pub(crate) fn check_input(&self, input: &Input<'_>) -> Result<()> {
        input.validate(self.key_count())?;
        input.require_timestamps("ensemble")?;
        self.members
            .iter()
            .try_for_each(|m| m.check_width(input.width))
    }

    /// Give the keys `ids` fresh models and alert state in every member.
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        crate::engine::check_reset(ids, self.key_count())?;
        for m in &mut self.members {
            m.reset_keys(ids)?;
        }
        for &k in ids {
            if let Some(s) = self.states.get_mut(k as usize) {
                *s = KeyState::default();
            }
        }
        Ok(())
    }

    /// The effective config, members' included.
    pub fn config_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("algorithm".into(), NAME.into());
        m.insert(
            "members".into(),
            Value::Array(self.members.iter().map(Detector::config_value).collect()),
        );
        m.insert("combine".into(), self.combine.as_str().into());
        m.insert("threshold".into(), self.threshold.into());
        m.insert("minTrainingSize".into(), self.min_training_size.into());
        m.insert("direction".into(), self.direction.as_str().into());
        m.extend(
            self.alerts
                .to_json()
                .into_iter()
                .filter(|(k, _)| k != "likelihood"),
        );
        Value::Object(m)
    }

    /// Score then learn every row of `input` with every member, then combine.
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        self.check_input(input)?;
        self.scratch
            .resize_with(self.members.len(), Scores::default);
        for (m, s) in self.members.iter_mut().zip(self.scratch.iter_mut()) {
            m.process(input, s)?;
        }
        let n = input.rows();
        out.resize(n);
        out.probability.resize(n, f64::NAN);
        self.states.resize_with(self.key_count(), KeyState::default);
        for i in 0..n {
            let k = input.keys.get(i).map_or(0, |k| *k as usize);
            self.combine_row(input, i, k, out);
        }
        Ok(())
    }

    /// Row `i` (of key `k`) of the members' outputs into row `i` of `out`.
    fn combine_row(&mut self, input: &Input<'_>, i: usize, k: usize, out: &mut Scores) {
        let (mut best, mut best_p, mut sum, mut scored) = (None, f64::NEG_INFINITY, 0.0, 0usize);
        let mut band = None;
        let mut warming = false;
        for (j, s) in self.scratch.iter().enumerate() {
            let p = s.probability.get(i).copied().unwrap_or(f64::NAN);
            match Status::from_flags(s.flags[i]) {
                Status::Ok if !p.is_nan() => {
                    if p > best_p {
                        (best, best_p) = (Some(j), p);
                    }
                    sum += p;
                    scored += 1;
                    if band.is_none() && !s.forecast[i].is_nan() {
                        band = Some(j);
                    }
                }
                Status::Warmup => warming = true,
                _ => {}
            }
        }
        let Some(best) = best else {
            out.forecast[i] = f64::NAN;
            out.lower[i] = f64::NAN;
            out.upper[i] = f64::NAN;
            out.score[i] = f64::NAN;
            out.flags[i] = if warming {
                flags::WARMUP
            } else {
                flags::SKIPPED
            };
            return;
        };
        let p = match self.combine {
            Combine::Max => best_p,
            Combine::Mean => sum / scored as f64,
        };
        let (forecast, lower, upper) = match band {
            Some(j) => {
                let s = &self.scratch[j];
                (s.forecast[i], s.lower[i], s.upper[i])
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        out.forecast[i] = forecast;
        out.lower[i] = lower;
        out.upper[i] = upper;
        out.score[i] = p;
        out.probability[i] = p;
        let up = flags::is_up(self.scratch[best].flags[i]);
        let side = self.direction.allows(up);
        let deviates = forecast.is_nan()
            || input.width != 1
            || self.alerts.deviates(input.values[i], forecast);
        let candidate = side && p >= self.threshold && deviates;
        let flagged = self.states[k].admit(candidate, input.timestamps[i], &self.alerts);
        let mut f = if up { flags::UP } else { 0 };
        if flagged {
            let ratio = gauss::quantile(p) / self.z_threshold;
            f |= flags::ANOMALY | self.alerts.grade(ratio).bits();
        }
        out.flags[i] = f;
    }

    /// Check a deserialised state against its config.
    pub fn is_consistent(&self) -> bool {
        let keys = self.key_count();
        !self.members.is_empty()
            && self.members.len() <= MAX_MEMBERS
            && self
                .members
                .iter()
                .all(|m| m.algorithm() != NAME && m.key_count() == keys && m.is_consistent())
            && self.z_threshold.to_bits() == gauss::quantile(self.threshold).to_bits()
            && self.alerts.is_consistent()
            && self.alerts.likelihood.is_none()
            && self.states.len() <= keys
            && self.states.iter().all(|s| s.is_consistent(&self.alerts))
    }
}
