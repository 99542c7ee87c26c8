//! Properties of `spikedip`, `changepoint` and `robust` on data with NaN,
//! infinities, huge values, repeats and spikes:
//!
//! (a) serialising the state with postcard and restoring it between any
//!     rows (in batches of any sizes) never changes a bit of the output nor
//!     of the final state, and every restored state `is_consistent`;
//! (b) no input panics, and scores stay in range: spikedip's p-value in
//!     [1e-8, 1 - 1e-8], changepoint's martingale >= 0 and finite, robust's
//!     score one of its per-column z;
//! (c) statuses: NaN / inf rows are `skipped`, the first `minTrainingSize`
//!     learned rows `warmup`, then `ok`, except (with `historyDuration`)
//!     a row whose window a gap in time has emptied, which is `warmup`.
//!
//! spikedip and changepoint rows carry event times with repeats, jumps
//! longer than the configs' `historyDuration` and late (earlier) rows.
//!
//! 64 cases from a fixed seed (`PROPTEST_CASES` / `PROPTEST_RNG_SEED`
//! explore further).

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde::{Serialize, de::DeserializeOwned};
use wasmad_core::changepoint::{ChangePoint, ChangePointParams};
use wasmad_core::config::{Reader, parse_object};
use wasmad_core::flags::Status;
use wasmad_core::robust::{Robust, RobustParams};
use wasmad_core::spikedip::{SpikeDip, SpikeDipParams};
use wasmad_core::step::Step;

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 64;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0xA2_0DE7);
    }
    c.failure_persistence = None;
    c
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -5.0..5.0f64,
        2 => Just(1.0),
        1 => prop_oneof![Just(1e3), Just(-1e3), Just(1e300), Just(-1e300), Just(f64::MAX)],
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
    ]
}

/// Time steps between rows, in microseconds: repeats, small steps, a jump
/// past every config's `historyDuration`, and late rows.
fn time_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..3,
        1 => Just(50),
        1 => Just(-7),
    ]
}

/// Rows `(value, event time)` with times from [`time_step`].
fn timed_rows() -> impl Strategy<Value = (Vec<f64>, Vec<i64>)> {
    prop::collection::vec((value(), time_step()), 0..120).prop_map(|rows| {
        let mut t = 0i64;
        let ts = rows
            .iter()
            .map(|(_, dt)| {
                t += dt;
                t
            })
            .collect();
        (rows.into_iter().map(|(x, _)| x).collect(), ts)
    })
}

fn spikedip_configs() -> Vec<&'static str> {
    vec![
        r#"{"historySize":3}"#,
        r#"{"historySize":7,"mode":"spikes","confidence":80}"#,
        r#"{"historySize":5,"mode":"dips","minTrainingSize":2}"#,
        r#"{"historySize":4,"minTrainingSize":9,"confidence":100}"#,
        r#"{"historySize":6,"historyDuration":"5us","minTrainingSize":2}"#,
        r#"{"historySize":40,"historyDuration":"20us","mode":"spikes","confidence":80}"#,
    ]
}

fn changepoint_configs() -> Vec<&'static str> {
    vec![
        r#"{"historySize":3,"minTrainingSize":2,"confidence":60}"#,
        r#"{"historySize":6,"confidence":80}"#,
        r#"{"historySize":5,"martingale":"mixture","confidence":70,"minTrainingSize":7}"#,
        r#"{"historySize":4,"epsilon":0.5,"confidence":1}"#,
        r#"{"historySize":5,"historyDuration":"6us","minTrainingSize":2,"confidence":60}"#,
        r#"{"historySize":8,"historyDuration":"3us","martingale":"mixture","confidence":70}"#,
    ]
}

fn robust_configs() -> Vec<&'static str> {
    vec![
        r#"{"window":3,"minTrainingSize":2}"#,
        r#"{"window":6,"minTrainingSize":3,"imputeOutliers":true,"threshold":1.5}"#,
        r#"{"window":5,"minTrainingSize":5,"direction":"up","imputeOutliers":true}"#,
        r#"{"window":4,"minTrainingSize":2,"direction":"down","threshold":0.5}"#,
    ]
}

fn postcard_round_trip<T: Serialize + DeserializeOwned>(t: &T) -> T {
    let bytes = postcard::to_allocvec(t).expect("serialise");
    postcard::from_bytes(&bytes).expect("deserialise")
}

/// The bits of every field, so NaN == NaN.
fn bits(s: &Step) -> (Status, u64, bool, bool, u64, u64, u64) {
    (
        s.status,
        s.score.to_bits(),
        s.anomaly,
        s.up,
        s.forecast.to_bits(),
        s.lower.to_bits(),
        s.upper.to_bits(),
    )
}

/// Run `rows` straight through, and again with a postcard round trip at
/// every split point; both must agree bit for bit.
fn check_splits<M, P>(
    new: impl Fn(&P) -> M,
    update: impl Fn(&mut M, usize, &P) -> (Step, Vec<u64>),
    consistent: impl Fn(&M, &P) -> bool,
    p: &P,
    n: usize,
    splits: &[usize],
) -> Vec<Step>
where
    M: Serialize + DeserializeOwned + Clone,
{
    let mut straight = new(p);
    let a: Vec<(Step, Vec<u64>)> = (0..n).map(|i| update(&mut straight, i, p)).collect();
    let mut m = new(p);
    let mut b = Vec::with_capacity(n);
    for i in 0..n {
        if splits.contains(&i) {
            m = postcard_round_trip(&m);
            assert!(
                consistent(&m, p),
                "restored state at row {i} is inconsistent"
            );
        }
        b.push(update(&mut m, i, p));
    }
    for (i, ((sa, za), (sb, zb))) in a.iter().zip(&b).enumerate() {
        assert_eq!(bits(sa), bits(sb), "row {i}");
        assert_eq!(za, zb, "row {i}");
    }
    assert_eq!(
        postcard::to_allocvec(&straight).expect("serialise"),
        postcard::to_allocvec(&m).expect("serialise")
    );
    assert!(consistent(&m, p));
    a.into_iter().map(|(s, _)| s).collect()
}

fn read<P>(
    name: &'static str,
    specs: Vec<wasmad_core::config::ParamSpec>,
    json: &str,
    f: impl Fn(&Reader<'_>) -> P,
) -> P {
    let obj = parse_object(json).expect("config");
    let r = Reader::new(name, &obj, specs).expect("keys");
    f(&r)
}

/// Statuses: skipped for non-finite rows, warmup for the first `min`
/// learned rows, ok after, except warmup for a row at least `duration`
/// (when not 0) after the last learned row (times as the models count
/// them: a late row is at the latest learned time).
fn check_statuses(
    steps: &[Step],
    finite: impl Fn(usize) -> bool,
    min: u64,
    ts: &[i64],
    duration: u64,
) {
    let mut learned = 0u64;
    let mut last: Option<i64> = None;
    for (i, s) in steps.iter().enumerate() {
        let t = ts.get(i).copied().unwrap_or(0);
        let t = last.map_or(t, |l| t.max(l));
        let gap = duration > 0 && last.is_none_or(|l| l < t - duration as i64);
        let want = if !finite(i) {
            Status::Skipped
        } else if learned < min || gap {
            Status::Warmup
        } else {
            Status::Ok
        };
        if finite(i) {
            learned += 1;
            last = Some(t);
        }
        assert_eq!(s.status, want, "row {i}");
        if want != Status::Ok {
            assert!(s.score.is_nan() && !s.anomaly, "row {i}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spikedip_snapshot_split_invariance(
        (xs, ts) in timed_rows(),
        splits in prop::collection::vec(0usize..120, 0..6),
        c in 0usize..6,
    ) {
        let p: SpikeDipParams = read(SpikeDip::NAME, SpikeDip::specs(), spikedip_configs()[c], |r| SpikeDip::read(r).expect("params").1);
        let steps = check_splits(
            SpikeDip::new,
            |m, i, p| (m.update_at(xs[i], ts[i], p), vec![]),
            SpikeDip::is_consistent,
            &p,
            xs.len(),
            &splits,
        );
        check_statuses(&steps, |i| xs[i].is_finite(), p.min_training_size, &ts, p.history_duration);
        for s in steps.iter().filter(|s| s.status == Status::Ok) {
            prop_assert!((1e-8..=1.0 - 1e-8).contains(&s.score), "{s:?}");
            prop_assert_eq!(s.anomaly, s.score <= p.alpha());
        }
    }

    #[test]
    fn changepoint_snapshot_split_invariance(
        (xs, ts) in timed_rows(),
        splits in prop::collection::vec(0usize..120, 0..6),
        c in 0usize..6,
    ) {
        let p: ChangePointParams = read(ChangePoint::NAME, ChangePoint::specs(), changepoint_configs()[c], |r| ChangePoint::read(r).expect("params").1);
        let steps = check_splits(
            ChangePoint::new,
            |m, i, p| (m.update_at(xs[i], ts[i], p), vec![m.log_martingale(p).to_bits()]),
            ChangePoint::is_consistent,
            &p,
            xs.len(),
            &splits,
        );
        check_statuses(&steps, |i| xs[i].is_finite(), p.min_training_size, &ts, p.history_duration);
        for s in steps.iter().filter(|s| s.status == Status::Ok) {
            prop_assert!(s.score >= 0.0 && s.score.is_finite(), "{s:?}");
        }
    }

    #[test]
    fn robust_snapshot_split_invariance(
        width in 1usize..4,
        xs in prop::collection::vec(value(), 0..240),
        splits in prop::collection::vec(0usize..80, 0..6),
        c in 0usize..4,
    ) {
        let p: RobustParams = read(Robust::NAME, Robust::specs(), robust_configs()[c], |r| Robust::read(r).expect("params").1);
        let rows = xs.len() / width;
        let steps = check_splits(
            Robust::new,
            |m, i, p| {
                let mut z = vec![0.0; width];
                let s = m.update(&xs[i * width..(i + 1) * width], p, &mut z);
                if s.status == Status::Ok {
                    assert!(z.iter().any(|v| v.to_bits() == s.score.to_bits()), "{s:?} {z:?}");
                }
                (s, z.iter().map(|v| v.to_bits()).collect())
            },
            Robust::is_consistent,
            &p,
            rows,
            &splits,
        );
        // A row is skipped only when all its values are non-finite.
        for (i, s) in steps.iter().enumerate() {
            let any = xs[i * width..(i + 1) * width].iter().any(|v| v.is_finite());
            prop_assert_eq!(s.status == Status::Skipped, !any, "row {}", i);
        }
        if width == 1 {
            check_statuses(&steps, |i| xs[i].is_finite(), p.min_training_size, &[], 0);
        }
    }
}
