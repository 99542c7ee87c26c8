//! The NAB v1.1 scoring rules, as in `nab/sweeper.py`, `nab/scorer.py` and
//! `nab/runner.py` of <https://github.com/numenta/NAB>.
//!
//! Per file of `n` rows:
//! - the first [`probation_length`]`(n) = min(floor(0.15 n), 750)` rows are not
//!   scored at all (neither detections nor misses);
//! - a row is a detection when `anomaly_score >= threshold`;
//! - every row gets a weight ([`row_weights`]): inside a window `[L, R]` of
//!   width `w = R - L + 1`, row `i` weighs
//!   `scaled_sigmoid(-(R - i + 1) / w) * tpWeight / scaled_sigmoid(-1)`
//!   (exactly `tpWeight` at `L`, falling towards 0 at `R`); outside windows it
//!   weighs `-fpWeight` before the first window and
//!   `scaled_sigmoid((i - R') / (w' - 1)) * fpWeight` after a window `[L', R']`;
//! - a window scores the largest weight among its detections (its earliest
//!   one), or `-fnWeight` without any; detections outside windows add their
//!   weights; the file's score is the sum.
//!
//! The corpus score is the sum over files. One threshold serves a whole
//! corpus and profile: [`sweep`] tries every distinct anomaly score, high to
//! low, updating the score incrementally, and [`best`] keeps the highest
//! (the highest threshold among equals), as NAB's `optimizeThreshold` does.
//! [`normalise`] maps a raw score to NAB's 0..100 scale against a detector
//! that never detects (null) and one that detects every window on its first
//! row (perfect: `windows * tpWeight`, as in NAB's `runner.normalize`).
//!
//! Departures, where NAB would fail rather than score: a window one row wide
//! followed by a detection divides by zero in NAB (here the distance is
//! infinite, so the detection costs `-fpWeight`); anomaly scores above 1.1
//! get a starting threshold just above the largest score instead of NAB's
//! fixed 1.1.

use serde::Serialize;

/// Share of each file that is probationary (NAB's `probationPercent`).
pub const PROBATION_PERCENT: f64 = 0.15;

/// A labelled anomaly window: inclusive row indices `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First row of the window.
    pub start: usize,
    /// Last row of the window.
    pub end: usize,
}

/// The weights of one application profile (`config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostMatrix {
    /// Reward for detecting a window on its first row.
    #[serde(rename = "tpWeight")]
    pub tp: f64,
    /// Cost of a detection far from any window.
    #[serde(rename = "fpWeight")]
    pub fp: f64,
    /// Cost of a window without any detection.
    #[serde(rename = "fnWeight")]
    pub fn_: f64,
}

/// A named profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// `standard`, `reward_low_FP_rate`, `reward_low_FN_rate`, ...
    pub name: String,
    /// Its weights.
    pub cost: CostMatrix,
}

/// Rows not scored at the start of a file of `rows` rows:
/// `min(floor(0.15 * rows), 0.15 * 5000)`, as NAB's `_getProbationaryLength`.
pub fn probation_length(rows: usize) -> usize {
    let p = (PROBATION_PERCENT * rows as f64).floor();
    p.min(PROBATION_PERCENT * 5000.0) as usize
}

/// NAB's `scaledSigmoid`: `2 / (1 + e^(5p)) - 1`, and `-1` for `p > 3`.
/// Positive for `p < 0` (inside a window), 0 at 0, negative after it.
pub fn scaled_sigmoid(p: f64) -> f64 {
    if p > 3.0 {
        -1.0
    } else {
        2.0 * (1.0 / (1.0 + (5.0 * p).exp())) - 1.0
    }
}

/// The weight each row would add if it were a detection (NAB's per-row
/// `sweepScore`). `windows` must be sorted and disjoint, within `0..rows`.
pub fn row_weights(rows: usize, windows: &[Window], cost: &CostMatrix) -> Vec<f64> {
    let max_tp = scaled_sigmoid(-1.0);
    let mut out = Vec::with_capacity(rows);
    let mut next = 0;
    let mut current: Option<Window> = None;
    let mut previous: Option<Window> = None;
    for i in 0..rows {
        if current.is_none() && windows.get(next).is_some_and(|w| w.start == i) {
            current = windows.get(next).copied();
            next += 1;
        }
        let weight = match (current, previous) {
            (Some(w), _) => {
                let width = (w.end - w.start + 1) as f64;
                let position = -((w.end - i + 1) as f64) / width;
                scaled_sigmoid(position) * cost.tp / max_tp
            }
            (None, None) => -cost.fp,
            (None, Some(p)) => {
                let position = (i - p.end) as f64 / (p.end - p.start) as f64;
                scaled_sigmoid(position) * cost.fp
            }
        };
        out.push(weight);
        if let Some(w) = current
            && i == w.end
        {
            previous = current;
            current = None;
        }
    }
    out
}

/// For each row, the index of the window holding it, or `None`.
pub fn row_windows(rows: usize, windows: &[Window]) -> Vec<Option<u32>> {
    let mut out = vec![None; rows];
    for (k, w) in windows.iter().enumerate() {
        let id = u32::try_from(k).unwrap_or(u32::MAX);
        for slot in out.iter_mut().take(w.end + 1).skip(w.start) {
            *slot = Some(id);
        }
    }
    out
}

/// Row counts at a threshold, as NAB reports them (scored rows only), and
/// how many windows got at least one detection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Detections inside windows (rows).
    pub tp: u64,
    /// Rows outside windows without detection.
    pub tn: u64,
    /// Detections outside windows (rows).
    pub fp: u64,
    /// Rows inside windows without detection.
    pub fn_: u64,
    /// Windows with at least one scored detection.
    pub windows_detected: u64,
    /// Windows with at least one scored row.
    pub windows: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.tp += o.tp;
        self.tn += o.tn;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.windows_detected += o.windows_detected;
        self.windows += o.windows;
    }
}

/// One file's anomaly scores and windows.
#[derive(Debug, Clone, Copy)]
pub struct FileInput<'a> {
    /// One anomaly score per row (NaN is never a detection).
    pub anomaly: &'a [f64],
    /// Its windows: sorted, disjoint, within `0..anomaly.len()`.
    pub windows: &'a [Window],
}

/// A file's (or a corpus's) raw score at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The threshold: rows with `anomaly_score >= threshold` are detections.
    pub threshold: f64,
    /// The raw NAB score.
    pub score: f64,
    /// Row and window counts.
    pub counts: Counts,
}

/// Score one file at a threshold (NAB's `Sweeper.scoreDataSet`).
pub fn score_file(file: FileInput<'_>, cost: &CostMatrix, threshold: f64) -> Scored {
    let rows = file.anomaly.len();
    let weights = row_weights(rows, file.windows, cost);
    let window_of = row_windows(rows, file.windows);
    let probation = probation_length(rows);
    let mut parts: Vec<Option<f64>> = vec![None; file.windows.len()];
    let mut fp = 0.0;
    let mut counts = Counts::default();
    for i in probation..rows {
        let detected = file.anomaly[i] >= threshold;
        match window_of[i] {
            Some(k) => {
                let part = parts[k as usize].get_or_insert(-cost.fn_);
                if detected {
                    counts.tp += 1;
                    *part = part.max(weights[i]);
                } else {
                    counts.fn_ += 1;
                }
            }
            None if detected => {
                counts.fp += 1;
                fp += weights[i];
            }
            None => counts.tn += 1,
        }
    }
    counts.windows = parts.iter().flatten().count() as u64;
    counts.windows_detected = file
        .windows
        .iter()
        .filter(|w| {
            (w.start.max(probation)..=w.end)
                .any(|i| file.anomaly.get(i).is_some_and(|a| *a >= threshold))
        })
        .count() as u64;
    Scored {
        threshold,
        score: fp + parts.iter().flatten().sum::<f64>(),
        counts,
    }
}

/// Score every file at one threshold; returns the per-file results and their total.
pub fn score_corpus(
    files: &[FileInput<'_>],
    cost: &CostMatrix,
    threshold: f64,
) -> (Vec<Scored>, Scored) {
    let per_file: Vec<Scored> = files
        .iter()
        .map(|f| score_file(*f, cost, threshold))
        .collect();
    let mut total = Scored {
        threshold,
        score: 0.0,
        counts: Counts::default(),
    };
    for s in &per_file {
        total.score += s.score;
        total.counts.add(&s.counts);
    }
    (per_file, total)
}

/// The score of every distinct threshold over a corpus, from high to low
/// (NAB's `calcScoreByThreshold` over all files' rows at once). The first
/// entry detects nothing; each later entry's threshold is an anomaly score
/// and counts every row scoring at least that much.
pub fn sweep(files: &[FileInput<'_>], cost: &CostMatrix) -> Vec<Scored> {
    struct Point {
        anomaly: f64,
        weight: f64,
        window: Option<u32>,
    }
    let mut points = Vec::new();
    let mut parts: Vec<f64> = Vec::new();
    let mut window_base = 0u32;
    // Rows whose anomaly score is NaN are never detections, at any threshold.
    let mut nan_counts = Counts::default();
    let mut parts_seen: Vec<u32> = Vec::new();
    for f in files {
        let rows = f.anomaly.len();
        let weights = row_weights(rows, f.windows, cost);
        let window_of = row_windows(rows, f.windows);
        for i in probation_length(rows)..rows {
            if f.anomaly[i].is_nan() {
                match window_of[i] {
                    Some(k) => {
                        nan_counts.fn_ += 1;
                        parts_seen.push(k + window_base);
                    }
                    None => nan_counts.tn += 1,
                }
                continue;
            }
            points.push(Point {
                anomaly: f.anomaly[i],
                weight: weights[i],
                window: window_of[i].map(|k| k + window_base),
            });
        }
        window_base += u32::try_from(f.windows.len()).unwrap_or(u32::MAX);
        parts.resize(window_base as usize, f64::NAN);
    }
    // Only windows with a scored row count (NaN marks the others).
    for k in points.iter().filter_map(|p| p.window).chain(parts_seen) {
        parts[k as usize] = -cost.fn_;
    }
    points.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));

    let mut counts = Counts {
        tn: nan_counts.tn + points.iter().filter(|p| p.window.is_none()).count() as u64,
        fn_: nan_counts.fn_ + points.iter().filter(|p| p.window.is_some()).count() as u64,
        windows: parts.iter().filter(|p| !p.is_nan()).count() as u64,
        ..Counts::default()
    };
    let mut detected = vec![false; parts.len()];
    let mut fp = 0.0;
    let mut windows_sum: f64 = parts.iter().filter(|p| !p.is_nan()).sum();
    let mut threshold = match points.first() {
        Some(p) if p.anomaly >= 1.1 => p.anomaly.next_up(),
        _ => 1.1,
    };
    let mut out = Vec::new();
    for p in &points {
        if p.anomaly != threshold {
            out.push(Scored {
                threshold,
                score: fp + windows_sum,
                counts,
            });
            threshold = p.anomaly;
        }
        match p.window {
            Some(k) => {
                let k = k as usize;
                counts.tp += 1;
                counts.fn_ -= 1;
                if !detected[k] {
                    detected[k] = true;
                    counts.windows_detected += 1;
                }
                if p.weight > parts[k] {
                    windows_sum += p.weight - parts[k];
                    parts[k] = p.weight;
                }
            }
            None => {
                counts.fp += 1;
                counts.tn -= 1;
                fp += p.weight;
            }
        }
    }
    out.push(Scored {
        threshold,
        score: fp + windows_sum,
        counts,
    });
    out
}

/// The entry with the highest score; among equal scores the first (highest
/// threshold), as NAB's stable sort picks.
pub fn best(sweep: &[Scored]) -> Option<Scored> {
    sweep
        .iter()
        .copied()
        .fold(None, |best: Option<Scored>, s| match best {
            Some(b) if b.score >= s.score => Some(b),
            _ => Some(s),
        })
}

/// The score of a detector that never detects: `-fnWeight` per window with
/// at least one scored row.
pub fn null_score(files: &[FileInput<'_>], cost: &CostMatrix) -> f64 {
    let windows: usize = files
        .iter()
        .map(|f| {
            let p = probation_length(f.anomaly.len());
            f.windows.iter().filter(|w| w.end >= p).count()
        })
        .sum();
    -(windows as f64) * cost.fn_
}

/// The score of a perfect detector: `tpWeight` per labelled window.
pub fn perfect_score(files: &[FileInput<'_>], cost: &CostMatrix) -> f64 {
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    windows as f64 * cost.tp
}

/// NAB's normalised score `100 * (raw - null) / (perfect - null)`; `None`
/// when a corpus has no windows (perfect equals null).
pub fn normalise(raw: f64, null: f64, perfect: f64) -> Option<f64> {
    let span = perfect - null;
    (span != 0.0).then(|| 100.0 * (raw - null) / span)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: CostMatrix = CostMatrix {
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn scaled_sigmoid_table() {
        #[rustfmt::skip]
        let cases: &[(&str, f64, f64)] = &[
            ("left edge of a window", -1.0, 2.0 / (1.0 + (-5.0f64).exp()) - 1.0),
            ("half way in", -0.5, 2.0 / (1.0 + (-2.5f64).exp()) - 1.0),
            ("right edge", 0.0, 0.0),
            ("one width after", 1.0, 2.0 / (1.0 + 5.0f64.exp()) - 1.0),
            ("exactly 3 is still the sigmoid", 3.0, 2.0 / (1.0 + 15.0f64.exp()) - 1.0),
            ("beyond 3 is -1", 3.000001, -1.0),
            ("far before", -10.0, 2.0 / (1.0 + (-50.0f64).exp()) - 1.0),
        ];
        for (name, p, want) in cases {
            assert!(
                close(scaled_sigmoid(*p), *want),
                "{name}: {}",
                scaled_sigmoid(*p)
            );
        }
        assert!(close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_5));
    }

    #[test]
    fn probation_table() {
        #[rustfmt::skip]
        let cases: &[(usize, usize)] = &[
            (0, 0), (6, 0), (7, 1), (20, 3), (100, 15), (1000, 150),
            (4032, 604), (5000, 750), (5001, 750), (22695, 750),
        ];
        for (rows, want) in cases {
            assert_eq!(probation_length(*rows), *want, "{rows} rows");
        }
    }

    #[test]
    fn weights_inside_and_after_a_window() {
        // Rows 0..10, one window 4..=6 (width 3).
        let w = [Window { start: 4, end: 6 }];
        let got = row_weights(10, &w, &STANDARD);
        let max_tp = scaled_sigmoid(-1.0);
        let want = [
            -0.11,
            -0.11,
            -0.11,
            -0.11,
            1.0,
            scaled_sigmoid(-2.0 / 3.0) / max_tp,
            scaled_sigmoid(-1.0 / 3.0) / max_tp,
            0.11 * scaled_sigmoid(1.0 / 2.0),
            0.11 * scaled_sigmoid(2.0 / 2.0),
            0.11 * scaled_sigmoid(3.0 / 2.0),
        ];
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(close(*g, w), "row {i}: got {g}, want {w}");
        }
    }

    /// (name, anomaly scores, windows, threshold, expected raw score, tp, fp, fn rows)
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const FILES: &[(&str, &[f64], &[(usize, usize)], f64, f64, u64, u64, u64)] = &[
        // 20 rows: probation is 3 rows; window 10..=14 (width 5).
        ("no detections, one window: -fn",
            &[0.0; 20], &[(10, 14)], 0.5, -1.0, 0, 0, 5),
        ("no windows, no detections: 0",
            &[0.0; 20], &[], 0.5, 0.0, 0, 0, 0),
        ("detection on the first window row earns tpWeight",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 1.,0.,0.,0.,0., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5, 1.0, 1, 0, 4),
        ("only the earliest detection in a window counts",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 0.,0.,1.,1.,1., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5,
            // row 12: position -(14-12+1)/5 = -0.6
            0.905_148_253_644_866_7 / 0.986_614_298_151_430_5, 3, 0, 2),
        ("detections in probation are ignored",
            &[1.,1.,1.,0.,0.,0.,0.,0.,0.,0., 0.,0.,0.,0.,0., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5, -1.0, 0, 0, 5),
        ("a detection before the first window costs fpWeight",
            &[0.,0.,0.,1.,0.,0.,0.,0.,0.,0., 0.,0.,0.,0.,0., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5, -1.11, 0, 1, 5),
        ("a detection after a window is weighed by its distance",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 1.,0.,0.,0.,0., 0.,1.,0.,0.,0.], &[(10, 14)], 0.5,
            // row 16: (16-14)/(5-1) = 0.5 -> 0.11 * scaled_sigmoid(0.5)
            1.0 + 0.11 * -0.848_283_639_957_512_9, 1, 1, 4),
        ("threshold is inclusive",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 0.5,0.,0.,0.,0., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5, 1.0, 1, 0, 4),
        ("just below the threshold is no detection",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 0.4999,0.,0.,0.,0., 0.,0.,0.,0.,0.], &[(10, 14)], 0.5, -1.0, 0, 0, 5),
        ("far after a window costs the full fpWeight",
            &[0.,0.,0.,0.,0.,0.,0.,0.,0.,0., 0.,1.,0.,0., 0.,0.,0.,0.,0.,1.], &[(10, 11)], 0.5,
            // window width 2: row 11 is at -(11-11+1)/2 = -0.5; row 19 is (19-11)/1 = 8 > 3 away
            0.848_283_639_957_513_1 / 0.986_614_298_151_430_5 - 0.11, 1, 1, 1),
    ];

    #[test]
    fn file_scores_table() {
        for (name, anomaly, windows, threshold, want, tp, fp, fn_) in FILES {
            let windows: Vec<Window> = windows
                .iter()
                .map(|(s, e)| Window { start: *s, end: *e })
                .collect();
            let f = FileInput {
                anomaly,
                windows: &windows,
            };
            let got = score_file(f, &STANDARD, *threshold);
            assert!(
                (got.score - want).abs() < 1e-9,
                "{name}: score {} want {want}",
                got.score
            );
            assert_eq!(
                (got.counts.tp, got.counts.fp, got.counts.fn_),
                (*tp, *fp, *fn_),
                "{name}: counts"
            );
            // The sweep holds the same score at this threshold's entry.
            let entries = sweep(&[f], &STANDARD);
            let at = entries
                .iter()
                .rev()
                .find(|s| s.threshold >= *threshold)
                .unwrap();
            assert!(
                (at.score - got.score).abs() < 1e-9,
                "{name}: sweep {} vs direct {}",
                at.score,
                got.score
            );
        }
    }

    #[test]
    fn sweep_groups_ties_and_walks_down() {
        // Probation is 0 for 6 rows. Window 2..=3.
        let anomaly = [0.9, 0.2, 0.9, 0.5, 0.2, 0.0];
        let windows = [Window { start: 2, end: 3 }];
        let f = FileInput {
            anomaly: &anomaly,
            windows: &windows,
        };
        let s = sweep(&[f], &STANDARD);
        let thresholds: Vec<f64> = s.iter().map(|e| e.threshold).collect();
        assert_eq!(thresholds, vec![1.1, 0.9, 0.5, 0.2, 0.0]);
        // At 0.9: row 0 (FP before the window) and row 2 (window start).
        assert!(close(s[1].score, -0.11 + 1.0));
        assert_eq!((s[1].counts.tp, s[1].counts.fp), (1, 1));
        assert_eq!(s[0].counts.fn_, 2);
        assert!(close(s[0].score, -1.0));
        for e in &s {
            let direct = score_file(f, &STANDARD, e.threshold);
            assert!(close(e.score, direct.score), "{e:?} vs {direct:?}");
            assert_eq!(e.counts, direct.counts, "at {}", e.threshold);
        }
        assert_eq!(best(&s).unwrap().threshold, 0.9);
    }

    #[test]
    fn best_prefers_the_highest_threshold_among_equal_scores() {
        let e = |threshold, score| Scored {
            threshold,
            score,
            counts: Counts::default(),
        };
        let s = [e(1.1, -1.0), e(0.8, 2.0), e(0.5, 2.0), e(0.1, 1.0)];
        assert_eq!(best(&s).unwrap().threshold, 0.8);
        assert_eq!(best(&[]), None);
    }

    #[test]
    fn null_and_perfect_and_normalise() {
        let anomaly = [0.0; 20];
        let windows = [Window { start: 1, end: 2 }, Window { start: 10, end: 14 }];
        let f = [FileInput {
            anomaly: &anomaly,
            windows: &windows,
        }];
        // The first window lies in probation (3 rows): it is not scored.
        assert_eq!(null_score(&f, &STANDARD), -1.0);
        assert_eq!(perfect_score(&f, &STANDARD), 2.0);
        assert_eq!(normalise(-1.0, -1.0, 2.0), Some(0.0));
        assert_eq!(normalise(2.0, -1.0, 2.0), Some(100.0));
        assert_eq!(normalise(0.5, -1.0, 2.0), Some(50.0));
        assert_eq!(normalise(0.0, 0.0, 0.0), None);
    }
}
