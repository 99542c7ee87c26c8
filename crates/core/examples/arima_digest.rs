//! A digest (FNV-1a over the bits of every output) of `arima` on a seeded
//! series under several configs, to compare targets: native and WASM must
//! print the same lines.
//!
//! Run: `cargo run -p wasmad-core --example arima_digest`, and for WASM
//! `cargo build -p wasmad-core --example arima_digest --target wasm32-wasip1`
//! then run the `.wasm` under any WASI runtime (e.g. Node's `node:wasi`).

use wasmad_core::arima::{Arima, ArimaParams};

fn series(n: usize) -> Vec<f64> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut x = 0.0;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            x = 0.7 * x + u;
            let phase = (i % 48) as f64 / 48.0;
            let day = if phase < 0.5 { phase } else { 1.0 - phase };
            let spike = if i % 997 == 500 { 8.0 } else { 0.0 };
            100.0 + 5.0 * day + 0.001 * i as f64 + x + spike
        })
        .collect()
}

fn main() {
    let y = series(3000);
    for config in [
        "{}",
        r#"{"p":2,"d":1,"q":1,"horizon":12}"#,
        r#"{"d":0,"minTrainingSize":64,"updateInterval":16}"#,
        r#"{"enableStl":true,"m":48,"horizon":24}"#,
    ] {
        let params = match ArimaParams::from_json(config) {
            Ok(p) => p,
            Err(e) => {
                println!("{config}: {e}");
                continue;
            }
        };
        let mut model = Arima::new(&params);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |v: f64| {
            for b in v.to_bits().to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        let mut flagged = 0;
        let mut out = Vec::new();
        for &v in &y {
            let s = model.update(v, &params);
            for x in [s.forecast, s.lower, s.upper, s.rmse, s.aic] {
                eat(x.unwrap_or(f64::NAN));
            }
            eat(s.score);
            flagged += usize::from(s.anomaly);
        }
        model.forecast(&params, &mut out);
        for f in &out {
            eat(f.forecast);
            eat(f.lower);
            eat(f.upper);
        }
        println!(
            "{config:<48} order {:?} flagged {flagged} digest {h:016x}",
            model.order()
        );
    }
}
