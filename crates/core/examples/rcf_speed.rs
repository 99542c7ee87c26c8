//! Times our Random Cut Forest against `krcf` (a Rust port of AWS's
//! randomcutforest, from crates.io) on the same series: 200k points of a
//! sine plus noise with a few spikes, 30 trees, 256 points per tree,
//! univariate, shingle 1, single-threaded, each row scored then learned.
//!
//! Run: `cargo run --release -p wasmad-core --example rcf_speed`
//! (optional arguments: the number of rows, then a CSV path to also write the
//! series to as `ts,v`, so that `scripts/bench-rcf.sh` can time the same
//! series through the WASM component in SQL).

use std::time::Instant;

use krcf::{RandomCutForest, RandomCutForestOptions};
use wasmad_core::flags::Status;
use wasmad_core::rcf::{Rcf, RcfParams};

fn series(n: usize) -> Vec<f64> {
    let mut state = 7u64;
    let mut noise = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..n)
        .map(|i| {
            let spike = if i > 1000 && i % 40_000 == 0 {
                8.0
            } else {
                0.0
            };
            5.0 * libm::sin(i as f64 * std::f64::consts::TAU / 100.0) + noise() + spike
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let values = series(n);
    if let Some(path) = std::env::args().nth(2) {
        let mut csv = String::from("ts,v\n");
        for (i, v) in values.iter().enumerate() {
            csv.push_str(&format!("{i},{v:?}\n"));
        }
        if let Err(e) = std::fs::write(&path, csv) {
            panic!("cannot write {path}: {e}");
        }
    }
    let (trees, sample) = (30, 256);

    let params = RcfParams {
        number_of_trees: trees,
        sub_sample_size: sample,
        time_decay: 100_000,
        shingle_size: 1,
        seed: 42,
        min_training_size: sample as u64,
    };
    let mut ours = match Rcf::new(&params, 1) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let start = Instant::now();
    let mut max_ours = 0.0f64;
    for v in &values {
        let step = ours.update(&[*v], &params);
        if step.status == Status::Ok {
            max_ours = max_ours.max(step.score);
        }
    }
    let ours_s = start.elapsed().as_secs_f64();

    let options = RandomCutForestOptions {
        dimensions: 1,
        shingle_size: 1,
        num_trees: Some(trees),
        sample_size: Some(sample),
        output_after: Some(sample),
        random_seed: Some(42),
        parallel_execution_enabled: Some(false),
        lambda: Some(1.0 / 100_000.0),
        ..Default::default()
    };
    let mut theirs = match RandomCutForest::new(options) {
        Ok(f) => f,
        Err(e) => panic!("{e:?}"),
    };
    let start = Instant::now();
    let mut max_theirs = 0.0f64;
    for (i, v) in values.iter().enumerate() {
        let p = [*v as f32];
        if i >= sample {
            max_theirs = max_theirs.max(theirs.score(&p).unwrap_or(0.0));
        }
        if let Err(e) = theirs.update(&p) {
            panic!("{e:?}");
        }
    }
    let theirs_s = start.elapsed().as_secs_f64();

    let (ro, rt) = (n as f64 / ours_s, n as f64 / theirs_s);
    println!("rows: {n}, trees: {trees}, subSampleSize: {sample}, univariate, shingle 1");
    println!("wasmad rcf: {ro:>12.0} rows/s  ({ours_s:.3} s, max score {max_ours:.3})");
    println!("krcf 0.4:   {rt:>12.0} rows/s  ({theirs_s:.3} s, max score {max_theirs:.3})");
    println!("ratio (wasmad / krcf): {:.2}x", ro / rt);

    // Ours alone in other shapes: Kinesis's default 100 trees, three columns
    // with shingles of 4, and the attribution path.
    println!();
    for (trees, width, shingle, attribution) in [
        (30, 1, 1, true),
        (100, 1, 1, false),
        (100, 3, 4, false),
        (100, 3, 4, true),
    ] {
        let params = RcfParams {
            number_of_trees: trees,
            shingle_size: shingle,
            ..params.clone()
        };
        let mut forest = match Rcf::new(&params, width) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        let rows = n / 4;
        let mut out = vec![0.0; 2 * width];
        let mut row = vec![0.0; width];
        let start = Instant::now();
        for i in 0..rows {
            for (c, v) in row.iter_mut().enumerate() {
                *v = values[(i + 37 * c) % n] * (c + 1) as f64;
            }
            if attribution {
                forest.update_with_attribution(&row, &params, &mut out);
            } else {
                forest.update(&row, &params);
            }
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "wasmad rcf, {trees} trees, width {width}, shingle {shingle}{}: {:>10.0} rows/s",
            if attribution {
                ", with attribution"
            } else {
                ""
            },
            rows as f64 / s
        );
    }
}
