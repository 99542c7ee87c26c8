//! The plugin configuration and the per-key models, on the host (the Envoy
//! glue is tested against a real Envoy by envoy_test.sh).

use wasmad_proxy::config::{Action, Config, KeyBy, Metric};
use wasmad_proxy::{Error, Models, Verdict};

fn parse(json: &str) -> Result<Config, String> {
    Config::parse(json.as_bytes()).map_err(|e| {
        let Error::Config(m) = &e else {
            panic!("not a config error: {e}")
        };
        m.clone()
    })
}

#[test]
fn a_full_configuration_parses() {
    let c = parse(
        r#"{"metric":"header:X-Latency-Ms","detector":{"algorithm":"mad","minTrainingSize":5},
            "action":"reject","keyBy":"header:X-Tenant","rejectStatus":503,"maxKeys":7}"#,
    )
    .expect("valid");
    assert_eq!(c.metric, Metric::RequestHeader("x-latency-ms".into()));
    assert_eq!(c.action, Action::Reject);
    assert_eq!(c.key_by, KeyBy::Header("x-tenant".into()));
    assert_eq!((c.reject_status, c.max_keys), (503, 7));
    assert!(!c.tag_upstream);
    let c = parse(r#"{"metric":"header:x","detector":{"algorithm":"zscore"},"tagUpstream":true}"#)
        .expect("valid");
    assert!(c.tag_upstream);
}

#[test]
fn defaults_are_tag_per_route_429() {
    let c =
        parse(r#"{"metric":"request_duration","detector":{"algorithm":"zscore"}}"#).expect("valid");
    assert_eq!(c.metric, Metric::RequestDuration);
    assert_eq!(c.action, Action::Tag);
    assert_eq!(c.key_by, KeyBy::Route);
    assert_eq!(c.reject_status, 429);
    let c = parse(
        r#"{"metric":"response_header:x-envoy-upstream-service-time","detector":{"algorithm":"ewma"},"keyBy":"path"}"#,
    )
    .expect("valid");
    assert_eq!(
        c.metric,
        Metric::ResponseHeader("x-envoy-upstream-service-time".into())
    );
    assert_eq!(c.key_by, KeyBy::Path);
}

/// Each bad configuration and a fragment its message must hold (naming the
/// bad key and what is accepted).
#[test]
fn bad_configurations_name_the_bad_key() {
    let z = r#""detector":{"algorithm":"zscore"}"#;
    let cases = [
        ("not json", "not valid JSON".to_string()),
        ("[1]", "expected a JSON object".into()),
        (
            &format!(r#"{{"metric":"header:x",{z},"keyby":"route"}}"#),
            "unknown key 'keyby'; accepted keys: metric, detector".into(),
        ),
        (&format!("{{{z}}}"), "missing key 'metric'".into()),
        (r#"{"metric":"header:x"}"#, "missing key 'detector'".into()),
        (
            &format!(r#"{{"metric":"latency",{z}}}"#),
            "'metric': 'latency' is not a metric; accepted:".into(),
        ),
        (
            &format!(r#"{{"metric":"header:",{z}}}"#),
            "'metric': 'header:' is not a metric".into(),
        ),
        (
            &format!(r#"{{"metric":7,{z}}}"#),
            "'metric' must be a string, got a number".into(),
        ),
        (
            r#"{"metric":"header:x","detector":"zscore"}"#,
            "'detector' must be a wasmad detector config object".into(),
        ),
        (
            r#"{"metric":"header:x","detector":{"algorithm":"zscore","threshold":-1}}"#,
            "'detector': invalid config: 'threshold'".into(),
        ),
        (
            r#"{"metric":"header:x","detector":{"algorithm":"nope"}}"#,
            "'detector': invalid config:".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"action":"drop"}}"#),
            "'action': 'drop' is not an action; accepted: \"tag\", \"reject\"".into(),
        ),
        (
            &format!(r#"{{"metric":"request_duration",{z},"action":"reject"}}"#),
            "'action': \"reject\" needs a metric known when the request arrives".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"keyBy":"tenant"}}"#),
            "'keyBy': 'tenant' is not a key; accepted:".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"rejectStatus":99}}"#),
            "'rejectStatus' must be an HTTP status from 200 to 599, got 99".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"maxKeys":0}}"#),
            "'maxKeys' must be an integer from 1 to 10000000, got 0".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"tagUpstream":"yes"}}"#),
            "'tagUpstream' must be true or false, got a string".into(),
        ),
        (
            &format!(r#"{{"metric":"request_duration",{z},"tagUpstream":true}}"#),
            "'tagUpstream': true needs a metric known when the request arrives".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"width":0}}"#),
            "'width' must be an integer from 1 to 1024 (values per request), got 0".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"width":"2"}}"#),
            "'width' must be an integer from 1 to 1024".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"width":2}}"#),
            "'detector': algorithm 'zscore' cannot score 2 numbers per request".into(),
        ),
        (
            r#"{"metric":"request_duration","detector":{"algorithm":"rcf"},"width":2}"#,
            "'width': 2 needs a header metric".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"exactOutputs":1}}"#),
            "'exactOutputs' must be true or false, got a number".into(),
        ),
        (
            &format!(r#"{{"metric":"header:x",{z},"timestamp":"x-time"}}"#),
            "'timestamp': 'x-time' is not a timestamp source; accepted: \"header:<name>\"".into(),
        ),
    ];
    for (json, want) in cases {
        let got = parse(json).expect_err(json);
        assert!(got.contains(&want), "{json}: {got:?} lacks {want:?}");
    }
}

/// The multivariate algorithms take one value column too (width 1), so every
/// algorithm is usable; the configuration probe would refuse one that is not.
#[test]
fn every_algorithm_configures_and_scores_one_number() {
    for algo in wasmad_core::ALGORITHMS {
        let extra = match *algo {
            "holtwinters" => r#","period":4"#,
            "ensemble" => r#","members":[{"algorithm":"zscore"},{"algorithm":"mad"}]"#,
            _ => "",
        };
        let json = format!(r#"{{"metric":"header:x","detector":{{"algorithm":"{algo}"{extra}}}}}"#);
        let c = parse(&json).unwrap_or_else(|e| panic!("{algo}: {e}"));
        let mut m = Models::new(&c.detector, c.width, 10).expect("models");
        for i in 0..50_i32 {
            m.score(b"", Some(&[f64::from(i % 3)]), i64::from(i))
                .unwrap_or_else(|e| panic!("{algo}: {e}"));
        }
    }
}

#[test]
fn keys_get_separate_models_and_stay_bounded() {
    let mut m = Models::new(r#"{"algorithm":"zscore","minTrainingSize":5}"#, 1, 2).expect("models");
    for i in 0..10_i32 {
        let jitter = f64::from(i % 3);
        let i = i64::from(i);
        m.score(b"a", Some(&[100.0 + jitter]), i).expect("a");
        m.score(b"b", Some(&[1000.0 + jitter]), i).expect("b");
    }
    assert_eq!(m.key_count(), 2);
    let Verdict::Scored { anomaly, .. } = m.score(b"b", Some(&[1000.0]), 10).expect("b") else {
        panic!("b is trained")
    };
    assert!(!anomaly, "1000 is normal for b");
    let v = m.score(b"a", Some(&[1000.0]), 10).expect("a");
    assert!(v.anomaly(), "1000 is an anomaly for a: {v:?}");
    assert!(
        v.score_text()
            .is_some_and(|s| s.parse::<f64>().is_ok_and(|x| x > 50.0))
    );
    assert_eq!(
        m.score(b"c", Some(&[1.0]), 11).expect("c"),
        Verdict::Overflow
    );
    assert_eq!(m.key_count(), 2);
    assert_eq!(m.score(b"a", None, 12).expect("none"), Verdict::Skipped);
    // NaN reaches the detector, which says skipped (as in every host).
    assert_eq!(
        m.score(b"a", Some(&[f64::NAN]), 12).expect("nan"),
        Verdict::Skipped
    );
    let exact = m.exact_headers();
    let get = |name: &str| {
        exact
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        get("x-anomaly-flags"),
        Some("8"),
        "status skipped: {exact:?}"
    );
    assert_eq!(get("x-anomaly-score-bits"), Some("7ff8000000000000"));
    assert_eq!(get("x-anomaly-key-count"), Some("2"));
    assert_eq!(m.score(b"a", None, 13).expect("none"), Verdict::Skipped);
    assert_eq!(
        m.exact_headers(),
        [("x-anomaly-key-count".to_string(), "2".to_string())],
        "a row that never reached the detector has no outputs"
    );
}

#[test]
fn warmup_then_scored() {
    let mut m =
        Models::new(r#"{"algorithm":"zscore","minTrainingSize":3}"#, 1, 10).expect("models");
    let v: Vec<_> = [1.0, 2.0, 3.0, 2.0]
        .iter()
        .enumerate()
        .map(|(i, x)| m.score(b"k", Some(&[*x]), i as i64).expect("row").status())
        .collect();
    assert_eq!(v, ["warmup", "warmup", "warmup", "ok"]);
}

#[test]
fn header_values_parse_as_numbers() {
    use wasmad_proxy::models::parse_number;
    assert_eq!(parse_number(b" 12.5 "), Some(12.5));
    assert_eq!(parse_number(b"soon"), None);
    assert_eq!(parse_number(&[0xff]), None);
    assert!(parse_number(b"nan").is_some_and(f64::is_nan));
    assert_eq!(parse_number(b"-inf"), Some(f64::NEG_INFINITY));
    assert_eq!(
        parse_number(b"-0.0").map(f64::to_bits),
        Some((-0.0_f64).to_bits())
    );
}

#[test]
fn header_rows_have_exactly_width_numbers() {
    use wasmad_proxy::models::parse_row;
    assert_eq!(parse_row(b"1.5", 1), Some(vec![1.5]));
    assert_eq!(parse_row(b" 1, 2 ,3", 3), Some(vec![1.0, 2.0, 3.0]));
    assert_eq!(parse_row(b"1,2", 3), None);
    assert_eq!(parse_row(b"1,2,3,4", 3), None);
    assert_eq!(parse_row(b"1,,3", 3), None);
    assert_eq!(parse_row(b"1,x", 2), None);
    let nan_inf = parse_row(b"nan,inf", 2).expect("numbers");
    assert!(nan_inf[0].is_nan() && nan_inf[1] == f64::INFINITY);
}

#[test]
fn width_timestamp_and_exact_outputs_parse() {
    let c = parse(
        r#"{"metric":"header:x-row","detector":{"algorithm":"rcf"},"width":3,
            "timestamp":"header:X-Event-Time","exactOutputs":true}"#,
    )
    .expect("valid");
    assert_eq!((c.width, c.exact_outputs), (3, true));
    assert_eq!(c.timestamp.as_deref(), Some("x-event-time"));
    let c = parse(r#"{"metric":"header:x","detector":{}}"#).expect("valid");
    assert_eq!((c.width, c.timestamp, c.exact_outputs), (1, None, false));
}
