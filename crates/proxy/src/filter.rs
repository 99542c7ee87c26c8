//! The proxy-wasm glue: one root context per plugin configuration (holding the
//! models), one HTTP context per request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action as Flow, ContextType, LogLevel, MetricType};

use crate::config::{Action, Config, KeyBy, Metric};
use crate::models::{Models, Verdict, parse_number};

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
    fn score(&self, key: &[u8], value: Option<f64>, at: SystemTime) -> Verdict {
        let verdict = match self.models.borrow_mut().score(key, value, micros(at)) {
            Ok(v) => v,
            Err(e) => {
                log(LogLevel::Error, &e.to_string());
                Verdict::Skipped
            }
        };
        self.counters.count(&verdict);
        verdict
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
            let models = Models::new(&config.detector, config.max_keys)?;
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
                        "configured (root_id '{root_id}'): metric {:?}, action {:?}, keyBy {:?}, detector {}",
                        plugin.config.metric,
                        plugin.config.action,
                        plugin.config.key_by,
                        plugin.config.detector
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
            verdict: None,
        }))
    }
}

struct Request {
    /// `None` only if the plugin failed to configure (Envoy then refuses it).
    plugin: Option<Rc<Plugin>>,
    key: Vec<u8>,
    /// When the request headers arrived (`None`: our request phase never ran).
    start: Option<SystemTime>,
    verdict: Option<Verdict>,
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
        let Metric::RequestHeader(name) = &plugin.config.metric else {
            return Flow::Continue;
        };
        let value = self
            .get_http_request_header_bytes(name)
            .and_then(|v| parse_number(&v));
        let verdict = plugin.score(&self.key, value, start);
        self.verdict = Some(verdict);
        if plugin.config.action == Action::Reject && verdict.anomaly() {
            Counters::bump(plugin.counters.rejected);
            let score = verdict.score_text().unwrap_or_default();
            let body = format!("wasmad-proxy: anomalous request ({name} scored {score})\n");
            self.send_http_response(
                plugin.config.reject_status,
                vec![
                    ("x-anomaly", "true"),
                    ("x-anomaly-score", &score),
                    ("x-anomaly-status", verdict.status()),
                    ("content-type", "text/plain"),
                ],
                Some(body.as_bytes()),
            );
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
                let value = self
                    .get_http_response_header_bytes(name)
                    .and_then(|v| parse_number(&v));
                plugin.score(&self.key, value, now())
            }
            (Metric::RequestDuration, _) => {
                let end = now();
                let ms = end
                    .duration_since(start)
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3);
                plugin.score(&self.key, Some(ms), end)
            }
        };
        self.tag(&verdict, |k, v| self.set_http_response_header(k, v));
        Flow::Continue
    }
}
