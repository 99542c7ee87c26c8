//! Rows per second of one `arima` key over a 100k-row series (an AR(1) with a
//! daily pattern and a drift), default config and a few variants.
//!
//! Run: `cargo run --release -p wasmad-core --example arima_speed [CONFIG_JSON...]`

use std::time::Instant;

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
            let phase = (i % 288) as f64 / 288.0;
            let day = if phase < 0.5 { phase } else { 1.0 - phase };
            100.0 + 5.0 * day + 0.00001 * i as f64 + x
        })
        .collect()
}

fn main() {
    let y = series(100_000);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let defaults = [
        "{}",
        r#"{"p":1,"d":0,"q":1}"#,
        r#"{"p":2,"d":1,"q":1}"#,
        r#"{"updateInterval":512}"#,
        r#"{"enableStl":true,"m":48}"#,
    ];
    let configs: Vec<&str> = if args.is_empty() {
        defaults.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    for config in configs {
        let params = ArimaParams::from_json(config).expect("valid config");
        let mut model = Arima::new(&params);
        let start = Instant::now();
        let mut flagged = 0usize;
        for &v in &y {
            if model.update(v, &params).anomaly {
                flagged += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{config:<32} {:>10.0} rows/s  ({:.2} s, order {:?}, {flagged} flagged)",
            y.len() as f64 / secs,
            secs,
            model.order()
        );
    }
}
