//! Kafka for real: every test starts a tansu broker (a Kafka-API broker,
//! in-memory storage) on 127.0.0.1 and runs `wasmad` jobs against it.
//!
//! - 100k events with injected anomalies go through a topic and a detector
//!   job into a sink topic; the sink holds exactly 100k rows, the same rows
//!   as the job over the generator directly, every injected anomaly flagged.
//! - A Kafka-to-Kafka job killed with SIGKILL at 10+ seeded points and
//!   restarted each time leaves the sink topic with exactly the rows of an
//!   uninterrupted run.
//! - The card-fraud and server-fleet samples (and their producers) run
//!   unchanged but for the broker address.
//! - The same pipeline with `'format' = 'avro'` on every topic gives the
//!   same rows; a record that is not a datum of the table's schema is an
//!   error naming the record's offset.
//! - Bad Kafka DDL (unreachable broker, missing topic, bad options) is
//!   refused with a message naming the option.
//!
//! The broker comes from `scripts/install-tansu.sh` (cached outside the
//! clone; `WASMAD_TANSU` points at another binary).

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;
use common::*;

use std::path::Path;
use std::time::{Duration, Instant};

/// 20 hosts' series with spikes and dips, 32 rows out of order at most.
fn generator(name: &str, columns: &str, rows: u32) -> String {
    format!(
        "CREATE TABLE {name} ({columns})
         WITH ('connector' = 'datagen', 'keys' = '20', 'number-of-rows' = '{rows}', 'rows-per-second' = '0',
               'seed' = '11', 'noise' = '1', 'spike.probability' = '0.002', 'spike.magnitude' = '40',
               'dip.probability' = '0.002', 'dip.magnitude' = '40', 'shuffle' = '32');"
    )
}

/// The generator's rows into `topic`, keyed by host.
fn producer_job(broker: &Broker, topic: &str, rows: u32) -> String {
    producer_job_as(broker, topic, "json", rows)
}

/// [`producer_job`] in a given `format`.
fn producer_job_as(broker: &Broker, topic: &str, format: &str, rows: u32) -> String {
    format!(
        "{}
         CREATE TABLE events (host STRING, ts TIMESTAMP(3), v DOUBLE, injected BOOLEAN) WITH ({});
         INSERT INTO events SELECT * FROM gen;",
        generator(
            "gen",
            "host STRING, ts TIMESTAMP(3), v DOUBLE, injected BOOLEAN",
            rows
        ),
        kafka_as(broker, topic, format, ", 'key.fields' = 'host'")
    )
}

/// The detector query over `events`, into `out`.
const DETECT: &str = "INSERT INTO out
SELECT host, ts, v, injected, round(forecast_value, 6) AS expected, round(score, 6) AS score, is_anomaly
FROM ML_DETECT_ANOMALIES(events, 'v', 'ts', '{\"partitionBy\":\"host\",\"window\":100,\"threshold\":5}');";

const OUT_COLUMNS: &str = "host STRING, ts TIMESTAMP(3), v DOUBLE, injected BOOLEAN, expected DOUBLE, score DOUBLE, is_anomaly BOOLEAN";

const EVENT_COLUMNS: &str = "host STRING, ts TIMESTAMP(3), v DOUBLE, injected BOOLEAN, WATERMARK FOR ts AS ts - INTERVAL '1' HOUR";

fn kafka_with(broker: &Broker, topic: &str, extra: &str) -> String {
    kafka_as(broker, topic, "json", extra)
}

fn kafka_as(broker: &Broker, topic: &str, format: &str, extra: &str) -> String {
    format!(
        "'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', 'format' = '{format}'{extra}",
        broker.addr
    )
}

/// Run a job that must fail: its stderr, which must not be a panic.
fn run_err(dir: &Path, text: &str) -> String {
    std::fs::write(dir.join("bad.sql"), text).unwrap();
    let out = run_in(dir, &["run", "bad.sql"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn run_ok(dir: &Path, job: &str, text: &str, extra: &[&str]) -> String {
    std::fs::write(dir.join(job), text).unwrap();
    let mut args = vec!["run", job, "--stats"];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    assert!(out.status.success(), "{job}: {}", stderr(&out));
    stderr(&out)
}

fn values(records: &[(i32, Option<String>, String)]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(|r| r.2.clone()).collect();
    v.sort();
    v
}

/// Equal sorted rows, or a short report: counts and the first difference.
fn assert_same_rows(got: &[String], want: &[String]) {
    if got == want {
        return;
    }
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        let b: std::collections::HashSet<&String> = b.iter().collect();
        a.iter()
            .filter(|x| !b.contains(x))
            .take(3)
            .cloned()
            .collect()
    };
    panic!(
        "{} rows, want {}; only in the result: {:?}; only in the reference: {:?}",
        got.len(),
        want.len(),
        only(got, want),
        only(want, got)
    );
}

#[test]
fn a_hundred_thousand_events_through_kafka_arrive_exactly_with_every_injected_anomaly() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    broker.create_topic("scored", 3);
    let dir = scratch("kafka-e2e");

    // 1. Produce: datagen into the events topic, keyed by host.
    let err = run_ok(
        &dir,
        "produce.sql",
        &producer_job(&broker, "events", 100_000),
        &[],
    );
    assert_eq!(stat(&err, "rows_out"), 100_000, "{err}");
    let events = broker.records("events");
    assert_eq!(events.len(), 100_000);
    // Keyed rows follow Kafka's partitioner: one host, one partition.
    let mut part_of = std::collections::HashMap::new();
    for (p, key, value) in &events {
        let key = key.as_ref().unwrap();
        assert!(value.contains(&key[1..key.len() - 1]), "{key} {value}");
        assert_eq!(*part_of.entry(key.clone()).or_insert(*p), *p, "{key}");
    }
    assert!(
        part_of
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1
    );

    // 2. Detect: the events topic (read to its end) into the scored topic.
    let job = format!(
        "CREATE TABLE events ({EVENT_COLUMNS}) WITH ({});
         CREATE TABLE out ({OUT_COLUMNS}) WITH ({});
         {DETECT}",
        kafka_with(&broker, "events", ", 'scan.bounded.mode' = 'latest-offset'"),
        kafka_with(&broker, "scored", ", 'key.fields' = 'host'"),
    );
    let err = run_ok(&dir, "detect.sql", &job, &[]);
    assert_eq!(stat(&err, "rows_in"), 100_000, "{err}");
    let scored = broker.records("scored");
    assert_eq!(
        scored.len(),
        100_000,
        "rows lost or duplicated in the sink topic"
    );

    // 3. The same detector over the generator directly, into a file.
    let reference = format!(
        "{}
         CREATE TABLE out ({OUT_COLUMNS}) WITH ('connector' = 'file', 'path' = 'reference.json');
         {DETECT}",
        generator("events", EVENT_COLUMNS, 100_000)
    );
    run_ok(&dir, "reference.sql", &reference, &[]);
    let want = sorted_lines(&std::fs::read_to_string(dir.join("reference.json")).unwrap());
    assert_same_rows(&values(&scored), &want);

    // Every injected anomaly (after each host's warm-up) arrives flagged.
    let injected: Vec<&String> = want
        .iter()
        .filter(|l| l.contains("\"injected\":true"))
        .collect();
    assert!(injected.len() > 300, "{} injected", injected.len());
    let missed: Vec<&&String> = injected
        .iter()
        .filter(|l| !l.contains("\"is_anomaly\":true"))
        .collect();
    assert!(
        missed.is_empty(),
        "{} missed, e.g. {:?}",
        missed.len(),
        missed.first()
    );
}

#[test]
fn avro_topics_carry_the_same_rows_as_json_ones() {
    let broker = Broker::start();
    broker.create_topic("events", 2);
    broker.create_topic("scored", 2);
    let dir = scratch("kafka-avro");
    let rows = 5_000;
    let avro = |topic: &str, extra: &str| kafka_as(&broker, topic, "avro", extra);

    // datagen -> events (Avro) -> detector -> scored (Avro) -> a JSON file.
    let produce = producer_job_as(&broker, "events", "avro", rows);
    let err = run_ok(&dir, "produce.sql", &produce, &[]);
    assert_eq!(stat(&err, "rows_out"), u64::from(rows), "{err}");
    let detect = format!(
        "CREATE TABLE events ({EVENT_COLUMNS}) WITH ({});
         CREATE TABLE out ({OUT_COLUMNS}) WITH ({});
         {DETECT}",
        avro("events", ", 'scan.bounded.mode' = 'latest-offset'"),
        avro("scored", ", 'key.fields' = 'host'"),
    );
    let err = run_ok(&dir, "detect.sql", &detect, &[]);
    assert_eq!(stat(&err, "rows_in"), u64::from(rows), "{err}");
    assert_eq!(broker.records("scored").len(), rows as usize);
    let read_back = format!(
        "CREATE TABLE scored ({OUT_COLUMNS}) WITH ({});
         CREATE TABLE copy ({OUT_COLUMNS}) WITH ('connector' = 'file', 'path' = 'copy.json');
         INSERT INTO copy SELECT * FROM scored;",
        avro("scored", ", 'scan.bounded.mode' = 'latest-offset'"),
    );
    run_ok(&dir, "read.sql", &read_back, &[]);
    let got = sorted_lines(&std::fs::read_to_string(dir.join("copy.json")).unwrap());

    // The same detector over the generator directly.
    let reference = format!(
        "{}
         CREATE TABLE out ({OUT_COLUMNS}) WITH ('connector' = 'file', 'path' = 'reference.json');
         {DETECT}",
        generator("events", EVENT_COLUMNS, rows)
    );
    run_ok(&dir, "reference.sql", &reference, &[]);
    let want = sorted_lines(&std::fs::read_to_string(dir.join("reference.json")).unwrap());
    assert_same_rows(&got, &want);
    assert!(want.iter().any(|l| l.contains("\"is_anomaly\":true")));

    // A column Avro does not carry: refused up front, naming it.
    let err = run_err(
        &dir,
        &format!(
            "CREATE TABLE t (host STRING, ts TIMESTAMP(9), v DOUBLE) WITH ({});
             SELECT * FROM t;",
            avro("events", "")
        ),
    );
    for want in ["'format' = 'avro'", "column 'ts'", "accepted: BOOLEAN"] {
        assert!(err.contains(want), "want '{want}' in: {err}");
    }

    // JSON records read as Avro: an error naming the record, not a panic.
    broker.create_topic("plain", 1);
    run_ok(&dir, "json.sql", &producer_job(&broker, "plain", 10), &[]);
    let err = run_err(
        &dir,
        &format!(
            "CREATE TABLE t (host STRING, ts TIMESTAMP(3), v DOUBLE, injected BOOLEAN) WITH ({});
             SELECT * FROM t;",
            avro("plain", ", 'scan.bounded.mode' = 'latest-offset'")
        ),
    );
    assert!(
        err.contains("cannot read the records of partition 0")
            && err.contains("(the record at offset 0)"),
        "{err}"
    );
}

#[test]
fn killed_with_sigkill_at_random_points_a_kafka_job_leaves_every_row_once_in_its_sink_topic() {
    let broker = Broker::start();
    broker.create_topic("events", 3);
    broker.create_topic("reference", 2);
    broker.create_topic("out", 2);
    let dir = scratch("kafka-kill");
    run_ok(
        &dir,
        "produce.sql",
        &producer_job(&broker, "events", 300_000),
        &[],
    );
    let job = |sink: &str| {
        format!(
            "CREATE TABLE events ({EVENT_COLUMNS}) WITH ({});
             CREATE TABLE out ({OUT_COLUMNS}) WITH ({});
             INSERT INTO out
             SELECT host, ts, v, injected, forecast_value, score, is_anomaly
             FROM ML_DETECT_ANOMALIES(events, 'v', 'ts', '{{\"partitionBy\":\"host\",\"window\":100,\"likelihood\":true}}');",
            kafka_with(&broker, "events", ", 'scan.bounded.mode' = 'latest-offset'"),
            kafka_with(&broker, sink, ", 'key.fields' = 'host'"),
        )
    };
    run_ok(&dir, "reference.sql", &job("reference"), &[]);
    let want = values(&broker.records("reference"));
    assert_eq!(want.len(), 300_000);

    std::fs::write(dir.join("job.sql"), job("out")).unwrap();
    let args = [
        "run",
        "job.sql",
        "--checkpoint-dir",
        "ckpt",
        "--checkpoint-interval",
        "300ms",
        "--stats",
    ];
    let mut rng = Lcg(20_261_122);
    let mut kills = 0;
    let mut replays = 0;
    while kills < 12 {
        // Each run gets past its restore and writes a checkpoint of its own
        // before the kill timer starts, so every kill lands on a job that is
        // making progress (however slowly a loaded machine starts it).
        let ckpt = dir.join("ckpt/checkpoint");
        let before = std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok();
        let mut child = spawn_job(&dir, &args);
        let t0 = Instant::now();
        while std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok() == before
            && t0.elapsed() < Duration::from_secs(60)
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Then up to 600 ms more: checkpoints every 300 ms span several
        // epochs, so most kills land after rows went out and before the
        // next checkpoint.
        let wait = Duration::from_millis(rng.next() % 600);
        let t0 = Instant::now();
        while t0.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if stderr(&out).contains("records were written after the checkpoint") {
            replays += 1;
        }
        kills += 1;
    }
    assert!(kills >= 10, "the job finished after only {kills} kills");
    let last = run_in(&dir, &args);
    assert!(last.status.success(), "{}", stderr(&last));
    if stderr(&last).contains("records were written after the checkpoint") {
        replays += 1;
    }
    eprintln!("{kills} kills; {replays} restarts skipped rows written after their checkpoint");
    // Some restarts found rows written after their checkpoint (else the
    // skip-on-replay path was not exercised).
    assert!(replays > 0, "no restart found rows after its checkpoint");
    assert!(
        stderr(&last).contains("resumed from a checkpoint"),
        "{}",
        stderr(&last)
    );
    let got = values(&broker.records("out"));
    assert_same_rows(&got, &want);
}

/// Run a sample pair from `sql/jobs` against `broker`: the producer to its
/// end, then the (unbounded) job until its metrics show all `rows` of
/// `source` read and no lag, then SIGTERM. Returns the job's stderr.
#[cfg(unix)]
fn run_sample(
    broker: &Broker,
    name: &str,
    producer: &str,
    job: &str,
    source: &str,
    rows: u64,
) -> String {
    let dir = scratch(&format!("kafka-{name}"));
    let sample = |file: &str| {
        std::fs::read_to_string(root().join("sql/jobs").join(file))
            .unwrap()
            .replace("127.0.0.1:9092", &broker.addr)
    };
    let err = run_ok(&dir, "producer.sql", &sample(producer), &[]);
    assert_eq!(stat(&err, "rows_out"), rows);
    std::fs::write(dir.join("job.sql"), sample(job)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = spawn_job(
        &dir,
        &["run", "job.sql", "--stats", "--metrics-addr", &addr],
    );
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{name}: the job did not read every row"
        );
        std::thread::sleep(Duration::from_millis(200));
        if let Some(m) = scrape(&addr)
            && m.contains(&format!(
                "wasmad_source_rows_total{{source=\"{source}\"}} {rows}\n"
            ))
            && m.contains(&format!("wasmad_consumer_lag{{source=\"{source}\"}} 0\n"))
        {
            break;
        }
    }
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("latency_p99_ms="), "{err}");
    err
}

#[cfg(unix)]
#[test]
fn the_card_fraud_sample_reads_payments_from_kafka_and_alerts_to_a_topic() {
    let broker = Broker::start();
    broker.create_topic("payments", 3);
    broker.create_topic("fraud-alerts", 1);
    let err = run_sample(
        &broker,
        "fraud",
        "payments_producer.sql",
        "card_fraud.sql",
        "payments",
        100_000,
    );
    let alerts = broker.records("fraud-alerts");
    assert!(alerts.len() > 50, "{} alerts", alerts.len());
    assert!(
        alerts
            .iter()
            .all(|(_, _, v)| v.contains("\"injected\":true")),
        "{alerts:?}"
    );
    assert_eq!(stat(&err, "rows_out"), alerts.len() as u64);
}

#[cfg(unix)]
#[test]
fn the_server_fleet_sample_alerts_to_a_topic_when_two_metrics_of_a_host_agree() {
    let broker = Broker::start();
    broker.create_topic("fleet-metrics", 4);
    broker.create_topic("fleet-alerts", 2);
    let err = run_sample(
        &broker,
        "fleet",
        "fleet_producer.sql",
        "server_fleet.sql",
        "fleet",
        40_000,
    );
    let alerts = broker.records("fleet-alerts");
    assert!(alerts.len() > 10, "{} alerts", alerts.len());
    for (_, key, line) in &alerts {
        let flags = ["cpu_anomaly", "mem_anomaly", "net_anomaly"]
            .iter()
            .filter(|f| line.contains(&format!("\"{f}\":true")))
            .count();
        assert!(flags >= 2, "{line}");
        // Keyed by host: the key is the host of the row.
        let key = key.as_ref().unwrap();
        assert!(line.starts_with(&key[..key.len() - 1]), "{key} {line}");
    }
    assert_eq!(stat(&err, "rows_out"), alerts.len() as u64);
}

fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn bad_kafka_ddl_is_refused_with_a_message_naming_the_option() {
    let broker = Broker::start();
    broker.create_topic("events", 1);
    let dir = scratch("kafka-bad");
    let nobody = format!("127.0.0.1:{}", free_port());
    let cases = [
        (
            format!("'connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = '{nobody}', 'properties.request.timeout.ms' = '500'"),
            vec!["cannot reach the broker", "properties.bootstrap.servers", &nobody],
        ),
        (
            format!("'connector' = 'kafka', 'topic' = 'nope', 'properties.bootstrap.servers' = '{}'", broker.addr),
            vec!["no such topic", "'topic'", "nope"],
        ),
        (
            "'connector' = 'kafka', 'topic' = 'events'".to_string(),
            vec!["'properties.bootstrap.servers' is required"],
        ),
        (
            format!("'connector' = 'kafka', 'properties.bootstrap.servers' = '{}'", broker.addr),
            vec!["'topic' is required"],
        ),
        (
            format!("'connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = '{}', 'scan.startup.mode' = 'group-offsets'", broker.addr),
            vec!["scan.startup.mode", "earliest-offset, latest-offset, timestamp"],
        ),
        (
            format!("'connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = '{}', 'format' = 'protobuf'", broker.addr),
            vec!["'format'", "json, csv"],
        ),
        (
            format!("'connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = '{}', 'scan.startup.offset' = '5'", broker.addr),
            vec!["unknown option 'scan.startup.offset'", "scan.bounded.mode"],
        ),
        (
            "'connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = 'localhost'".to_string(),
            vec!["'localhost' is not host:port"],
        ),
    ];
    for (with, wants) in cases {
        let job = format!(
            "CREATE TABLE events (host STRING, ts TIMESTAMP(3), v DOUBLE) WITH ({with});
             SELECT host, is_anomaly FROM ML_DETECT_ANOMALIES(events, 'v', 'ts', '{{}}');"
        );
        let err = run_err(&dir, &job);
        for w in wants {
            assert!(err.contains(w), "want '{w}' in: {err}");
        }
    }
    // A sink keyed by a column it does not have.
    let job = format!(
        "CREATE TABLE src (host STRING, ts TIMESTAMP(3), v DOUBLE) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
         CREATE TABLE out (host STRING, v DOUBLE) WITH ({});
         INSERT INTO out SELECT host, v FROM src;",
        kafka_with(&broker, "events", ", 'key.fields' = 'user_id'")
    );
    let err = run_err(&dir, &job);
    assert!(
        err.contains("'key.fields': 'user_id' is not a column"),
        "{err}"
    );
}
