//! The proxy-wasm glue: one root context per plugin configuration (holding the
//! models), one HTTP context per request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action as Flow, ContextType, LogLevel, MetricType};

use crate::config::{Action, Config, KeyBy, Metric};
use crate::models::{Models, Verdict, parse_row};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

fn log(level: LogLevel, message: &str) {
    // Logging cannot fail in a way the filter could act on.
    let _ = hostcalls::log(level, &format!("wasmad-proxy: {message}"));
}

/// Microseconds since the epoch: the detector's row timestamp.
fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or(UNIX_EPOCH)
}

/// Envoy counters (`wasmcustom.wasmad.<root id>.<name>` in `/stats`).
#[derive(Default, Clone, Copy)]
struct Counters {
    ok: Option<u32>,
    anomalies: Option<u32>,
    rejected: Option<u32>,
    warmup: Option<u32>,
    skipped: Option<u32>,
    overflow: Option<u32>,
}

impl Counters {
    fn define(root_id: &str) -> Counters {
        let define = |name: &str| {
            hostcalls::define_metric(MetricType::Counter, &format!("wasmad.{root_id}.{name}")).ok()
        };
        Counters {
            ok: define("scored"),
            anomalies: define("anomalies"),
            rejected: define("rejected"),
            warmup: define("warmup"),
            skipped: define("skipped"),
            overflow: define("overflow"),
        }
    }

    fn bump(id: Option<u32>) {
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn count(&self, verdict: &Verdict) {
        Counters::bump(match verdict {
            Verdict::Scored { .. } => self.ok,
            Verdict::Warmup => self.warmup,
            Verdict::Skipped => self.skipped,
            Verdict::Overflow => self.overflow,
        });
        if verdict.anomaly() {
            Counters::bump(self.anomalies);
        }
    }
}

struct Plugin {
    config: Config,
    models: RefCell<Models>,
    counters: Counters,
}

impl Plugin {
    /// Score one row (`None`: no usable row, skipped) at `timestamp_us`;
    /// with `exactOutputs`, also the exact-output headers.
    fn score(
        &self,
        key: &[u8],
        values: Option<&[f64]>,
        timestamp_us: Option<i64>,
    ) -> (Verdict, Vec<(String, String)>) {
        let mut models = self.models.borrow_mut();
        // A missing or malformed timestamp header skips the row.
        let values = values.filter(|_| timestamp_us.is_some());
        let verdict = match models.score(key, values, timestamp_us.unwrap_or_default()) {
            Ok(v) => v,
            Err(e) => {
                log(LogLevel::Error, &e.to_string());
                Verdict::Skipped
            }
        };
        self.counters.count(&verdict);
        let exact = if self.config.exact_outputs {
            models.exact_headers()
        } else {
            Vec::new()
        };
        (verdict, exact)
    }
}

#[derive(Default)]
struct Root {
    plugin: Option<Rc<Plugin>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let text = self.get_plugin_configuration().unwrap_or_default();
        let root_id = self
            .get_property(vec!["plugin_root_id"])
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let plugin = Config::parse(&text).and_then(|config| {
            let models = Models::new(&config.detector, config.width, config.max_keys)?;
            Ok(Plugin {
                config,
                models: RefCell::new(models),
                counters: Counters::define(if root_id.is_empty() {
                    "default"
                } else {
                    &root_id
                }),
            })
        });
        match plugin {
            Ok(plugin) => {
                log(
                    LogLevel::Info,
                    &format!(
                        "configured (root_id '{root_id}'): metric {:?}, width {}, timestamp {:?}, \
                         action {:?}, keyBy {:?}, exactOutputs {}, effective detector config {}",
                        plugin.config.metric,
                        plugin.config.width,
                        plugin.config.timestamp,
                        plugin.config.action,
                        plugin.config.key_by,
                        plugin.config.exact_outputs,
                        plugin.models.borrow().effective_config()
                    ),
                );
                self.plugin = Some(Rc::new(plugin));
                true
            }
            Err(e) => {
                log(LogLevel::Critical, &format!("{e} (root_id '{root_id}')"));
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            plugin: self.plugin.clone(),
            key: Vec::new(),
            start: None,
            timestamp: None,
            verdict: None,
            exact: Vec::new(),
        }))
    }
}

struct Request {
    /// `None` only if the plugin failed to configure (Envoy then refuses it).
    plugin: Option<Rc<Plugin>>,
    key: Vec<u8>,
    /// When the request headers arrived (`None`: our request phase never ran).
    start: Option<SystemTime>,
    /// The row's event time (microseconds): the `timestamp` header's, or
    /// `None` when that header is configured but missing or not an integer.
    timestamp: Option<i64>,
    verdict: Option<Verdict>,
    /// With `exactOutputs`: the exact-output headers of the scored row.
    exact: Vec<(String, String)>,
}

impl Context for Request {}

impl Request {
    fn tag(&self, verdict: &Verdict, set: impl Fn(&str, Option<&str>)) {
        set(
            "x-anomaly",
            Some(if verdict.anomaly() { "true" } else { "false" }),
        );
        set("x-anomaly-score", verdict.score_text().as_deref());
        set("x-anomaly-status", Some(verdict.status()));
        for (name, value) in &self.exact {
            set(name, Some(value));
        }
    }

    /// The row's timestamp at `at`: the `timestamp` header's value when one is
    /// configured (`None` if missing or not an integer), else `at`.
    fn timestamp_at(&self, plugin: &Plugin, at: SystemTime) -> Option<i64> {
        match (&plugin.config.timestamp, self.timestamp) {
            (Some(_), t) => t,
            (None, _) => Some(micros(at)),
        }
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Flow {
        let Some(plugin) = self.plugin.clone() else {
            return Flow::Continue;
        };
        let start = now();
        self.start = Some(start);
        self.key = match &plugin.config.key_by {
            KeyBy::None => Vec::new(),
            KeyBy::Route => self
                .get_property(vec!["xds", "route_name"])
                .unwrap_or_default(),
            KeyBy::Path => {
                let path = self
                    .get_http_request_header_bytes(":path")
                    .unwrap_or_default();
                let end = path.iter().position(|b| *b == b'?').unwrap_or(path.len());
                path[..end].to_vec()
            }
            KeyBy::Header(name) => self.get_http_request_header_bytes(name).unwrap_or_default(),
        };
        if let Some(name) = &plugin.config.timestamp {
            self.timestamp = self
                .get_http_request_header_bytes(name)
                .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<i64>().ok());
        }
        let Metric::RequestHeader(name) = &plugin.config.metric else {
            return Flow::Continue;
        };
        let row = self
            .get_http_request_header_bytes(name)
            .and_then(|v| parse_row(&v, plugin.config.width));
        let (verdict, exact) =
            plugin.score(&self.key, row.as_deref(), self.timestamp_at(&plugin, start));
        self.verdict = Some(verdict);
        self.exact = exact;
        if plugin.config.action == Action::Reject && verdict.anomaly() {
            Counters::bump(plugin.counters.rejected);
            let score = verdict.score_text().unwrap_or_default();
            let body = format!("wasmad-proxy: anomalous request ({name} scored {score})\n");
            let mut headers = vec![
                ("x-anomaly", "true"),
                ("x-anomaly-score", &score),
                ("x-anomaly-status", verdict.status()),
                ("content-type", "text/plain"),
            ];
            headers.extend(self.exact.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            self.send_http_response(plugin.config.reject_status, headers, Some(body.as_bytes()));
            return Flow::Pause;
        }
        if plugin.config.tag_upstream {
            self.tag(&verdict, |k, v| self.set_http_request_header(k, v));
        }
        Flow::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Flow {
        let Some(plugin) = self.plugin.clone() else {
            return Flow::Continue;
        };
        // A local reply before our request phase ran: nothing to score or tag.
        let Some(start) = self.start else {
            return Flow::Continue;
        };
        let verdict = match (&plugin.config.metric, self.verdict) {
            (Metric::RequestHeader(_), Some(v)) => v,
            (Metric::RequestHeader(_), None) => return Flow::Continue,
            (Metric::ResponseHeader(name), _) => {
                let row = self
                    .get_http_response_header_bytes(name)
                    .and_then(|v| parse_row(&v, plugin.config.width));
                let (verdict, exact) =
                    plugin.score(&self.key, row.as_deref(), self.timestamp_at(&plugin, now()));
                self.exact = exact;
                verdict
            }
            (Metric::RequestDuration, _) => {
                let end = now();
                let ms = end
                    .duration_since(start)
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3);
                let (verdict, exact) =
                    plugin.score(&self.key, Some(&[ms]), self.timestamp_at(&plugin, end));
                self.exact = exact;
                verdict
            }
        };
        self.tag(&verdict, |k, v| self.set_http_response_header(k, v));
        Flow::Continue
    }
}
