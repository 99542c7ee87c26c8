//! Streaming jobs through the `wasmad` binary: the sample job, event time
//! (out-of-order input inside the delay equals sorted input, late rows go to
//! the side output), exactly-once checkpoints under SIGKILL, graceful stop on
//! SIGTERM, following a growing file, the metrics endpoint, and DDL errors.
//!
//! `WASMAD_BLESS=1 cargo test -p wasmad-cli --test stream` rewrites the
//! golden `sql/jobs/*.out` files.

#![allow(clippy::unwrap_used)] // test helpers panic on purpose

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn the_datagen_sample_job_matches_its_golden_output() {
    let out = run_in(&root(), &["run", "sql/jobs/datagen_demo.sql", "--stats"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let golden = root().join("sql/jobs/datagen_demo.out");
    if std::env::var_os("WASMAD_BLESS").is_some() {
        // Sorted: keys are scored in parallel partitions, so rows of
        // different keys interleave differently from run to run.
        std::fs::write(&golden, sorted_lines(&text).join("\n") + "\n").unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(sorted_lines(&text), sorted_lines(&want));
    // Every flagged row is one where datagen injected an anomaly.
    assert!(text.lines().count() > 20, "{text}");
    assert!(
        text.lines().all(|l| l.contains("\"injected\":true")),
        "{text}"
    );
    assert_eq!(stat(&stderr(&out), "rows_in"), 20_000);
}

fn datagen_job(shuffle: u32, delay_minutes: u32, extra_source: &str, late_sink: bool) -> String {
    let late_table = if late_sink {
        "CREATE TABLE late (host STRING, ts TIMESTAMP(3), cpu DOUBLE, injected BOOLEAN) WITH ('connector' = 'file', 'path' = 'late.json');\n"
    } else {
        ""
    };
    let late_opt = if late_sink {
        ", 'late.sink' = 'late'"
    } else {
        ""
    };
    format!(
        "CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE, injected BOOLEAN,
           WATERMARK FOR ts AS ts - INTERVAL '{delay_minutes}' MINUTE)
         WITH ('connector' = 'datagen', 'keys' = '8', 'number-of-rows' = '20000', 'seed' = '11',
               'shuffle' = '{shuffle}', 'level-shift.probability' = '0.2'{extra_source}{late_opt});
         {late_table}
         SELECT host, ts, cpu, injected, score, is_anomaly, status
         FROM ML_DETECT_ANOMALIES(m, 'cpu', 'ts', '{{\"partitionBy\":\"host\",\"algorithm\":\"mad\",\"window\":50}}');"
    )
}

#[test]
fn out_of_order_input_inside_the_delay_gives_the_sorted_result() {
    let dir = scratch("reorder");
    std::fs::write(
        dir.join("sorted.sql"),
        datagen_job(0, 60, ", 'rows-per-second' = '0'", false),
    )
    .unwrap();
    // Blocks of 256 rows shuffled: 8 keys, so a row is at most 32 minutes of
    // event time out of place, inside the 60-minute delay.
    std::fs::write(
        dir.join("shuffled.sql"),
        datagen_job(256, 60, ", 'rows-per-second' = '0'", false),
    )
    .unwrap();
    let sorted = run_in(&dir, &["run", "sorted.sql", "--stats"]);
    assert!(sorted.status.success(), "{}", stderr(&sorted));
    let want = sorted_lines(&stdout(&sorted));
    assert_eq!(want.len(), 20_000);
    // Any epoch size and parallelism: the same rows, the same scores.
    for (epoch_rows, parallelism) in [("8192", "2"), ("97", "1"), ("1000", "3")] {
        let shuffled = run_in(
            &dir,
            &[
                "run",
                "shuffled.sql",
                "--stats",
                "--epoch-rows",
                epoch_rows,
                "--parallelism",
                parallelism,
            ],
        );
        assert!(shuffled.status.success(), "{}", stderr(&shuffled));
        assert_eq!(stat(&stderr(&shuffled), "late_rows"), 0);
        assert!(
            sorted_lines(&stdout(&shuffled)) == want,
            "epoch_rows={epoch_rows} parallelism={parallelism}: shuffled input scored differently"
        );
    }
}

#[test]
fn rows_behind_the_watermark_go_to_the_late_side_output_and_are_counted() {
    let dir = scratch("late");
    // A 2-minute delay is too short for the shuffle: some rows are late.
    std::fs::write(
        dir.join("job.sql"),
        datagen_job(
            256,
            2,
            ", 'rows-per-second' = '0', 'max-batch' = '100'",
            true,
        ),
    )
    .unwrap();
    // Small polls and epochs: the watermark advances once per epoch.
    let out = run_in(&dir, &["run", "job.sql", "--stats", "--epoch-rows", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let late = stat(&stderr(&out), "late_rows");
    let scored = stdout(&out).lines().count() as u64;
    let late_file = std::fs::read_to_string(dir.join("late.json")).unwrap();
    assert!(late > 100, "expected late rows, got {late}");
    assert_eq!(late_file.lines().count() as u64, late);
    // Nothing lost: every row is either scored or in the late output.
    assert_eq!(scored + late, 20_000);
}

const KILL_JOB: &str = "
CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE, injected BOOLEAN,
  WATERMARK FOR ts AS ts - INTERVAL '30' MINUTE)
WITH ('connector' = 'datagen', 'keys' = '8', 'number-of-rows' = '100000', 'rows-per-second' = '20000',
      'seed' = '3', 'shuffle' = '64', 'level-shift.probability' = '0.1');
CREATE TABLE out (host STRING, ts TIMESTAMP(3), cpu DOUBLE, forecast DOUBLE, score DOUBLE,
                  is_anomaly BOOLEAN, status STRING)
WITH ('connector' = 'file', 'path' = 'out.json');
INSERT INTO out
SELECT host, ts, cpu, forecast_value, score, is_anomaly, status
FROM ML_DETECT_ANOMALIES(m, 'cpu', 'ts', '{\"partitionBy\":\"host\",\"window\":100,\"likelihood\":true}');
";

#[test]
fn killed_with_sigkill_at_random_points_the_job_resumes_exactly_once() {
    let dir = scratch("kill");
    std::fs::write(dir.join("job.sql"), KILL_JOB).unwrap();
    let reference = run_in(&dir, &["run", "job.sql"]);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let want = sorted_lines(&std::fs::read_to_string(dir.join("out.json")).unwrap());
    assert_eq!(want.len(), 100_000);
    std::fs::remove_file(dir.join("out.json")).unwrap();

    let args = [
        "run",
        "job.sql",
        "--checkpoint-dir",
        "ckpt",
        "--checkpoint-interval",
        "50ms",
        "--stats",
    ];
    let mut rng = Lcg(20_261_122);
    let mut kills = 0;
    let mut finished = false;
    while kills < 12 {
        let mut child = spawn_job(&dir, &args);
        if kills == 0 {
            // The first kill comes after the first checkpoint, so the last
            // run surely resumes; later ones may also hit start-up.
            let t0 = Instant::now();
            while !dir.join("ckpt/checkpoint").exists() && t0.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // The uninterrupted job takes about 5 s after a start-up of a few
        // hundred ms (compiling the component); kill within 200..1000 ms.
        let wait = Duration::from_millis(200 + rng.next() % 800);
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    assert!(
        kills >= 10,
        "the job finished after only {kills} kills (finished={finished})"
    );
    let last = run_in(&dir, &args);
    assert!(last.status.success(), "{}", stderr(&last));
    assert!(
        stderr(&last).contains("resumed from a checkpoint"),
        "{}",
        stderr(&last)
    );
    let got = sorted_lines(&std::fs::read_to_string(dir.join("out.json")).unwrap());
    assert_eq!(got.len(), want.len(), "rows lost or duplicated");
    assert!(got == want, "the interrupted run wrote different rows");
}

#[cfg(unix)]
#[test]
fn sigterm_drains_checkpoints_and_exits_zero_and_a_restart_continues() {
    let dir = scratch("sigterm");
    std::fs::write(dir.join("job.sql"), KILL_JOB).unwrap();
    let reference = run_in(&dir, &["run", "job.sql"]);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let want = sorted_lines(&std::fs::read_to_string(dir.join("out.json")).unwrap());
    std::fs::remove_file(dir.join("out.json")).unwrap();

    let args = [
        "run",
        "job.sql",
        "--checkpoint-dir",
        "ckpt",
        "--checkpoint-interval",
        "1h",
    ];
    let child = spawn_job(&dir, &args);
    // Stop once the job has written some rows (start-up compiles the component).
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30)
        && std::fs::read_to_string(dir.join("out.json")).map_or(0, |t| t.lines().count()) < 1000
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.join("ckpt/checkpoint").exists());
    let partial = std::fs::read_to_string(dir.join("out.json"))
        .unwrap()
        .lines()
        .count();
    assert!(
        partial > 0 && partial < want.len(),
        "{partial} rows before the stop"
    );
    let rest = run_in(&dir, &args);
    assert!(rest.status.success(), "{}", stderr(&rest));
    let got = sorted_lines(&std::fs::read_to_string(dir.join("out.json")).unwrap());
    assert!(got == want, "stop + restart wrote different rows");
}

#[cfg(unix)]
#[test]
fn the_file_source_follows_a_growing_file() {
    let dir = scratch("follow");
    let line = |i: usize, v: f64| {
        format!(
            "{{\"k\":\"a\",\"ts\":\"2024-01-01T00:{:02}:{:02}\",\"v\":{v}}}\n",
            i / 60,
            i % 60
        )
    };
    let mut f = std::fs::File::create(dir.join("in.json")).unwrap();
    for i in 0..100 {
        f.write_all(line(i, 10.0 + (i % 7) as f64).as_bytes())
            .unwrap();
    }
    f.flush().unwrap();
    std::fs::write(
        dir.join("job.sql"),
        "CREATE TABLE s (k STRING, ts TIMESTAMP, v DOUBLE, WATERMARK FOR ts AS ts) WITH ('connector' = 'file', 'path' = 'in.json');
         SELECT k, ts, v, is_anomaly FROM ML_DETECT_ANOMALIES(s, 'v', 'ts', '{\"partitionBy\":\"k\"}');",
    )
    .unwrap();
    let mut child = spawn_job(&dir, &["run", "job.sql", "--stats"]);
    // Collect stdout lines as they come.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let wait_for = |lines: &mut Vec<String>, n: usize| {
        let t0 = Instant::now();
        while lines.len() < n && t0.elapsed() < Duration::from_secs(30) {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                lines.push(l);
            }
        }
    };
    wait_for(&mut lines, 100);
    assert_eq!(lines.len(), 100, "the first 100 rows were not scored");
    // Appended lines, one of them a spike, and half a line left unfinished.
    for i in 100..150 {
        let v = if i == 140 {
            500.0
        } else {
            10.0 + (i % 7) as f64
        };
        f.write_all(line(i, v).as_bytes()).unwrap();
    }
    f.write_all(b"{\"k\":\"a\",").unwrap();
    f.flush().unwrap();
    wait_for(&mut lines, 150);
    sigterm(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let text = lines.join("\n");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    // The last complete row (149) is the watermark itself: released, since
    // rows at the watermark are not held back.
    assert_eq!(text.lines().count(), 150, "{text}\n{err}");
    let flagged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"is_anomaly\":true"))
        .collect();
    assert_eq!(flagged.len(), 1, "{text}");
    assert!(flagged[0].contains("\"v\":500.0"), "{flagged:?}");
}

#[test]
fn the_metrics_endpoint_serves_prometheus_text() {
    let dir = scratch("metrics");
    std::fs::write(dir.join("job.sql"), KILL_JOB).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn_job(&dir, &["run", "job.sql", "--metrics-addr", &addr]);
    let mut body = String::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            body.clear();
            s.read_to_string(&mut body).unwrap();
            if body.contains("wasmad_source_rows_total{source=\"m\"} ")
                && !body.contains("wasmad_source_rows_total{source=\"m\"} 0\n")
            {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    for name in [
        "wasmad_sink_rows_total{sink=\"out\"}",
        "wasmad_anomalies_total",
        "wasmad_late_rows_total{source=\"m\"}",
        "wasmad_evicted_keys_total",
        "wasmad_consumer_lag{source=\"m\"}",
        "wasmad_event_to_output_latency_seconds_bucket{le=\"0.1\"}",
        "wasmad_checkpoint_duration_seconds",
        "wasmad_checkpoint_size_bytes",
    ] {
        assert!(body.contains(name), "{name} missing from\n{body}");
    }
    assert!(
        !body.contains("wasmad_source_rows_total{source=\"m\"} 0\n"),
        "{body}"
    );
}

#[test]
fn bad_jobs_are_refused_with_a_message_naming_the_problem() {
    let dir = scratch("errors");
    let src = "CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE) WITH ('connector' = 'datagen', 'number-of-rows' = '10')";
    let q = "SELECT * FROM ML_DETECT_ANOMALIES(m, 'cpu', 'ts', '{}')";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("CREATE TABLE m (ts TIMESTAMP, v DOUBLE) WITH ('connector' = 'pulsar'); {q}"),
            "unknown connector; accepted: datagen, file, kafka, stdin, stdout, webhook",
        ),
        (
            format!("CREATE TABLE m (ts TIMESTAMP, v DOUBLE) WITH ('connector' = 'file'); {q}"),
            "the option 'path' is required",
        ),
        (
            format!(
                "CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE) WITH ('connector' = 'datagen', 'rows-per-sec' = '5'); {q}"
            ),
            "unknown option 'rows-per-sec'",
        ),
        (
            format!(
                "CREATE TABLE m (host STRING, ts TIMESTAMP(3), cpu DOUBLE) WITH ('connector' = 'datagen', 'keys' = 'many'); {q}"
            ),
            "option 'keys' = 'many': expected an integer",
        ),
        (
            format!("CREATE TABLE m (ts TIMESTAMP, v MONEY) WITH ('connector' = 'datagen'); {q}"),
            "type MONEY is not supported",
        ),
        (
            format!("{src}; {q} ORDER BY score"),
            "cannot run on an unbounded source",
        ),
        (
            format!("{src}; INSERT INTO nowhere {q}"),
            "INSERT INTO nowhere: no such table",
        ),
        (
            format!(
                "{src}; CREATE TABLE o (a DOUBLE) WITH ('connector' = 'stdout'); INSERT INTO o {q}"
            ),
            "the sink declares 1 columns",
        ),
        (
            format!(
                "{src}; CREATE TABLE o (a DOUBLE) WITH ('connector' = 'webhook', 'url' = 'https://x'); INSERT INTO o SELECT cpu FROM m"
            ),
            "only http:// URLs",
        ),
    ];
    for (sql, want) in cases {
        std::fs::write(dir.join("job.sql"), &sql).unwrap();
        let out = run_in(&dir, &["run", "job.sql"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{sql}: succeeded");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{sql}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn plain_select_jobs_read_stdin_and_write_stdout() {
    let dir = scratch("stdin");
    std::fs::write(
        dir.join("job.sql"),
        "CREATE TABLE s (ts TIMESTAMP, v DOUBLE) WITH ('connector' = 'stdin', 'format' = 'csv');
         SELECT ts, v, is_anomaly, status FROM ML_DETECT_ANOMALIES(s, 'v', 'ts', '{\"minTrainingSize\":5}');",
    )
    .unwrap();
    let mut child = bin()
        .args(["run", "job.sql", "--format", "csv"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for i in 0..20 {
        let v = if i == 15 {
            100.0
        } else {
            10.0 + (i % 3) as f64
        };
        input.push_str(&format!("2024-01-01T00:00:{i:02},{v}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ts,v,is_anomaly,status");
    assert_eq!(lines.len(), 21, "{text}");
    assert!(lines[16].ends_with("100.0,true,ok"), "{text}");
}

/// A webhook receiver on 127.0.0.1 that answers 503 to the first `fail`
/// requests and 200 after; returns the bodies it accepted.
fn webhook_server(fail: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(false).unwrap();
    let handle = std::thread::spawn(move || {
        let mut accepted = Vec::new();
        let mut seen = 0;
        listener.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            let mut sock = match listener.accept() {
                Ok((s, _)) => s,
                Err(_) => {
                    if accepted.len() >= 30 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
            };
            sock.set_nonblocking(false).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            loop {
                let n = sock.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if req.len() >= h + 4 + len || n == 0 {
                        seen += 1;
                        if seen <= fail {
                            sock.write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                                .unwrap();
                        } else {
                            accepted.push(text[h + 4..].to_string());
                            sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                                .unwrap();
                        }
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
        }
        accepted
    });
    (port, handle)
}

fn webhook_job(port: u16, retries: u32) -> String {
    format!(
        "CREATE TABLE s (ts TIMESTAMP, v DOUBLE) WITH ('connector' = 'datagen', 'number-of-rows' = '30',
           'rows-per-second' = '0', 'spike.probability' = '0', 'dip.probability' = '0');
         CREATE TABLE hook (ts TIMESTAMP, v DOUBLE, status STRING) WITH ('connector' = 'webhook',
           'url' = 'http://127.0.0.1:{port}/alerts', 'retries' = '{retries}', 'retry.backoff' = '5ms');
         INSERT INTO hook SELECT ts, v, status FROM ML_DETECT_ANOMALIES(s, 'v', 'ts', '{{}}');"
    )
}

#[test]
fn the_webhook_sink_retries_and_counts_rows_it_could_not_deliver() {
    let dir = scratch("webhook");
    // Three refusals, retried: every row arrives once.
    let (port, server) = webhook_server(3);
    std::fs::write(dir.join("job.sql"), webhook_job(port, 5)).unwrap();
    let out = run_in(&dir, &["run", "job.sql", "--stats"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 30, "{bodies:?}");
    assert!(
        bodies[0].starts_with("{\"ts\":\"2024-01-01T00:00:00\""),
        "{}",
        bodies[0]
    );
    assert_eq!(stat(&stderr(&out), "sink_failed_rows"), 0);

    // Nobody listening: each row is counted and written to stderr.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.join("job.sql"), webhook_job(port, 1)).unwrap();
    let out = run_in(&dir, &["run", "job.sql", "--stats"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(stat(&err, "sink_failed_rows"), 30);
    assert_eq!(
        err.matches("row not delivered after 2 attempts").count(),
        30,
        "{err}"
    );
}

#[test]
fn a_job_over_datafusion_tables_writes_to_a_connector_sink() {
    let dir = scratch("external");
    let data = root().join("examples/data/nab_metrics.csv");
    std::fs::write(
        dir.join("job.sql"),
        format!(
            "CREATE EXTERNAL TABLE metrics (series VARCHAR, ts TIMESTAMP, value DOUBLE)
             STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true');
             CREATE TABLE out (series STRING, ts TIMESTAMP, value DOUBLE) WITH ('connector' = 'file', 'path' = 'out.csv');
             INSERT INTO out SELECT series, ts, value FROM ML_DETECT_ANOMALIES(metrics, 'value', 'ts', '{{\"partitionBy\":\"series\"}}') WHERE is_anomaly;",
            data.display()
        ),
    )
    .unwrap();
    let out = run_in(&dir, &["run", "job.sql"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    assert!(csv.starts_with("series,ts,value\n"), "{csv}");
    assert!(csv.lines().count() > 5, "{csv}");
    // Such a job cannot checkpoint: nothing to seek back to.
    let out = run_in(&dir, &["run", "job.sql", "--checkpoint-dir", "ck"]);
    assert!(
        stderr(&out).contains("--checkpoint-dir needs a connector source"),
        "{}",
        stderr(&out)
    );
}

/// Run a job over files until `want` stdout lines arrived (or 20 s), then
/// `settle` more, then SIGTERM; returns stdout lines.
#[cfg(unix)]
fn lines_until(dir: &Path, want: usize, settle: Duration) -> Vec<String> {
    let mut child = spawn_job(dir, &["run", "job.sql"]);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let t0 = Instant::now();
    while lines.len() < want && t0.elapsed() < Duration::from_secs(20) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            lines.push(l);
        }
    }
    std::thread::sleep(settle);
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
}

#[cfg(unix)]
#[test]
fn an_idle_file_stops_holding_the_watermark_back_after_the_idle_timeout() {
    let dir = scratch("idle");
    let write = |name: &str, minutes: usize| {
        let text: String = (0..=minutes)
            .map(|m| {
                format!(
                    "{{\"ts\":\"2024-01-01T00:{m:02}:00\",\"v\":{}}}\n",
                    10 + m % 3
                )
            })
            .collect();
        std::fs::write(dir.join(name), text).unwrap();
    };
    // File a reaches minute 50; file b stops at minute 10 and stays quiet.
    write("a.json", 50);
    write("b.json", 10);
    let job = |idle: &str| {
        format!(
            "CREATE TABLE s (ts TIMESTAMP, v DOUBLE, WATERMARK FOR ts AS ts)
             WITH ('connector' = 'file', 'path' = 'a.json, b.json'{idle});
             SELECT ts, v, status FROM ML_DETECT_ANOMALIES(s, 'v', 'ts', '{{}}');"
        )
    };
    // Without an idle timeout the quiet file holds the watermark at minute 10.
    std::fs::write(dir.join("job.sql"), job("")).unwrap();
    let held = lines_until(&dir, 22, Duration::from_millis(800));
    assert_eq!(held.len(), 22, "{held:?}");
    // With one, the watermark moves on once both files have been quiet.
    std::fs::write(dir.join("job.sql"), job(", 'idle-timeout' = '300ms'")).unwrap();
    let moved = lines_until(&dir, 62, Duration::from_millis(200));
    assert_eq!(moved.len(), 62, "{moved:?}");
}
