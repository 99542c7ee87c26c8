//! Shared parity vectors (`tests/vectors/*.json`): produced here by the Rust
//! host, replayed bit for bit by every host (Rust here, Python in
//! `bindings/python`, Node in `bindings/js`). The format is documented in
//! `tests/vectors/README.md`.
//!
//! - `WASMAD_BLESS_VECTORS=1 cargo test -p wasmad-host --test vectors`
//!   (re)writes the files from the embedded component.
//! - Without it, the files must equal what the component produces now, and
//!   every file is replayed (twice, through `process`, and once through
//!   `process-bytes`) with its batch splits and its snapshot/restore point.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wasmad_core::engine::Extra;
use wasmad_core::{Input, Scores};
use wasmad_host::{Limits, Runtime, WasmDetector};

fn embedded() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::embedded(Limits::default()).expect("embedded component loads"))
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

// ---------------------------------------------------------------- inputs

/// SplitMix64: a seeded generator made of integer arithmetic only, so the
/// generated inputs are the same on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1), exactly representable.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately standard normal (Irwin-Hall: 12 uniforms - 6); plain
    /// adds, so no platform libm is involved.
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One vector's definition; its expected output comes from the component.
struct Case {
    name: &'static str,
    description: &'static str,
    config: &'static str,
    /// Values per row; `values` is row-major (`rows * width` elements).
    width: usize,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    keys: Vec<u32>,
    batches: Vec<usize>,
    restore_after_batch: Option<usize>,
}

impl Case {
    fn rows(&self) -> usize {
        self.timestamps.len()
    }
}

const T0: i64 = 1_700_000_000_000_000; // 2023-11-14, microseconds
const STEP: i64 = 60_000_000; // one minute

fn times(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| T0 + i * STEP).collect()
}

/// `n` noisy values around `level`, with the given rows overwritten.
fn noisy(rng: &mut Rng, n: usize, level: f64, sd: f64, set: &[(usize, f64)]) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|_| level + sd * rng.normal()).collect();
    for &(i, x) in set {
        v[i] = x;
    }
    v
}

/// Rows of `keys` interleaved at random. A new key joins now and then, in
/// increasing id order, so every batch split keeps ids dense and later keys
/// are still warming up while earlier ones score.
fn interleaved_keys(rng: &mut Rng, n: usize, keys: u32) -> Vec<u32> {
    let mut seen = 0u32;
    (0..n)
        .map(|_| {
            if seen == 0 || (seen < keys && rng.below(15) == 0) {
                seen += 1;
                seen - 1
            } else {
                rng.below(u64::from(seen)) as u32
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let mut out = Vec::new();

    let mut rng = Rng(1);
    out.push(Case {
        name: "zscore_default",
        description: "zscore over all rows with defaults (minTrainingSize 30): warm-up, up and down spikes, NaN and +/-inf during warm-up and after",
        config: r#"{"algorithm":"zscore"}"#,
        width: 1,
        timestamps: times(300),
        values: noisy(
            &mut rng,
            300,
            10.0,
            1.0,
            &[
                (5, nan),
                (12, inf),
                (40, 25.0),
                (41, nan),
                (90, -5.0),
                (150, f64::NEG_INFINITY),
                (200, 30.0),
                (201, 29.0),
                (260, inf),
            ],
        ),
        keys: vec![],
        batches: vec![1, 29, 30, 100, 140],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(2);
    let mut values = noisy(
        &mut rng,
        400,
        100.0,
        2.0,
        &[(60, 130.0), (61, nan), (300, inf), (301, f64::NEG_INFINITY)],
    );
    for v in &mut values[200..] {
        *v += 40.0; // a level shift the window forgets
    }
    out.push(Case {
        name: "zscore_window",
        description: "zscore over a sliding window of 50 rows, threshold 3.5: a level shift the window adapts to, spikes, missing values; an empty batch",
        config: r#"{"algorithm":"zscore","window":50,"threshold":3.5,"minTrainingSize":20}"#,
        width: 1,
        timestamps: times(400),
        values,
        keys: vec![],
        batches: vec![7, 0, 193, 1, 199],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(3);
    out.push(Case {
        name: "ewma_alpha",
        description: "ewma with alpha 0.2: drift, spikes both ways, missing values",
        config: r#"{"algorithm":"ewma","alpha":0.2}"#,
        width: 1,
        timestamps: times(300),
        values: (0..300)
            .map(|i| 50.0 + 0.05 * i as f64 + rng.normal())
            .enumerate()
            .map(|(i, x)| match i {
                70 => 70.0,
                71 => nan,
                150 => 30.0,
                220 => f64::NEG_INFINITY,
                _ => x,
            })
            .collect(),
        keys: vec![],
        batches: vec![150, 150],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(4);
    out.push(Case {
        name: "ewma_half_life",
        description: "ewma with halfLife 20 and minTrainingSize 10, threshold 2.5",
        config: r#"{"algorithm":"ewma","halfLife":20,"minTrainingSize":10,"threshold":2.5}"#,
        width: 1,
        timestamps: times(250),
        values: noisy(
            &mut rng,
            250,
            -3.0,
            0.5,
            &[(3, nan), (50, 1.0), (120, -8.0), (121, -8.5), (200, inf)],
        ),
        keys: vec![],
        batches: vec![2, 8, 40, 200],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(5);
    let mut values = noisy(&mut rng, 300, 20.0, 1.5, &[(45, 40.0), (46, nan)]);
    for v in &mut values[100..180] {
        *v = 20.0; // a constant run: MAD falls back to the mean absolute deviation, then to the floor
    }
    values[170] = 20.5;
    values[250] = 2.0;
    values[260] = inf;
    out.push(Case {
        name: "mad_window",
        description: "mad over a rolling window of 31 rows: a constant run (MAD = 0 fallback), a small departure from it, spikes both ways",
        config: r#"{"algorithm":"mad","window":31}"#,
        width: 1,
        timestamps: times(300),
        values,
        keys: vec![],
        batches: vec![31, 69, 100, 100],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(6);
    out.push(Case {
        name: "zscore_direction_up",
        description: "zscore flagging only upward anomalies: downward spikes are scored but not flagged",
        config: r#"{"algorithm":"zscore","direction":"up","minTrainingSize":25}"#,
        width: 1,
        timestamps: times(200),
        values: noisy(
            &mut rng,
            200,
            0.0,
            1.0,
            &[(50, 8.0), (80, -8.0), (120, 9.0), (121, -9.0)],
        ),
        keys: vec![],
        batches: vec![200],
        restore_after_batch: None,
    });

    let mut rng = Rng(7);
    out.push(Case {
        name: "mad_direction_down",
        description: "mad flagging only downward anomalies, threshold 3",
        config: r#"{"algorithm":"mad","direction":"down","window":25,"threshold":3}"#,
        width: 1,
        timestamps: times(200),
        values: noisy(
            &mut rng,
            200,
            5.0,
            0.3,
            &[(40, 9.0), (90, 1.0), (150, 0.5), (151, nan)],
        ),
        keys: vec![],
        batches: vec![100, 100],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(8);
    out.push(Case {
        name: "ewma_direction_down",
        description: "ewma flagging only downward anomalies",
        config: r#"{"algorithm":"ewma","alpha":0.05,"direction":"down"}"#,
        width: 1,
        timestamps: times(200),
        values: noisy(&mut rng, 200, 1000.0, 5.0, &[(60, 1040.0), (100, 950.0)]),
        keys: vec![],
        batches: vec![60, 140],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(9);
    let n = 360;
    let keys = interleaved_keys(&mut rng, n, 3);
    let values = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let x = 10.0 * f64::from(k + 1) + f64::from(k + 1) * rng.normal();
            match i {
                150 => nan,
                200 => inf,
                _ if rng.below(40) == 0 => x + 25.0, // occasional spikes on any key
                _ => x,
            }
        })
        .collect();
    out.push(Case {
        name: "zscore_multi_key",
        description: "zscore with three keys interleaved at random (dense ids, new keys appear in increasing order), window 40, each key warms up on its own",
        config: r#"{"algorithm":"zscore","window":40,"minTrainingSize":15}"#,
        width: 1,
        timestamps: times(n),
        values,
        keys,
        batches: vec![1, 2, 57, 100, 200],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(10);
    let n = 400;
    let keys = interleaved_keys(&mut rng, n, 8);
    let values = keys
        .iter()
        .map(|&k| {
            let base = 100.0 - 7.0 * f64::from(k);
            match rng.below(50) {
                0 => nan,
                1 => base + 30.0,
                2 => base - 30.0,
                _ => base + rng.normal(),
            }
        })
        .collect();
    out.push(Case {
        name: "mad_multi_key",
        description: "mad with eight keys interleaved at random, window 15, minTrainingSize 10: later keys are still warming up while earlier ones score",
        config: r#"{"algorithm":"mad","window":15,"minTrainingSize":10}"#,
        width: 1,
        timestamps: times(n),
        values,
        keys,
        batches: vec![50, 150, 200],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(11);
    let n = 300;
    let keys = interleaved_keys(&mut rng, n, 4);
    let values = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            if i > 250 && k == 2 {
                -50.0
            } else {
                f64::from(k) * 3.0 + 0.2 * rng.normal()
            }
        })
        .collect();
    out.push(Case {
        name: "ewma_multi_key",
        description: "ewma (halfLife 10) with four keys; one key drops sharply near the end",
        config: r#"{"algorithm":"ewma","halfLife":10,"minTrainingSize":12}"#,
        width: 1,
        timestamps: times(n),
        values,
        keys,
        batches: vec![13, 87, 100, 100],
        restore_after_batch: Some(3),
    });

    let mut values = vec![42.0; 120];
    values[80] = 42.000_01; // a tiny departure from a flat history
    values[100] = 41.0;
    values[101] = nan;
    out.push(Case {
        name: "zscore_constant",
        description: "zscore over a perfectly constant run: the scale floor keeps scores finite and a tiny departure scores high",
        config: r#"{"algorithm":"zscore","minTrainingSize":10}"#,
        width: 1,
        timestamps: times(120),
        values,
        keys: vec![],
        batches: vec![10, 70, 40],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(12);
    out.push(Case {
        name: "zscore_large_offset",
        description: "zscore around 1e9 (noise sd 30, above the relative scale floor of 15) with a negative timestamp origin: precision of the running mean, window 64",
        config: r#"{"algorithm":"zscore","window":64}"#,
        width: 1,
        timestamps: (0..200).map(|i| -5_000_000 + i * 1_000).collect(),
        values: noisy(
            &mut rng,
            200,
            1.0e9,
            30.0,
            &[(100, 1.0e9 + 400.0), (150, -0.0)],
        ),
        keys: vec![],
        batches: vec![64, 64, 72],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(14);
    out.push(Case {
        name: "zscore_likelihood_keys",
        description: "zscore with the anomaly-likelihood layer (calibrated probability column) and a row cooldown, 3 keys, bursts of spikes, NaN: probability, severity grades and cooldown state cross batches and a restore",
        config: r#"{"algorithm":"zscore","likelihood":{"minSamples":20,"shortWindow":5,"threshold":0.999},"cooldown":10}"#,
        width: 1,
        timestamps: times(450),
        values: noisy(
            &mut rng,
            450,
            50.0,
            2.0,
            &[
                (120, 80.0),
                (121, 85.0),
                (122, 90.0),
                (123, 84.0),
                (200, nan),
                (300, 10.0),
                (301, 5.0),
                (302, 8.0),
                (390, 120.0),
            ],
        ),
        keys: interleaved_keys(&mut rng, 450, 3),
        batches: vec![100, 50, 150, 150],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(15);
    out.push(Case {
        name: "ewma_alert_hygiene",
        description: "ewma with minConsecutive 2, a duration cooldown, an absolute deviation floor and custom severity bands: runs, floors and graded severities",
        config: r#"{"algorithm":"ewma","alpha":0.05,"minConsecutive":2,"cooldown":"20s","minDeviation":{"absolute":3},"severity":{"medium":2,"high":4}}"#,
        width: 1,
        timestamps: times(300),
        values: noisy(
            &mut rng,
            300,
            20.0,
            0.5,
            &[
                (80, 40.0),
                (81, 42.0),
                (82, 41.0),
                (150, 23.5),
                (151, 23.6),
                (200, 0.0),
                (201, -2.0),
                (230, 35.0),
                (231, 36.0),
            ],
        ),
        keys: vec![],
        batches: vec![81, 1, 118, 100],
        restore_after_batch: Some(1),
    });

    // ------------------------------------------------ holtwinters

    // A seasonal shape from a table (no libm), so the inputs are the same everywhere.
    const SEASON: [f64; 12] = [
        0.0, 3.0, 5.0, 6.0, 5.0, 3.0, 0.0, -3.0, -5.0, -6.0, -5.0, -3.0,
    ];
    let mut rng = Rng(16);
    let mut values: Vec<f64> = (0..240)
        .map(|i| 50.0 + 0.02 * i as f64 + SEASON[i % 12] + 0.4 * rng.normal())
        .collect();
    values[100] += 8.0; // off the seasonal pattern, not off the overall range
    values[101] = nan;
    values[180] -= 9.0;
    values[200] = inf;
    out.push(Case {
        name: "holtwinters_season",
        description: "holtwinters with period 12 and a slow trend: a spike and a dip that stay inside the overall range but break the season, NaN and +inf",
        config: r#"{"algorithm":"holtwinters","period":12,"alpha":0.1,"beta":0.05,"gamma":0.2,"minTrainingSize":24}"#,
        width: 1,
        timestamps: times(240),
        values,
        keys: vec![],
        batches: vec![12, 0, 100, 128],
        restore_after_batch: Some(1),
    });

    // ------------------------------------------------ rcf

    let mut rng = Rng(17);
    let mut values: Vec<f64> = (0..200)
        .map(|i| 10.0 + SEASON[i % 12] * 0.5 + 0.3 * rng.normal())
        .collect();
    values[3] = nan; // during warm-up
    values[90] = nan;
    values[91] = f64::NEG_INFINITY;
    values[120] = 30.0; // a spike
    values[160] = values[159]; // a broken pattern: the shingle sees it
    out.push(Case {
        name: "rcf_shingle",
        description: "rcf univariate with shingleSize 2 and a small forest (5 trees, subSampleSize 16, timeDecay 64, minTrainingSize 8): NaN and -inf rows in warm-up and after, a spike, attribution (2 values per row)",
        config: r#"{"algorithm":"rcf","shingleSize":2,"numberOfTrees":5,"subSampleSize":16,"timeDecay":64,"minTrainingSize":8}"#,
        width: 1,
        timestamps: times(200),
        values,
        keys: vec![],
        batches: vec![5, 3, 40, 1, 151],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(18);
    let n = 250;
    let mut values = Vec::with_capacity(n * 3);
    for _ in 0..n {
        let a = 10.0 + rng.normal();
        values.push(a);
        values.push(-5.0 + 0.5 * rng.normal());
        values.push(2.0 * a + 0.1 * rng.normal()); // follows column 0
    }
    values[80 * 3 + 2] = nan; // one column missing: the row is skipped
    values[150 * 3 + 1] = 20.0; // column 1 far off
    values[200 * 3 + 2] = -20.0; // column 2 breaks its tie to column 0
    values[230 * 3] = 16.0; // columns 0 and 2 move together: a joint excursion
    values[230 * 3 + 2] = 32.0;
    out.push(Case {
        name: "rcf_multivariate",
        description: "rcf over 3 columns (the third follows the first), 5 trees, subSampleSize 16, timeDecay 64: one column far off, a broken correlation, a joint excursion, a NaN column; attribution (6 values per row: a high and low share per column)",
        config: r#"{"algorithm":"rcf","numberOfTrees":5,"subSampleSize":16,"timeDecay":64,"minTrainingSize":8,"seed":7}"#,
        width: 3,
        timestamps: times(n),
        values,
        keys: vec![],
        batches: vec![8, 92, 1, 149],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(19);
    let n = 240;
    let keys = interleaved_keys(&mut rng, n, 3);
    let mut values = Vec::with_capacity(n * 2);
    for (i, &k) in keys.iter().enumerate() {
        let base = 10.0 * f64::from(k + 1);
        let (a, b) = (base + rng.normal(), -base + rng.normal());
        let (a, b) = match i {
            150 => (base + 25.0, b),
            190 => (a, nan),
            _ => (a, b),
        };
        values.push(a);
        values.push(b);
    }
    out.push(Case {
        name: "rcf_keys",
        description: "rcf over 2 columns with three keys interleaved (a forest per key), 4 trees, subSampleSize 12, timeDecay 50, shingleSize 2, threshold 2: a spike on one key, a NaN column",
        config: r#"{"algorithm":"rcf","numberOfTrees":4,"subSampleSize":12,"timeDecay":50,"minTrainingSize":10,"shingleSize":2,"threshold":2}"#,
        width: 2,
        timestamps: times(n),
        values,
        keys,
        batches: vec![30, 70, 140],
        restore_after_batch: Some(0),
    });

    // ------------------------------------------------ spike_dip

    let mut rng = Rng(20);
    out.push(Case {
        name: "spike_dip_spikes",
        description: "spike_dip in mode spikes (historySize 30, confidence 98): spikes flagged, a dip scored but not flagged, NaN",
        config: r#"{"algorithm":"spike_dip","mode":"spikes","historySize":30,"confidence":98}"#,
        width: 1,
        timestamps: times(200),
        values: noisy(
            &mut rng,
            200,
            100.0,
            2.0,
            &[(10, nan), (60, 115.0), (100, 85.0), (140, 120.0), (141, nan), (170, 112.0)],
        ),
        keys: vec![],
        batches: vec![29, 1, 70, 100],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(21);
    let n = 260;
    let keys = interleaved_keys(&mut rng, n, 2);
    let values = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let base = if k == 0 { 5.0 } else { 500.0 };
            let x = base + 0.05 * base * rng.normal();
            match i {
                120 | 200 => base * 0.5, // dips
                160 => base * 1.6,       // a spike, not flagged in this mode
                230 => inf,
                _ => x,
            }
        })
        .collect();
    out.push(Case {
        name: "spike_dip_dips_keys",
        description: "spike_dip in mode dips with two keys (historySize 25, minTrainingSize 20): dips flagged on each key, a spike not flagged, +inf",
        config: r#"{"algorithm":"spike_dip","mode":"dips","historySize":25,"minTrainingSize":20}"#,
        width: 1,
        timestamps: times(n),
        values,
        keys,
        batches: vec![40, 60, 160],
        restore_after_batch: Some(1),
    });

    // ------------------------------------------------ change_point

    let mut rng = Rng(22);
    let mut values = noisy(&mut rng, 300, 20.0, 1.0, &[(50, nan)]);
    for v in &mut values[180..] {
        *v += 6.0; // a level shift
    }
    values[250] = f64::NEG_INFINITY;
    out.push(Case {
        name: "change_point_level_shift",
        description: "change_point (power martingale, historySize 40): a level shift at row 180 raises the martingale and is flagged, then the window adapts; NaN, -inf",
        config: r#"{"algorithm":"change_point","historySize":40}"#,
        width: 1,
        timestamps: times(300),
        values,
        keys: vec![],
        batches: vec![39, 1, 140, 5, 115],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(23);
    let n = 280;
    let keys = interleaved_keys(&mut rng, n, 2);
    let values = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let shift = if k == 1 && i >= 160 { -4.0 } else { 0.0 };
            f64::from(k) * 10.0 + shift + 0.5 * rng.normal()
        })
        .collect();
    out.push(Case {
        name: "change_point_mixture_keys",
        description: "change_point with the mixture martingale, two keys (historySize 30, confidence 90): key 1 shifts down from row 160, key 0 does not",
        config: r#"{"algorithm":"change_point","martingale":"mixture","historySize":30,"confidence":90}"#,
        width: 1,
        timestamps: times(n),
        values,
        keys,
        batches: vec![100, 100, 80],
        restore_after_batch: Some(0),
    });

    // ------------------------------------------------ robust

    let mut rng = Rng(24);
    let n = 220;
    let mut values = Vec::with_capacity(n * 2);
    for _ in 0..n {
        values.push(100.0 + 2.0 * rng.normal());
        values.push(0.5 + 0.01 * rng.normal());
    }
    values[60 * 2 + 1] = nan; // column 1 missing: column 0 is still scored
    for i in 100..105 {
        values[i * 2] = 140.0; // a burst: imputeOutliers keeps it out of the window
    }
    values[150 * 2 + 1] = 0.3;
    values[151 * 2] = nan; // both columns missing: skipped
    values[151 * 2 + 1] = nan;
    out.push(Case {
        name: "robust_impute",
        description: "robust over 2 columns with imputeOutliers (window 30): a NaN in one column (the other still scored), a burst of outliers the window does not learn, a dip in column 1, an all-NaN row; attribution (4 values per row)",
        config: r#"{"algorithm":"robust","window":30,"imputeOutliers":true}"#,
        width: 2,
        timestamps: times(n),
        values,
        keys: vec![],
        batches: vec![30, 72, 1, 117],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(25);
    out.push(Case {
        name: "robust_univariate",
        description: "robust with one column (window 20, threshold 3.5, minTrainingSize 10): spikes both ways, NaN",
        config: r#"{"algorithm":"robust","window":20,"threshold":3.5,"minTrainingSize":10}"#,
        width: 1,
        timestamps: times(150),
        values: noisy(
            &mut rng,
            150,
            -40.0,
            3.0,
            &[(5, nan), (50, -10.0), (90, -80.0), (91, nan), (120, -20.0)],
        ),
        keys: vec![],
        batches: vec![10, 140],
        restore_after_batch: Some(0),
    });

    let mut rng = Rng(26);
    let n = 270;
    let keys = interleaved_keys(&mut rng, n, 3);
    let mut values = Vec::with_capacity(n * 2);
    for (i, &k) in keys.iter().enumerate() {
        let base = f64::from(k) * 50.0;
        values.push(base + rng.normal());
        values.push(base - 10.0 + rng.normal());
        if i % 67 == 66 {
            values[i * 2 + (i % 2)] += 15.0; // a spike in one column
        }
    }
    values[200 * 2] = inf;
    out.push(Case {
        name: "robust_keys_up",
        description: "robust over 2 columns with three keys, direction up, window 25: spikes in either column on any key, +inf in one column",
        config: r#"{"algorithm":"robust","window":25,"direction":"up"}"#,
        width: 2,
        timestamps: times(n),
        values,
        keys,
        batches: vec![25, 0, 120, 125],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(27);
    let mut values: Vec<f64> = (0..200)
        .map(|i| 50.0 + 8.0 * ((i % 12) as f64 - 5.5) / 5.5 + rng.normal())
        .collect();
    values[150] += 30.0;
    values[170] = nan;
    out.push(Case {
        name: "arima_forecast_steps",
        description: "arima (1,0,1) with a 3-step forecast path per row (rmse, aic and forecast extras): warm-up 40 rows, refits every 20, a spike, NaN, batch splits and a restore after the refits started",
        config: r#"{"algorithm":"arima","p":1,"d":0,"q":1,"minTrainingSize":40,"maxTrainingSize":80,"updateInterval":20,"horizon":3,"forecastSteps":true}"#,
        width: 1,
        timestamps: times(200),
        values,
        keys: vec![],
        batches: vec![30, 45, 0, 125],
        restore_after_batch: Some(1),
    });

    let mut values: Vec<f64> = (0..200)
        .map(|i| {
            let level = 40.0 + 0.3 * i as f64;
            let factor = [1.0, 1.4, 1.1, 0.7, 0.8][i % 5];
            level * factor + 0.5 * ((i * 37 % 11) as f64 - 5.0) / 5.0
        })
        .collect();
    values[150] *= 1.5;
    values[60] = nan;
    out.push(Case {
        name: "holtwinters_auto_multiplicative",
        description: "holtwinters with the period detected (maxPeriod 12, from the first 36 rows: 5) and multiplicative seasonality over a series whose swings grow with its trend: detection, replay of the held rows, a spike, NaN (shifts the phase), a restore mid-detection",
        config: r#"{"algorithm":"holtwinters","period":"auto","maxPeriod":12,"minTrainingSize":36,"seasonality":"multiplicative","alpha":0.2,"beta":0.05,"gamma":0.3}"#,
        width: 1,
        timestamps: times(200),
        values,
        keys: vec![],
        batches: vec![20, 30, 150],
        restore_after_batch: Some(0),
    });

    // ------------------------------------------------ hst, iforest, ensemble

    let mut rng = Rng(28);
    let mut values = noisy(&mut rng, 260, 20.0, 1.5, &[(180, 40.0), (220, 5.0)]);
    values[30] = nan;
    values[200] = -inf;
    out.push(Case {
        name: "hst_learned_ranges",
        description: "hst (Half-Space Trees), 5 trees of height 6, windows of 40 rows, ranges learned from the first 40: NaN in warm-up, -inf later, a spike and a dip, two window pivots between batches and a restore",
        config: r#"{"algorithm":"hst","numberOfTrees":5,"height":6,"windowSize":40,"threshold":0.98}"#,
        width: 1,
        timestamps: times(260),
        values,
        keys: vec![],
        batches: vec![39, 2, 100, 119],
        restore_after_batch: Some(1),
    });

    let mut rng = Rng(29);
    let n = 300;
    let keys = interleaved_keys(&mut rng, n, 2);
    let mut values = Vec::with_capacity(n * 2);
    for (i, &k) in keys.iter().enumerate() {
        let a = 5.0 * f64::from(k) + rng.normal();
        let b = 2.0 * a + 0.2 * rng.normal();
        let (a, b) = match i {
            200 => (a, -b), // breaks the tie between the columns
            250 => (nan, b),
            _ => (a, b),
        };
        values.push(a);
        values.push(b);
    }
    out.push(Case {
        name: "iforest_keys_likelihood",
        description: "iforest over 2 correlated columns with two keys, 10 trees, subsamples of 32, a window of 64 retrained every 16 rows, the likelihood layer on: a broken correlation, a NaN column, a restore between retrainings",
        config: r#"{"algorithm":"iforest","numberOfTrees":10,"subSampleSize":32,"windowSize":64,"refreshInterval":16,"likelihood":{"minSamples":10,"shortWindow":3,"threshold":0.99}}"#,
        width: 2,
        timestamps: times(n),
        values,
        keys,
        batches: vec![50, 1, 149, 100],
        restore_after_batch: Some(2),
    });

    let mut rng = Rng(30);
    let mut values = noisy(&mut rng, 240, 100.0, 3.0, &[(150, 130.0), (190, 80.0)]);
    values[60] = nan;
    out.push(Case {
        name: "ensemble_max",
        description: "ensemble of zscore, mad and rcf (each calibrated by its likelihood layer), max of their probabilities, threshold 0.999, cooldown 10, minTrainingSize 30 for the members: a spike, a dip, NaN; severity from the probability",
        config: r#"{"algorithm":"ensemble","members":[{"algorithm":"zscore","likelihood":{"minSamples":20,"shortWindow":3}},{"algorithm":"mad","window":40,"likelihood":{"minSamples":20}},{"algorithm":"rcf","numberOfTrees":5,"subSampleSize":16,"timeDecay":64,"shingleSize":2,"likelihood":{"minSamples":20}}],"minTrainingSize":30,"threshold":0.999,"cooldown":10}"#,
        width: 1,
        timestamps: times(240),
        values,
        keys: vec![],
        batches: vec![35, 65, 140],
        restore_after_batch: Some(1),
    });

    out
}

// ---------------------------------------------------------------- running

fn process(d: &mut WasmDetector, input: &Input<'_>) -> Scores {
    let mut out = Scores::default();
    d.process(input, &mut out).unwrap();
    out
}

/// Rows `start..end` of row-major columns.
fn rows<'a>(
    timestamps: &'a [i64],
    values: &'a [f64],
    width: usize,
    keys: &'a [u32],
    start: usize,
    end: usize,
) -> Input<'a> {
    Input {
        timestamps: &timestamps[start..end],
        values: &values[start * width..end * width],
        width,
        keys: if keys.is_empty() {
            &[]
        } else {
            &keys[start..end]
        },
    }
}

fn slice<'a>(case: &'a Case, start: usize, end: usize) -> Input<'a> {
    rows(
        &case.timestamps,
        &case.values,
        case.width,
        &case.keys,
        start,
        end,
    )
}

/// Replay `batches` on one detector, snapshotting and restoring into a fresh
/// detector after `restore_after_batch`; through `process` or `process-bytes`.
fn replay(case: &Case, bytes: bool) -> (Scores, u32) {
    let rt = embedded();
    let mut d = rt.create(case.config).unwrap();
    let mut all = Scores::default();
    let mut start = 0;
    for (i, &b) in case.batches.iter().enumerate() {
        let input = slice(case, start, start + b);
        let out = if bytes {
            let raw = d
                .process_bytes(&wasmad_core::bytes::encode_input(&input))
                .unwrap();
            wasmad_core::bytes::decode_scores(&raw).unwrap()
        } else {
            process(&mut d, &input)
        };
        assert_eq!(out.len(), b, "{}: batch {i}", case.name);
        all.extend_from(&out);
        start += b;
        if case.restore_after_batch == Some(i) {
            let snap = d.snapshot().unwrap();
            d = rt.restore(&snap).unwrap();
        }
    }
    assert_eq!(start, case.rows(), "{}: batches cover every row", case.name);
    assert_eq!(
        case.values.len(),
        case.rows() * case.width,
        "{}: rows * width values",
        case.name
    );
    (all, d.key_count().unwrap())
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_bits_eq(name: &str, want: &Scores, got: &Scores) {
    for (col, w, g) in [
        ("forecast", &want.forecast, &got.forecast),
        ("lower", &want.lower, &got.lower),
        ("upper", &want.upper, &got.upper),
        ("score", &want.score, &got.score),
        ("probability", &want.probability, &got.probability),
    ] {
        let (w, g) = (bits(w), bits(g));
        assert_eq!(w.len(), g.len(), "{name}: {col} length");
        if let Some(i) = (0..w.len()).find(|&i| w[i] != g[i]) {
            panic!(
                "{name}: {col}[{i}] differs: want {:016x}, got {:016x}",
                w[i], g[i]
            );
        }
    }
    assert_eq!(want.flags, got.flags, "{name}: flags");
    let names = |s: &Scores| -> Vec<(String, usize)> {
        s.extras
            .iter()
            .map(|e| (e.name.clone(), e.per_row))
            .collect()
    };
    assert_eq!(names(want), names(got), "{name}: extras (name, per-row)");
    for (w, g) in want.extras.iter().zip(&got.extras) {
        let (wb, gb) = (bits(&w.values), bits(&g.values));
        assert_eq!(wb.len(), gb.len(), "{name}: extra {} length", w.name);
        if let Some(i) = (0..wb.len()).find(|&i| wb[i] != gb[i]) {
            panic!(
                "{name}: extra {}[{i}] (row {}, item {}) differs: want {:016x}, got {:016x}",
                w.name,
                i / w.per_row.max(1),
                i % w.per_row.max(1),
                wb[i],
                gb[i]
            );
        }
    }
}

// ---------------------------------------------------------------- format

fn hex(v: &[f64]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|x| format!("\"{:016x}\"", x.to_bits()))
        .collect();
    format!("[{}]", items.join(","))
}

fn ints<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(","))
}

fn quoted_ints(v: &[i64]) -> String {
    let items: Vec<String> = v.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", items.join(","))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The vector file: one key per line, every array on one line.
fn render(case: &Case) -> String {
    let rt = embedded();
    // The expected output is one call over every row on a fresh detector.
    let mut d = rt.create(case.config).unwrap();
    let want = process(&mut d, &slice(case, 0, case.rows()));
    for e in &want.extras {
        assert_eq!(
            e.values.len(),
            case.rows() * e.per_row,
            "{}: extra {} has rows * per-row values",
            case.name,
            e.name
        );
    }
    let key_count = d.key_count().unwrap();
    let effective = d.config().unwrap();
    // The replay (batch splits, snapshot/restore) must give the same output,
    // or the vector would contradict itself.
    let (got, got_keys) = replay(case, false);
    assert_bits_eq(case.name, &want, &got);
    assert_eq!(key_count, got_keys, "{}: key count", case.name);

    let mut s = String::new();
    let mut line = |k: &str, v: String, last: bool| {
        let comma = if last { "" } else { "," };
        writeln!(s, "  {}: {v}{comma}", json_str(k)).unwrap();
    };
    line("format", "2".into(), false);
    line("name", json_str(case.name), false);
    line("description", json_str(case.description), false);
    line("config", json_str(case.config), false);
    line("effective_config", json_str(&effective), false);
    line("width", case.width.to_string(), false);
    line("rows", case.rows().to_string(), false);
    line("batches", ints(&case.batches), false);
    line(
        "restore_after_batch",
        case.restore_after_batch
            .map_or("null".into(), |b| b.to_string()),
        false,
    );
    line("timestamps", quoted_ints(&case.timestamps), false);
    line("values", hex(&case.values), false);
    line("keys", ints(&case.keys), false);
    line("key_count", key_count.to_string(), false);
    line("forecast", hex(&want.forecast), false);
    line("lower", hex(&want.lower), false);
    line("upper", hex(&want.upper), false);
    line("score", hex(&want.score), false);
    line("flags", ints(&want.flags), false);
    line("probability", hex(&want.probability), false);
    let extras: Vec<String> = want
        .extras
        .iter()
        .map(|e| {
            format!(
                "    {{\"name\": {}, \"per_row\": {}, \"values\": {}}}",
                json_str(&e.name),
                e.per_row,
                hex(&e.values)
            )
        })
        .collect();
    line(
        "extras",
        if extras.is_empty() {
            "[]".into()
        } else {
            format!("[\n{}\n  ]", extras.join(",\n"))
        },
        true,
    );
    format!("{{\n{s}}}\n")
}

// ---------------------------------------------------------------- parsing

/// A vector read back from its file, independently of [`Case`].
struct Vector {
    name: String,
    config: String,
    effective_config: String,
    width: usize,
    batches: Vec<usize>,
    restore_after_batch: Option<usize>,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    keys: Vec<u32>,
    key_count: u32,
    want: Scores,
}

fn parse(text: &str) -> Vector {
    let j: serde_json::Value = serde_json::from_str(text).unwrap();
    let f64s = |k: &str| -> Vec<f64> {
        j[k].as_array()
            .unwrap_or_else(|| panic!("{k} is an array"))
            .iter()
            .map(|x| f64::from_bits(u64::from_str_radix(x.as_str().unwrap(), 16).unwrap()))
            .collect()
    };
    let uints = |k: &str| -> Vec<u64> {
        j[k].as_array()
            .unwrap_or_else(|| panic!("{k} is an array"))
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    };
    // Format 1 (width 1, no extras) is a subset of format 2.
    let format = j["format"].as_u64().unwrap();
    assert!(format == 1 || format == 2, "unknown vector format {format}");
    let width = j["width"].as_u64().unwrap() as usize;
    assert!(width >= 1 && (format == 2 || width == 1), "width {width}");
    let hexes = |a: &serde_json::Value| -> Vec<f64> {
        a.as_array()
            .unwrap()
            .iter()
            .map(|x| f64::from_bits(u64::from_str_radix(x.as_str().unwrap(), 16).unwrap()))
            .collect()
    };
    let extras = j
        .get("extras")
        .map(|x| {
            x.as_array()
                .unwrap()
                .iter()
                .map(|e| Extra {
                    name: e["name"].as_str().unwrap().to_string(),
                    per_row: e["per_row"].as_u64().unwrap() as usize,
                    values: hexes(&e["values"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let v = Vector {
        name: j["name"].as_str().unwrap().to_string(),
        config: j["config"].as_str().unwrap().to_string(),
        effective_config: j["effective_config"].as_str().unwrap().to_string(),
        width,
        batches: uints("batches").into_iter().map(|b| b as usize).collect(),
        restore_after_batch: j["restore_after_batch"].as_u64().map(|b| b as usize),
        timestamps: j["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().parse().unwrap())
            .collect(),
        values: f64s("values"),
        keys: uints("keys").into_iter().map(|k| k as u32).collect(),
        key_count: j["key_count"].as_u64().unwrap() as u32,
        want: Scores {
            forecast: f64s("forecast"),
            lower: f64s("lower"),
            upper: f64s("upper"),
            score: f64s("score"),
            flags: uints("flags").into_iter().map(|f| f as u8).collect(),
            probability: f64s("probability"),
            extras,
        },
    };
    let n = v.timestamps.len();
    assert_eq!(j["rows"].as_u64(), Some(n as u64), "{}: rows", v.name);
    assert_eq!(v.values.len(), n * width, "{}: rows * width values", v.name);
    for e in &v.want.extras {
        assert_eq!(
            e.values.len(),
            n * e.per_row,
            "{}: extra {}",
            v.name,
            e.name
        );
    }
    v
}

fn vector_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------- tests

/// With `WASMAD_BLESS_VECTORS=1`, rewrite the files; otherwise the files must
/// be exactly what the component produces now (and no file may be stale).
#[test]
fn vector_files_are_current() {
    let bless = std::env::var_os("WASMAD_BLESS_VECTORS").is_some_and(|v| v == "1");
    let dir = vectors_dir();
    let cases = cases();
    let mut names: Vec<String> = cases.iter().map(|c| format!("{}.json", c.name)).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "vector names are unique");
    let mut total = 0;
    for case in &cases {
        let text = render(case);
        total += text.len();
        let path = dir.join(format!("{}.json", case.name));
        if bless {
            // Write then rename, so a replay running beside this test never
            // reads a half-written file.
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, &text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == text,
                "{} is missing or out of date; regenerate with WASMAD_BLESS_VECTORS=1 cargo test -p wasmad-host --test vectors",
                path.display()
            );
        }
    }
    assert!(
        total < 2 << 20,
        "vectors stay under 2 MB, have {total} bytes"
    );
    let on_disk: Vec<String> = vector_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk, names,
        "tests/vectors holds exactly the generated vectors (delete stale files)"
    );
}

fn replay_vector(v: &Vector, bytes: bool) -> (Scores, u32) {
    let rt = embedded();
    let mut d = rt.create(&v.config).unwrap();
    assert_eq!(d.config().unwrap(), v.effective_config, "{}", v.name);
    let mut all = Scores::default();
    let mut start = 0;
    for (i, &b) in v.batches.iter().enumerate() {
        let input = rows(&v.timestamps, &v.values, v.width, &v.keys, start, start + b);
        let out = if bytes {
            let raw = d
                .process_bytes(&wasmad_core::bytes::encode_input(&input))
                .unwrap();
            wasmad_core::bytes::decode_scores(&raw).unwrap()
        } else {
            process(&mut d, &input)
        };
        all.extend_from(&out);
        start += b;
        if v.restore_after_batch == Some(i) {
            let snap = d.snapshot().unwrap();
            d = rt.restore(&snap).unwrap();
        }
    }
    assert_eq!(
        start,
        v.timestamps.len(),
        "{}: batches cover every row",
        v.name
    );
    (all, d.key_count().unwrap())
}

#[test]
fn every_vector_replays_bit_identically() {
    let files = vector_files();
    assert!(files.len() >= 10, "found {} vectors", files.len());
    for path in files {
        let v = parse(&std::fs::read_to_string(&path).unwrap());
        // Twice through `process` (determinism), once through `process-bytes`.
        for (run, bytes) in [(1, false), (2, false), (3, true)] {
            let (got, keys) = replay_vector(&v, bytes);
            assert_bits_eq(&format!("{} (run {run})", v.name), &v.want, &got);
            assert_eq!(keys, v.key_count, "{}: key count", v.name);
        }
    }
}

#[test]
fn vectors_cover_what_they_claim() {
    let vs: Vec<Vector> = vector_files()
        .iter()
        .map(|p| parse(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let configs: Vec<&str> = vs.iter().map(|v| v.effective_config.as_str()).collect();
    for needle in [
        r#""algorithm":"zscore""#,
        r#""algorithm":"ewma""#,
        r#""algorithm":"mad""#,
        r#""algorithm":"holtwinters""#,
        r#""algorithm":"rcf""#,
        r#""algorithm":"spike_dip""#,
        r#""algorithm":"change_point""#,
        r#""algorithm":"robust""#,
        r#""mode":"spikes""#,
        r#""mode":"dips""#,
        r#""martingale":"mixture""#,
        r#""imputeOutliers":true"#,
        r#""shingleSize":2"#,
        r#""direction":"up""#,
        r#""direction":"down""#,
    ] {
        assert!(
            configs.iter().any(|c| c.contains(needle)),
            "no vector with {needle}"
        );
    }
    let any_flag =
        |pred: &dyn Fn(u8) -> bool| vs.iter().any(|v| v.want.flags.iter().any(|f| pred(*f)));
    assert!(
        vs.iter().any(|v| !v.want.probability.is_empty()),
        "a vector with the probability column"
    );
    for severity in 1..=3u8 {
        assert!(
            any_flag(&|f| f & 1 == 1 && (f >> 4) & 3 == severity),
            "an anomaly of severity {severity}"
        );
    }
    assert!(any_flag(&|f| f & 1 == 1 && f & 2 == 2), "an upward anomaly");
    assert!(
        any_flag(&|f| f & 1 == 1 && f & 2 == 0),
        "a downward anomaly"
    );
    assert!(any_flag(&|f| (f >> 2) & 3 == 1), "a warm-up row");
    assert!(any_flag(&|f| (f >> 2) & 3 == 2), "a skipped row");
    assert!(vs.iter().any(|v| !v.keys.is_empty() && v.key_count >= 3));
    assert!(vs.iter().any(|v| v.values.iter().any(|x| x.is_nan())));
    assert!(vs.iter().any(|v| v.values.contains(&f64::INFINITY)));
    assert!(vs.iter().any(|v| v.values.contains(&f64::NEG_INFINITY)));
    assert!(vs.iter().any(|v| v.batches.contains(&0)), "an empty batch");
    assert!(vs.iter().any(|v| v.batches.len() >= 4));
    assert!(vs.iter().any(|v| v.restore_after_batch.is_some()));
    assert!(vs.iter().any(|v| v.width == 2), "a vector of width 2");
    assert!(vs.iter().any(|v| v.width == 3), "a vector of width 3");
    assert!(
        vs.iter().any(|v| v.width > 1 && !v.keys.is_empty()),
        "a keyed multivariate vector"
    );
    for width in [1, 2, 3] {
        assert!(
            vs.iter().any(|v| v.width == width
                && v.want
                    .extras
                    .iter()
                    .any(|e| e.name == "attribution" && e.per_row == 2 * width)),
            "a vector of width {width} with attribution (2 * width per row)"
        );
    }
    assert!(
        vs.iter().all(|v| v.timestamps.len() <= 450),
        "every vector stays small (at most 450 rows)"
    );
}
