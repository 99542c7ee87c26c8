//! Helpers shared by the integration tests: running the `wasmad` binary,
//! scratch directories, `--stats` lines, and a real Kafka-API broker (tansu)
//! on 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used)] // each test crate uses a subset; helpers panic on purpose

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `wasmad` binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasmad"));
    c.env_remove("RUST_BACKTRACE");
    c
}

/// Run `wasmad args` in `dir` to completion.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("wasmad runs")
}

/// Start `wasmad args` in `dir`, output piped.
pub fn spawn_job(dir: &Path, args: &[&str]) -> Child {
    bin()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("stream-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A field of the `stats:` line `--stats` prints.
pub fn stat(err: &str, key: &str) -> u64 {
    let line = err
        .lines()
        .find(|l| l.starts_with("stats:"))
        .unwrap_or_else(|| panic!("no stats in {err}"));
    let field = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    field.parse().unwrap()
}

/// A seeded LCG: kill points are the same every run.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[cfg(unix)]
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tansu broker binary: `WASMAD_TANSU`, or the one
/// `scripts/install-tansu.sh` installs (building it the first time).
fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMAD_TANSU") {
        return PathBuf::from(p);
    }
    let out = Command::new("bash")
        .arg(root().join("scripts/install-tansu.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs scripts/install-tansu.sh");
    assert!(out.status.success(), "scripts/install-tansu.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A real Kafka-API broker (tansu, in-memory storage) on 127.0.0.1, stopped
/// when dropped.
pub struct Broker {
    child: Child,
    bin: PathBuf,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Broker {
    pub fn start() -> Broker {
        let bin = tansu();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "tansu did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, bin, addr }
    }

    /// Create `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Every record of `topic` as (partition, key, value), read with the
    /// rskafka client directly (not through wasmad's source).
    pub fn records(&self, topic: &str) -> Vec<(i32, Option<String>, String)> {
        use rskafka::client::ClientBuilder;
        use rskafka::client::partition::UnknownTopicHandling;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = ClientBuilder::new(vec![self.addr.clone()])
                .build()
                .await
                .unwrap();
            let topics = client.list_topics().await.unwrap();
            let t = topics.into_iter().find(|t| t.name == topic).unwrap();
            let mut out = Vec::new();
            for p in t.partitions {
                let pc = client
                    .partition_client(topic, p, UnknownTopicHandling::Error)
                    .await
                    .unwrap();
                let mut from = 0;
                loop {
                    let (records, high) = pc.fetch_records(from, 1..(4 << 20), 0).await.unwrap();
                    for r in &records {
                        let text = |b: &Option<Vec<u8>>| {
                            b.as_ref().map(|v| String::from_utf8_lossy(v).into_owned())
                        };
                        out.push((
                            p,
                            text(&r.record.key),
                            text(&r.record.value).unwrap_or_default(),
                        ));
                    }
                    match records.last() {
                        Some(r) => from = r.offset + 1,
                        None => break,
                    }
                    if from >= high {
                        break;
                    }
                }
            }
            out
        })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
