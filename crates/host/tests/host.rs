//! The host survives hostile components, refuses foreign ones, and gives the
//! same results as the native detectors.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmad_core::{Detector, Input, Scores};
use wasmad_host::{CallFailure, Error, GuestErrorKind, Limits, Runtime};

fn embedded() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::embedded(Limits::default()).expect("embedded component loads"))
}

fn hostile(limits: Limits) -> Runtime {
    Runtime::from_file(Path::new(env!("WASMAD_HOSTILE_COMPONENT")), limits).expect("hostile loads")
}

fn tight() -> Limits {
    Limits {
        memory_bytes: 64 << 20,
        call_timeout: Duration::from_millis(300),
    }
}

#[test]
fn embedded_component_imports_nothing() {
    let engine = wasmtime::Engine::default();
    let c = wasmtime::component::Component::new(&engine, wasmad_host::EMBEDDED_COMPONENT).unwrap();
    let imports: Vec<String> = c
        .component_type()
        .imports(&engine)
        .map(|(n, _)| n.to_string())
        .collect();
    assert!(imports.is_empty(), "imports: {imports:?}");
}

#[test]
fn describe_lists_algorithms_and_abi() {
    let d: serde_json::Value = serde_json::from_str(embedded().describe()).unwrap();
    assert_eq!(d["abi"], wasmad_host::ABI_VERSION);
    let names: Vec<&str> = d["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, wasmad_core::ALGORITHMS);
}

#[test]
fn an_endless_loop_becomes_a_timeout_error() {
    let rt = hostile(tight());
    let start = Instant::now();
    let err = rt.create("loop").unwrap_err();
    assert_eq!(err.call_failure(), Some(CallFailure::Timeout), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("detector.create"), "{err}");
    // And in process, after a good create.
    let mut d = rt.create("process-loop").unwrap();
    let err = d
        .process(&Input::univariate(&[1], &[1.0]), &mut Scores::default())
        .unwrap_err();
    assert_eq!(err.call_failure(), Some(CallFailure::Timeout), "{err}");
}

#[test]
fn a_memory_bomb_becomes_an_out_of_memory_error() {
    let rt = hostile(tight());
    let err = rt.create("alloc").unwrap_err();
    assert_eq!(err.call_failure(), Some(CallFailure::OutOfMemory), "{err}");
    assert!(err.to_string().contains("memory limit"), "{err}");
    let mut d = rt.create("process-alloc").unwrap();
    let err = d
        .process(&Input::univariate(&[1], &[1.0]), &mut Scores::default())
        .unwrap_err();
    assert_eq!(err.call_failure(), Some(CallFailure::OutOfMemory), "{err}");
}

#[test]
fn a_trap_becomes_an_error_naming_the_module() {
    let rt = hostile(tight());
    let err = rt.create("trap").unwrap_err();
    assert_eq!(err.call_failure(), Some(CallFailure::Trap), "{err}");
    assert!(err.to_string().contains("hostile.wasm"), "{err}");
    // The host is still usable afterwards: a fresh store works.
    let mut d = rt.create("fine").unwrap();
    assert_eq!(d.key_count().unwrap(), 0);
}

#[test]
fn a_wrong_abi_version_is_refused_on_load() {
    let path = Path::new(env!("WASMAD_HOSTILE_WRONG_ABI_COMPONENT"));
    let err = Runtime::from_file(path, Limits::default()).unwrap_err();
    match &err {
        Error::Abi {
            found, expected, ..
        } => {
            assert_eq!((*found, *expected), (999, wasmad_core::ABI_VERSION));
        }
        other => panic!("expected an ABI error, got {other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("requires version {}", wasmad_core::ABI_VERSION)),
        "{err}"
    );
}

#[test]
fn load_errors_say_what_is_expected() {
    let err = Runtime::from_bytes("junk", b"not wasm at all", Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("component implementing wasmad:detector"),
        "{err}"
    );
    let err = Runtime::from_file(Path::new("/nonexistent/x.wasm"), Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err}");
}

#[test]
fn a_component_without_the_detector_export_is_refused_at_link() {
    // An empty component: valid, but it exports nothing this host can link.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let err = Runtime::from_bytes("empty", empty_component, Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Link { .. }), "{err}");
    assert!(
        err.to_string().contains("wasmad:detector/detectors"),
        "{err}"
    );
}

#[test]
fn guest_errors_are_typed() {
    let err = embedded().create(r#"{"algorithm":"nope"}"#).unwrap_err();
    assert_eq!(err.guest_kind(), Some(GuestErrorKind::InvalidConfig));
    assert!(err.to_string().contains("zscore, ewma, mad"), "{err}");
    let err = embedded().create(r#"{"treshold":3}"#).unwrap_err();
    assert!(err.to_string().contains("unknown key 'treshold'"), "{err}");
    let err = embedded().restore(b"garbage").unwrap_err();
    assert_eq!(err.guest_kind(), Some(GuestErrorKind::InvalidSnapshot));
    let mut d = embedded().create("{}").unwrap();
    let bad = Input {
        timestamps: &[1, 2],
        values: &[1.0],
        width: 1,
        keys: &[],
    };
    let err = d.process(&bad, &mut Scores::default()).unwrap_err();
    assert_eq!(err.guest_kind(), Some(GuestErrorKind::InvalidInput));
    // The host leaves out the timestamps of a detector that reads none
    // (zscore's defaults), but only from a well-formed batch: a malformed
    // one is still refused, not read as rows of values.
    let bad = Input {
        timestamps: &[1],
        values: &[1.0, 2.0],
        width: 1,
        keys: &[],
    };
    let err = d.process(&bad, &mut Scores::default()).unwrap_err();
    assert_eq!(err.guest_kind(), Some(GuestErrorKind::InvalidInput));
}

fn series(n: usize, seed: u64) -> (Vec<i64>, Vec<f64>, Vec<u32>) {
    let mut s = seed;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let ts = (0..n as i64).map(|i| i * 1_000_000).collect();
    let vs = (0..n)
        .map(|i| match i % 97 {
            13 => f64::NAN,
            50 => 40.0,
            _ => 10.0 + (i as f64 / 20.0).sin() + rnd(),
        })
        .collect();
    let keys = (0..n).map(|i| (i % 7) as u32).collect();
    (ts, vs, keys)
}

fn assert_bits_eq(a: &Scores, b: &Scores) {
    assert_eq!(a.flags, b.flags);
    for (x, y) in [
        (&a.forecast, &b.forecast),
        (&a.lower, &b.lower),
        (&a.upper, &b.upper),
        (&a.score, &b.score),
        (&a.probability, &b.probability),
    ] {
        let xb: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
        let yb: Vec<u64> = y.iter().map(|v| v.to_bits()).collect();
        assert_eq!(xb, yb);
    }
}

#[test]
fn wasm_and_native_are_bit_identical_and_snapshots_cross_stores() {
    let (ts, vs, keys) = series(3000, 42);
    for config in [
        r#"{"algorithm":"zscore","window":200}"#,
        r#"{"algorithm":"zscore"}"#,
        r#"{"algorithm":"ewma","halfLife":30}"#,
        r#"{"algorithm":"mad","window":64,"direction":"up"}"#,
        r#"{"algorithm":"zscore","likelihood":{"minSamples":20},"cooldown":5}"#,
        r#"{"algorithm":"ewma","minConsecutive":2,"minDeviation":{"absolute":0.5},"cooldown":"30s"}"#,
        r#"{"algorithm":"holtwinters","period":24,"beta":0.01,"likelihood":{"minSamples":20},"cooldown":5}"#,
    ] {
        let input = Input {
            timestamps: &ts,
            values: &vs,
            width: 1,
            keys: &keys,
        };
        let mut native = Detector::from_config(config).unwrap();
        let mut want = Scores::default();
        native.process(&input, &mut want).unwrap();

        let mut wasm = embedded().create(config).unwrap();
        let mut got = Scores::default();
        wasm.process(&input, &mut got).unwrap();
        assert_bits_eq(&want, &got);
        let expect_probability = if config.contains("likelihood") {
            ts.len()
        } else {
            0
        };
        assert_eq!(got.probability.len(), expect_probability, "{config}");

        // Split at 1234, snapshot in one store, restore in another.
        let split = 1234;
        let first = Input {
            timestamps: &ts[..split],
            values: &vs[..split],
            width: 1,
            keys: &keys[..split],
        };
        let rest = Input {
            timestamps: &ts[split..],
            values: &vs[split..],
            width: 1,
            keys: &keys[split..],
        };
        let mut a = embedded().create(config).unwrap();
        let mut out1 = Scores::default();
        a.process(&first, &mut out1).unwrap();
        let snap = a.snapshot().unwrap();
        assert_eq!(snap, native_snapshot_after(config, &first));
        let mut b = embedded().restore(&snap).unwrap();
        let mut out2 = Scores::default();
        b.process(&rest, &mut out2).unwrap();
        out1.extend_from(&out2);
        assert_bits_eq(&want, &out1);

        // The bytes entry point gives the same bytes as the typed one.
        let mut c = embedded().create(config).unwrap();
        let raw = c
            .process_bytes(&wasmad_core::bytes::encode_input(&input))
            .unwrap();
        assert_bits_eq(&want, &wasmad_core::bytes::decode_scores(&raw).unwrap());
        assert_eq!(b.key_count().unwrap(), 7);
    }
}

fn native_snapshot_after(config: &str, input: &Input<'_>) -> Vec<u8> {
    let mut d = Detector::from_config(config).unwrap();
    d.process(input, &mut Scores::default()).unwrap();
    d.snapshot()
}
