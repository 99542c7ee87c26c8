//! `mad`: rolling median and median absolute deviation (robust z-score).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Common, ParamSpec, Reader, common_specs};
use crate::error::{Error, Result};
use crate::model::{Baseline, Model};

/// Consistency constant: 1.4826 * MAD estimates the standard deviation of
/// normally distributed data.
pub const MAD_SCALE: f64 = 1.4826;
/// sqrt(pi / 2): mean absolute deviation * this estimates the standard
/// deviation of normal data; used when more than half the window is identical
/// (MAD = 0) but the window is not constant.
pub const MEAN_AD_SCALE: f64 = 1.253_314_137_315_500_3;

/// Parameters of [`Mad`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MadParams {
    /// Rolling window in rows.
    pub window: u64,
}

/// One key's state: values learned and the rolling window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mad {
    seen: u64,
    window: RollingWindow,
}

/// A rolling window kept twice: in arrival order (to expire the oldest) and
/// sorted (for the median, O(log w) search plus O(w) shift per row). Shared
/// with [`crate::robust`] (one per column). Serialises as its two fields in
/// order, so [`Mad`] snapshots are unchanged by its introduction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RollingWindow {
    ring: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl RollingWindow {
    /// An empty window.
    pub fn new() -> Self {
        RollingWindow::default()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The median of the window (NaN when empty).
    pub fn median(&self) -> f64 {
        if self.sorted.is_empty() {
            f64::NAN
        } else {
            median_sorted(&self.sorted)
        }
    }

    /// Median and robust scale: `1.4826 * MAD`, or, when the MAD is 0 (more
    /// than half the window identical), `sqrt(pi/2) *` the mean absolute
    /// deviation from the median (0 only for a constant window). NaN for an
    /// empty window.
    pub fn baseline(&self) -> Baseline {
        let s = &self.sorted;
        if s.is_empty() {
            return Baseline {
                center: f64::NAN,
                scale: f64::NAN,
            };
        }
        let m = median_sorted(s);
        let mad = mad_sorted(s, m);
        let scale = if mad > 0.0 {
            MAD_SCALE * mad
        } else {
            let mean_ad = s.iter().map(|v| (v - m).abs()).sum::<f64>() / s.len() as f64;
            MEAN_AD_SCALE * mean_ad
        };
        Baseline { center: m, scale }
    }

    /// Append `x`, first expiring the oldest value once `window` are held.
    pub fn push(&mut self, x: f64, window: u64) {
        if self.ring.len() as u64 >= window
            && let Some(old) = self.ring.pop_front()
        {
            let at = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
        self.ring.push_back(x);
        let at = self.sorted.partition_point(|v| v.total_cmp(&x).is_lt());
        self.sorted.insert(at, x);
    }

    /// At most `window` finite values, and `sorted` exactly `ring` sorted.
    pub fn is_consistent(&self, window: u64) -> bool {
        // `sorted` must be exactly `ring` in `push`'s order: otherwise expiring
        // a value removes the wrong one (or none) and the two drift apart.
        let mut expected: Vec<f64> = self.ring.iter().copied().collect();
        expected.sort_by(f64::total_cmp);
        self.ring.len() as u64 <= window
            && self.ring.iter().all(|v| v.is_finite())
            && expected.len() == self.sorted.len()
            && expected
                .iter()
                .zip(&self.sorted)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Median of |s[i] - m| for a sorted `s`: the deviations form two sorted runs
/// (left of m, read backwards, and right of m), merged up to the middle.
fn mad_sorted(s: &[f64], m: f64) -> f64 {
    let n = s.len();
    let split = s.partition_point(|v| *v < m);
    let (mut l, mut r) = (split, split); // left run: s[l-1], s[l-2], ...; right run: s[r], ...
    let hi = n / 2; // index of the upper middle deviation
    let mut prev = 0.0;
    let mut cur = 0.0;
    for _ in 0..=hi {
        prev = cur;
        let dl = if l > 0 { m - s[l - 1] } else { f64::INFINITY };
        let dr = if r < n { s[r] - m } else { f64::INFINITY };
        if dl <= dr {
            cur = dl;
            l -= 1;
        } else {
            cur = dr;
            r += 1;
        }
    }
    if n % 2 == 1 { cur } else { (prev + cur) / 2.0 }
}

impl Model for Mad {
    type Params = MadParams;
    const NAME: &'static str = "mad";
    const DESCRIPTION: &'static str =
        "Rolling median and median absolute deviation; score = (x - median) / (1.4826 * MAD).";

    fn specs() -> Vec<ParamSpec> {
        let mut s = common_specs(3.5, 30);
        s.push(
            ParamSpec::integer("window", Some(100), "Rolling window in rows.")
                .min(3.0)
                .max(1e6),
        );
        s
    }

    fn params(reader: &Reader<'_>, common: &mut Common) -> Result<MadParams> {
        let window = reader.integer("window")?.unwrap_or(100);
        if !reader.is_set("minTrainingSize") {
            // The default warm-up never exceeds a window the user chose.
            common.min_training_size = common.min_training_size.min(window);
        }
        if common.min_training_size > window {
            return Err(Error::InvalidConfig(format!(
                "minTrainingSize ({}) must not exceed window ({window}) for algorithm 'mad'",
                common.min_training_size
            )));
        }
        Ok(MadParams { window })
    }

    fn params_json(p: &MadParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("window".into(), p.window.into());
        m
    }

    fn new(_: &MadParams) -> Self {
        Mad {
            seen: 0,
            window: RollingWindow::new(),
        }
    }

    fn seen(&self) -> u64 {
        self.seen
    }

    fn baseline(&self, _: &MadParams) -> Baseline {
        self.window.baseline()
    }

    fn learn(&mut self, x: f64, p: &MadParams) {
        self.seen += 1;
        self.window.push(x, p.window);
    }

    fn is_consistent(&self, p: &MadParams) -> bool {
        self.window.is_consistent(p.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_mad(v: &[f64]) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let m = median_sorted(&s);
        let mut d: Vec<f64> = s.iter().map(|x| (x - m).abs()).collect();
        d.sort_by(f64::total_cmp);
        median_sorted(&d)
    }

    #[test]
    fn snapshot_layout_is_unchanged_by_rolling_window() {
        // Before `RollingWindow`, `Mad` was `{ seen, ring, sorted }`; postcard
        // writes nested structs inline, so old snapshots still read.
        let p = MadParams { window: 3 };
        let mut m = Mad::new(&p);
        for x in [3.0, 1.0, 2.0, 5.0] {
            m.learn(x, &p);
        }
        let old: (u64, VecDeque<f64>, Vec<f64>) =
            (4, VecDeque::from([1.0, 2.0, 5.0]), vec![1.0, 2.0, 5.0]);
        let bytes = postcard::to_allocvec(&old).expect("serialise");
        assert_eq!(postcard::to_allocvec(&m).expect("serialise"), bytes);
        let back: Mad = postcard::from_bytes(&bytes).expect("deserialise");
        assert_eq!(back, m);
    }

    #[test]
    fn mad_of_two_runs_matches_sorting() {
        let cases: &[&[f64]] = &[
            &[1.0],
            &[1.0, 2.0],
            &[1.0, 2.0, 3.0],
            &[1.0, 1.0, 1.0, 10.0],
            &[-5.0, 0.0, 0.0, 0.0, 2.0, 9.0],
            &[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0],
        ];
        for c in cases {
            let mut s = c.to_vec();
            s.sort_by(f64::total_cmp);
            let m = median_sorted(&s);
            assert_eq!(mad_sorted(&s, m), naive_mad(c), "case {c:?}");
        }
    }
}
