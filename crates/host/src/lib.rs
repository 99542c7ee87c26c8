//! Loads wasmad detector components (`wit/detector.wit`) with wasmtime.
//!
//! A [`Runtime`] compiles a component once, checks that it imports nothing and
//! implements the host's ABI version, and keeps an `InstancePre`. Each
//! [`WasmDetector`] gets its own `Store` (one per partition of a query), so
//! detectors never share state or locks. Every call is bounded: epoch
//! interruption turns an endless loop into an error after
//! [`Limits::call_timeout`], a store limiter turns a memory bomb into an error
//! at [`Limits::memory_bytes`], and traps become errors naming the module.
//! Errors are split by phase: load, link, ABI check, instantiate, call, guest.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};

use wasmad_core::{Input, Scores};

#[allow(missing_docs, unsafe_code)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "detector-component",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

use bindings::exports::wasmad::detector::detectors as wit;
use bindings::{DetectorComponent, DetectorComponentPre};

/// The ABI version this host speaks.
pub const ABI_VERSION: u32 = wasmad_core::ABI_VERSION;

/// The default detector component, built from `crates/guest` for
/// `wasm32-unknown-unknown` and embedded in every host binary.
pub static EMBEDDED_COMPONENT: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/wasmad_detector.wasm"));

/// The name under which the embedded component reports errors.
pub const EMBEDDED_NAME: &str = "wasmad-detectors (embedded)";

/// How often the epoch advances; call timeouts are rounded up to this.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Resource bounds for every store created by a [`Runtime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory a detector may grow to.
    pub memory_bytes: usize,
    /// Longest a single call into the component may run.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 2 << 30,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// What went wrong, by the phase that owns it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes could not be read or are not a valid component.
    #[error("load: module '{module}': {message}")]
    Load {
        /// Module name (file path or embedded name).
        module: String,
        /// What failed.
        message: String,
    },
    /// The component does not fit the detector world: it imports something,
    /// or lacks an export.
    #[error("link: module '{module}': {message}")]
    Link {
        /// Module name.
        module: String,
        /// What failed.
        message: String,
    },
    /// The component implements another ABI version.
    #[error(
        "abi: module '{module}' implements detector ABI version {found}; this host requires version {expected}. Rebuild the module against wit/detector.wit of this release"
    )]
    Abi {
        /// Module name.
        module: String,
        /// Version the module reports.
        found: u32,
        /// Version this host requires.
        expected: u32,
    },
    /// Creating a store or instance failed.
    #[error("instantiate: module '{module}': {message}")]
    Instantiate {
        /// Module name.
        module: String,
        /// What failed.
        message: String,
    },
    /// A call trapped, ran out of time or memory.
    #[error("call: module '{module}' failed in {function}: {message}")]
    Call {
        /// Module name.
        module: String,
        /// The WIT function called.
        function: &'static str,
        /// Why it failed.
        kind: CallFailure,
        /// Details.
        message: String,
    },
    /// The guest returned a typed error (bad config, input or snapshot).
    #[error("{kind}: {message}")]
    Guest {
        /// Module name.
        module: String,
        /// Which kind of guest error.
        kind: GuestErrorKind,
        /// The guest's message.
        message: String,
    },
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// Ran longer than [`Limits::call_timeout`].
    Timeout,
    /// Tried to grow memory beyond [`Limits::memory_bytes`].
    OutOfMemory,
    /// Any other trap (unreachable, out of bounds, stack overflow, ...).
    Trap,
    /// The instance was poisoned by an earlier trap, or another host failure.
    Other,
}

/// The guest's typed error kinds (the WIT `error` variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestErrorKind {
    /// `invalid-config`.
    InvalidConfig,
    /// `invalid-input`.
    InvalidInput,
    /// `invalid-snapshot`.
    InvalidSnapshot,
}

impl std::fmt::Display for GuestErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuestErrorKind::InvalidConfig => "invalid config",
            GuestErrorKind::InvalidInput => "invalid input",
            GuestErrorKind::InvalidSnapshot => "invalid snapshot",
        })
    }
}

impl Error {
    /// The guest's typed error, if this is one.
    pub fn guest_kind(&self) -> Option<GuestErrorKind> {
        match self {
            Error::Guest { kind, .. } => Some(*kind),
            _ => None,
        }
    }
    /// The call failure, if this is one.
    pub fn call_failure(&self) -> Option<CallFailure> {
        match self {
            Error::Call { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct Ctx {
    limits: StoreLimits,
}

/// A compiled, checked detector component, ready to instantiate.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    pre: DetectorComponentPre<Ctx>,
    module: Arc<str>,
    limits: Limits,
    describe: String,
    /// The component is the embedded one, built from the same `wasmad-core`
    /// as this host: the host may ask that core what a config reads.
    same_core: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("module", &self.inner.module)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

fn engine() -> Result<Engine, String> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // `WASMAD_PERFMAP=1` writes /tmp/perf-PID.map so that `perf report`
    // names the component's compiled functions.
    if std::env::var_os("WASMAD_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
    spawn_ticker(engine.weak());
    Ok(engine)
}

/// Advance the engine's epoch every tick for as long as the engine lives.
fn spawn_ticker(weak: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("wasmad-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .unwrap_or_else(|e| eprintln!("wasmad: cannot start the epoch thread: {e}"));
}

impl Runtime {
    /// The embedded default component.
    pub fn embedded(limits: Limits) -> Result<Runtime> {
        Runtime::from_bytes(EMBEDDED_NAME, EMBEDDED_COMPONENT, limits)
    }

    /// A component file implementing `wit/detector.wit`.
    pub fn from_file(path: &Path, limits: Limits) -> Result<Runtime> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Load {
            module: name.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        Runtime::from_bytes(&name, &bytes, limits)
    }

    /// Component bytes implementing `wit/detector.wit`.
    pub fn from_bytes(name: &str, bytes: &[u8], limits: Limits) -> Result<Runtime> {
        let load = |message: String| Error::Load {
            module: name.to_string(),
            message,
        };
        let link = |message: String| Error::Link {
            module: name.to_string(),
            message,
        };
        let engine = engine().map_err(load)?;
        let component = Component::new(&engine, bytes).map_err(|e| {
            load(format!(
                "not a valid WebAssembly component ({e:#}); expected a component implementing wasmad:detector@0.1.0 (a core module must be wrapped with `wasm-tools component new`)"
            ))
        })?;
        let imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if !imports.is_empty() {
            return Err(link(format!(
                "the detector world imports nothing, but this component imports: {}",
                imports.join(", ")
            )));
        }
        let linker: Linker<Ctx> = Linker::new(&engine);
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| link(format!("{e:#}")))?;
        let pre = DetectorComponentPre::new(instance_pre).map_err(|e| {
            link(format!(
                "does not export the interface wasmad:detector/detectors@0.1.0 as this host expects: {e:#}"
            ))
        })?;
        let rt = Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                pre,
                module: Arc::from(name),
                limits,
                describe: String::new(),
                same_core: bytes == EMBEDDED_COMPONENT,
            }),
        };
        let (mut store, api) = rt.instantiate()?;
        let found = rt.call(&mut store, "abi-version", |s| {
            api.wasmad_detector_detectors().call_abi_version(s)
        })?;
        if found != ABI_VERSION {
            return Err(Error::Abi {
                module: name.to_string(),
                found,
                expected: ABI_VERSION,
            });
        }
        let describe = rt.call(&mut store, "describe", |s| {
            api.wasmad_detector_detectors().call_describe(s)
        })?;
        let mut inner = Arc::try_unwrap(rt.inner)
            .unwrap_or_else(|_| unreachable!("the runtime has not been shared yet"));
        inner.describe = describe;
        Ok(Runtime {
            inner: Arc::new(inner),
        })
    }

    /// The module's name in errors (file path or embedded name).
    pub fn module_name(&self) -> &str {
        &self.inner.module
    }

    /// The module's `describe()` JSON.
    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// The limits every store of this runtime gets.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    fn instantiate(&self) -> Result<(Store<Ctx>, DetectorComponent)> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.inner.limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.inner.engine, Ctx { limits });
        store.limiter(|c| &mut c.limits);
        store.epoch_deadline_trap();
        self.set_deadline(&mut store);
        let api = self
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::Instantiate {
                module: self.inner.module.to_string(),
                message: format!("{e:#}"),
            })?;
        Ok((store, api))
    }

    fn set_deadline(&self, store: &mut Store<Ctx>) {
        let ticks = self
            .inner
            .limits
            .call_timeout
            .as_nanos()
            .div_ceil(EPOCH_TICK.as_nanos())
            .max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    }

    fn call<R>(
        &self,
        store: &mut Store<Ctx>,
        function: &'static str,
        f: impl FnOnce(&mut Store<Ctx>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        self.set_deadline(store);
        f(store).map_err(|e| self.call_error(function, e))
    }

    fn call_error(&self, function: &'static str, e: wasmtime::Error) -> Error {
        let text = format!("{e:#}");
        // A refused memory.grow is reported as a trap or as a plain error,
        // depending on where the guest grew its memory.
        let (kind, message) = if text.contains("growing memory") {
            (
                CallFailure::OutOfMemory,
                format!(
                    "exceeded the memory limit of {} bytes ({text})",
                    self.inner.limits.memory_bytes
                ),
            )
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => (
                    CallFailure::Timeout,
                    format!(
                        "did not return within the call time limit of {:?} (interrupted)",
                        self.inner.limits.call_timeout
                    ),
                ),
                Some(_) => (CallFailure::Trap, format!("trapped: {text}")),
                None => (CallFailure::Other, text),
            }
        };
        Error::Call {
            module: self.inner.module.to_string(),
            function,
            kind,
            message,
        }
    }

    fn guest_error(&self, e: wit::Error) -> Error {
        let (kind, message) = match e {
            wit::Error::InvalidConfig(m) => (GuestErrorKind::InvalidConfig, m),
            wit::Error::InvalidInput(m) => (GuestErrorKind::InvalidInput, m),
            wit::Error::InvalidSnapshot(m) => (GuestErrorKind::InvalidSnapshot, m),
        };
        Error::Guest {
            module: self.inner.module.to_string(),
            kind,
            message,
        }
    }

    /// A detector from a JSON config, in a store of its own.
    pub fn create(&self, config: &str) -> Result<WasmDetector> {
        self.construct("detector.create", |api, s| {
            api.wasmad_detector_detectors()
                .detector()
                .call_create(s, config)
        })
    }

    /// A detector restored from [`WasmDetector::snapshot`] bytes.
    pub fn restore(&self, snapshot: &[u8]) -> Result<WasmDetector> {
        self.construct("detector.restore", |api, s| {
            api.wasmad_detector_detectors()
                .detector()
                .call_restore(s, snapshot)
        })
    }

    /// A fresh store, and a detector built in it by one of the static
    /// constructors (`create`, `restore`).
    fn construct(
        &self,
        function: &'static str,
        call: impl FnOnce(
            &DetectorComponent,
            &mut Store<Ctx>,
        ) -> wasmtime::Result<Result<ResourceAny, wit::Error>>,
    ) -> Result<WasmDetector> {
        let (mut store, api) = self.instantiate()?;
        let handle = self
            .call(&mut store, function, |s| call(&api, s))?
            .map_err(|e| self.guest_error(e))?;
        let mut d = WasmDetector {
            runtime: self.clone(),
            store,
            api,
            handle,
            omit_timestamps: false,
        };
        // Skip copying a column the detector never reads. Only for the
        // embedded component, whose core is this host's: another module
        // gets every column.
        if self.inner.same_core {
            d.omit_timestamps = d.config().ok().is_some_and(|config| {
                wasmad_core::Detector::from_config(&config)
                    .is_ok_and(|core| !core.needs_timestamps())
            });
        }
        Ok(d)
    }

    /// A weak handle, for caches that must not keep the engine alive.
    pub fn downgrade(&self) -> WeakRuntime {
        WeakRuntime(Arc::downgrade(&self.inner))
    }
}

/// A weak [`Runtime`] handle.
#[derive(Clone)]
pub struct WeakRuntime(Weak<RuntimeInner>);

impl WeakRuntime {
    /// The runtime, if it is still alive.
    pub fn upgrade(&self) -> Option<Runtime> {
        self.0.upgrade().map(|inner| Runtime { inner })
    }
}

/// One detector instance in its own store.
pub struct WasmDetector {
    runtime: Runtime,
    store: Store<Ctx>,
    api: DetectorComponent,
    handle: ResourceAny,
    /// Pass an empty timestamps list: the detector reads no event time
    /// (`wasmad_core::Detector::needs_timestamps`).
    omit_timestamps: bool,
}

impl std::fmt::Debug for WasmDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmDetector")
            .field("module", &self.runtime.inner.module)
            .finish()
    }
}

impl WasmDetector {
    /// Score a batch through the component (`process`).
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        let columns = wit::Columns {
            // (Only for a well-formed batch: a malformed one goes as it is,
            // for the guest to refuse.)
            timestamps: if self.omit_timestamps
                && input.values.len() == input.timestamps.len().saturating_mul(input.width)
            {
                &[]
            } else {
                input.timestamps
            },
            values: input.values,
            width: u32::try_from(input.width).unwrap_or(u32::MAX),
            keys: input.keys,
        };
        let (api, handle) = (&self.api, self.handle);
        let scores = self
            .runtime
            .call(&mut self.store, "detector.process", |s| {
                api.wasmad_detector_detectors()
                    .detector()
                    .call_process(s, handle, columns)
            })?
            .map_err(|e| self.runtime.guest_error(e))?;
        let n = input.rows();
        if [
            scores.forecast.len(),
            scores.lower.len(),
            scores.upper.len(),
            scores.score.len(),
            scores.row_flags.len(),
        ]
        .iter()
        .any(|l| *l != n)
            || !(scores.probability.is_empty() || scores.probability.len() == n)
            || scores
                .extras
                .iter()
                .any(|e| e.values.len() != n.saturating_mul(e.per_row as usize))
        {
            return Err(Error::Call {
                module: self.runtime.inner.module.to_string(),
                function: "detector.process",
                kind: CallFailure::Other,
                message: format!("returned columns whose lengths differ from the {n} input rows"),
            });
        }
        out.forecast = scores.forecast;
        out.lower = scores.lower;
        out.upper = scores.upper;
        out.score = scores.score;
        out.flags = scores.row_flags;
        out.probability = scores.probability;
        out.extras = scores
            .extras
            .into_iter()
            .map(|e| wasmad_core::engine::Extra {
                name: e.name,
                per_row: e.per_row as usize,
                values: e.values,
            })
            .collect();
        Ok(())
    }

    /// Score a batch through the bulk bytes entry point (`process-bytes`).
    pub fn process_bytes(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let (api, handle) = (&self.api, self.handle);
        self.runtime
            .call(&mut self.store, "detector.process-bytes", |s| {
                api.wasmad_detector_detectors()
                    .detector()
                    .call_process_bytes(s, handle, input)
            })?
            .map_err(|e| self.runtime.guest_error(e))
    }

    /// The detector's state (`snapshot`).
    pub fn snapshot(&mut self) -> Result<Vec<u8>> {
        let (api, handle) = (&self.api, self.handle);
        self.runtime
            .call(&mut self.store, "detector.snapshot", |s| {
                api.wasmad_detector_detectors()
                    .detector()
                    .call_snapshot(s, handle)
            })
    }

    /// The effective config JSON (`config`).
    pub fn config(&mut self) -> Result<String> {
        let (api, handle) = (&self.api, self.handle);
        self.runtime.call(&mut self.store, "detector.config", |s| {
            api.wasmad_detector_detectors()
                .detector()
                .call_config(s, handle)
        })
    }

    /// Number of key models held (`key-count`).
    pub fn key_count(&mut self) -> Result<u32> {
        let (api, handle) = (&self.api, self.handle);
        self.runtime
            .call(&mut self.store, "detector.key-count", |s| {
                api.wasmad_detector_detectors()
                    .detector()
                    .call_key_count(s, handle)
            })
    }

    /// Give the keys `ids` fresh models (`reset-keys`): hosts that evict
    /// keys reuse their ids.
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        let (api, handle) = (&self.api, self.handle);
        self.runtime
            .call(&mut self.store, "detector.reset-keys", |s| {
                api.wasmad_detector_detectors()
                    .detector()
                    .call_reset_keys(s, handle, ids)
            })?
            .map_err(|e| self.runtime.guest_error(e))
    }

    /// The runtime this detector belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// Paths of the test components built beside the product one (for tests of
/// this and dependent crates; not part of the product).
#[doc(hidden)]
pub mod testing {
    /// The hostile component (`tests/hostile-guest`): loops, allocates, traps on request.
    pub const HOSTILE_COMPONENT: &str = env!("WASMAD_HOSTILE_COMPONENT");
    /// The same, reporting ABI version 999.
    pub const HOSTILE_WRONG_ABI_COMPONENT: &str = env!("WASMAD_HOSTILE_WRONG_ABI_COMPONENT");
}
