//! [`Detector`]: any algorithm, built from a JSON config, snapshot-able.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert::{self, Alerts};
use crate::arima::Arima;
use crate::changepoint::ChangePoint;
use crate::config::{Common, ParamSpec, Reader, parse_object};
use crate::engine::{Input, Keyed, Scores};
use crate::ensemble::{self, Ensemble};
use crate::error::{Error, Result};
use crate::ewma::Ewma;
use crate::holtwinters::HoltWinters;
use crate::holtwinters_v1::{self, LegacyHoltWinters};
use crate::hst::Hst;
use crate::iforest::IForest;
use crate::mad::Mad;
use crate::model::Model;
use crate::rcf::Rcf;
use crate::robust::Robust;
use crate::row::{RowKeyed, RowModel};
use crate::spikedip::SpikeDip;
use crate::zscore::ZScore;

/// The ABI version of `wit/detector.wit` this crate implements.
pub const ABI_VERSION: u32 = 2;
/// Magic bytes that open every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 4] = b"WMAD";
/// The snapshot envelope version written by this crate. Version 1 (before
/// the alert settings and per-key alert state) is still read.
pub const SNAPSHOT_VERSION: u16 = 2;

/// Every algorithm name, in the order `describe()` lists them.
pub const ALGORITHMS: &[&str] = &[
    ZScore::NAME,
    Ewma::NAME,
    Mad::NAME,
    HoltWinters::NAME,
    <Rcf as RowModel>::NAME,
    <SpikeDip as RowModel>::NAME,
    <ChangePoint as RowModel>::NAME,
    <Robust as RowModel>::NAME,
    <Arima as RowModel>::NAME,
    ensemble::NAME,
    <Hst as RowModel>::NAME,
    <IForest as RowModel>::NAME,
];

/// A detector of any algorithm, holding one model per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Detector {
    /// See [`crate::zscore`].
    ZScore(Keyed<ZScore>),
    /// See [`crate::ewma`].
    Ewma(Keyed<Ewma>),
    /// See [`crate::mad`].
    Mad(Keyed<Mad>),
    /// `holtwinters` as snapshots before 2026-12-04 hold it; restore upgrades
    /// it to [`Detector::HoltWinters`] (see [`crate::holtwinters_v1`]).
    HoltWintersV1(Keyed<LegacyHoltWinters>),
    /// See [`crate::rcf`]. (New variants go last: snapshots name variants by index.)
    Rcf(RowKeyed<Rcf>),
    /// See [`crate::spikedip`].
    SpikeDip(RowKeyed<SpikeDip>),
    /// See [`crate::changepoint`].
    ChangePoint(RowKeyed<ChangePoint>),
    /// See [`crate::robust`].
    Robust(RowKeyed<Robust>),
    /// See [`crate::arima`].
    Arima(RowKeyed<Arima>),
    /// See [`crate::ensemble`].
    Ensemble(Ensemble),
    /// See [`crate::hst`].
    Hst(RowKeyed<Hst>),
    /// See [`crate::iforest`].
    IForest(RowKeyed<IForest>),
    /// See [`crate::holtwinters`].
    HoltWinters(Keyed<HoltWinters>),
}

macro_rules! dispatch {
    ($self:expr, $k:ident => $body:expr) => {
        match $self {
            Detector::ZScore($k) => $body,
            Detector::Ewma($k) => $body,
            Detector::Mad($k) => $body,
            Detector::HoltWinters($k) => $body,
            Detector::Rcf($k) => $body,
            Detector::SpikeDip($k) => $body,
            Detector::ChangePoint($k) => $body,
            Detector::Robust($k) => $body,
            Detector::Arima($k) => $body,
            Detector::Ensemble($k) => $body,
            Detector::Hst($k) => $body,
            Detector::IForest($k) => $body,
            Detector::HoltWintersV1($k) => $body,
        }
    };
}

/// Every key an algorithm takes: its own specs (common keys first), then the
/// alert keys every algorithm shares.
pub fn specs<M: Model>() -> Vec<ParamSpec> {
    let mut s = M::specs();
    s.extend(Alerts::specs());
    s
}

/// Every key a row-scoring algorithm takes: its own, then the alert keys.
pub fn row_specs<R: RowModel>() -> Vec<ParamSpec> {
    let mut s = R::specs();
    s.extend(Alerts::specs());
    s
}

fn build_rows<R: RowModel>(obj: &Map<String, Value>) -> Result<RowKeyed<R>> {
    let reader = Reader::new(R::NAME, obj, row_specs::<R>())?;
    RowKeyed::build(&reader)
}

fn build<M: Model>(obj: &Map<String, Value>) -> Result<Keyed<M>> {
    let reader = Reader::new(M::NAME, obj, specs::<M>())?;
    let mut common = reader.common()?;
    let params = M::params(&reader, &mut common)?;
    let alerts = Alerts::read(&reader)?;
    Ok(Keyed::new(common, params, alerts))
}

#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    config: String,
    detector: Detector,
}

/// The body of a version 1 snapshot: no alert settings, no alert state.
#[derive(Deserialize)]
struct SnapshotBodyV1 {
    config: String,
    detector: DetectorV1,
}

#[derive(Deserialize)]
enum DetectorV1 {
    ZScore(KeyedV1<ZScore>),
    Ewma(KeyedV1<Ewma>),
    Mad(KeyedV1<Mad>),
}

#[derive(Deserialize)]
#[serde(bound = "")]
struct KeyedV1<M: Model> {
    common: Common,
    params: M::Params,
    models: Vec<M>,
}

impl<M: Model> KeyedV1<M> {
    fn upgrade(self) -> Keyed<M> {
        let mut k = Keyed::new(self.common, self.params, Alerts::default());
        k.models = self.models;
        k
    }
}

impl DetectorV1 {
    fn upgrade(self) -> Detector {
        match self {
            DetectorV1::ZScore(k) => Detector::ZScore(k.upgrade()),
            DetectorV1::Ewma(k) => Detector::Ewma(k.upgrade()),
            DetectorV1::Mad(k) => Detector::Mad(k.upgrade()),
        }
    }
}

/// Decode a postcard body that must fill `bytes` exactly.
fn decode_body<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    let (body, rest): (T, &[u8]) = postcard::take_from_bytes(bytes).map_err(|e| {
        Error::InvalidSnapshot(format!("snapshot body is truncated or corrupt: {e}"))
    })?;
    if !rest.is_empty() {
        return Err(Error::InvalidSnapshot(format!(
            "snapshot body is corrupt: {} unexpected bytes after its end",
            rest.len()
        )));
    }
    Ok(body)
}

impl Detector {
    /// Build a detector from a JSON config. The `algorithm` key picks the
    /// algorithm (default `zscore`); every other key must be one it accepts.
    pub fn from_config(config: &str) -> Result<Detector> {
        let obj = parse_object(config)?;
        let algorithm = match obj.get("algorithm") {
            None | Some(Value::Null) => ZScore::NAME,
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(Error::InvalidConfig(format!(
                    "'algorithm' must be a string, got {other}; accepted: {}",
                    ALGORITHMS.join(", ")
                )));
            }
        };
        match algorithm.to_ascii_lowercase().as_str() {
            "zscore" => Ok(Detector::ZScore(build(&obj)?)),
            "ewma" => Ok(Detector::Ewma(build(&obj)?)),
            "mad" => Ok(Detector::Mad(build(&obj)?)),
            "holtwinters" => Ok(Detector::HoltWinters(build(&obj)?)),
            "rcf" => Ok(Detector::Rcf(build_rows(&obj)?)),
            "spike_dip" | "spikedip" | "spikeanddip" => Ok(Detector::SpikeDip(build_rows(&obj)?)),
            "change_point" | "changepoint" => Ok(Detector::ChangePoint(build_rows(&obj)?)),
            "robust" => Ok(Detector::Robust(build_rows(&obj)?)),
            "arima" => Ok(Detector::Arima(build_rows(&obj)?)),
            "ensemble" => Ok(Detector::Ensemble(Ensemble::build(&obj)?)),
            "hst" | "half_space_trees" | "halfspacetrees" => Ok(Detector::Hst(build_rows(&obj)?)),
            "iforest" | "isolation_forest" | "isolationforest" => {
                Ok(Detector::IForest(build_rows(&obj)?))
            }
            other => Err(Error::InvalidConfig(format!(
                "unknown algorithm '{other}'; accepted: {}",
                ALGORITHMS.join(", ")
            ))),
        }
    }

    /// The algorithm name.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Detector::ZScore(_) => ZScore::NAME,
            Detector::Ewma(_) => Ewma::NAME,
            Detector::Mad(_) => Mad::NAME,
            Detector::HoltWinters(_) => HoltWinters::NAME,
            Detector::Rcf(_) => <Rcf as RowModel>::NAME,
            Detector::SpikeDip(_) => <SpikeDip as RowModel>::NAME,
            Detector::ChangePoint(_) => <ChangePoint as RowModel>::NAME,
            Detector::Robust(_) => <Robust as RowModel>::NAME,
            Detector::Arima(_) => <Arima as RowModel>::NAME,
            Detector::Ensemble(_) => ensemble::NAME,
            Detector::Hst(_) => <Hst as RowModel>::NAME,
            Detector::IForest(_) => <IForest as RowModel>::NAME,
            Detector::HoltWintersV1(_) => LegacyHoltWinters::NAME,
        }
    }

    /// An older snapshot's state as the current detector (the identity for
    /// every current variant).
    fn upgrade(self) -> Detector {
        match self {
            Detector::HoltWintersV1(k) => Detector::HoltWinters(holtwinters_v1::upgrade(k)),
            Detector::Ensemble(mut e) => {
                e.members = e.members.into_iter().map(Detector::upgrade).collect();
                Detector::Ensemble(e)
            }
            d => d,
        }
    }

    /// The alert settings (the ensemble's own for an ensemble).
    pub fn alerts(&self) -> &Alerts {
        dispatch!(self, k => &k.alerts)
    }

    /// Whether rows of more than one value are accepted.
    pub fn multivariate(&self) -> bool {
        match self {
            Detector::ZScore(_)
            | Detector::Ewma(_)
            | Detector::Mad(_)
            | Detector::HoltWinters(_)
            | Detector::HoltWintersV1(_) => false,
            Detector::Rcf(_) => <Rcf as RowModel>::MULTIVARIATE,
            Detector::SpikeDip(_) => <SpikeDip as RowModel>::MULTIVARIATE,
            Detector::ChangePoint(_) => <ChangePoint as RowModel>::MULTIVARIATE,
            Detector::Robust(_) => <Robust as RowModel>::MULTIVARIATE,
            Detector::Arima(_) => <Arima as RowModel>::MULTIVARIATE,
            Detector::Hst(_) => <Hst as RowModel>::MULTIVARIATE,
            Detector::IForest(_) => <IForest as RowModel>::MULTIVARIATE,
            Detector::Ensemble(e) => e.multivariate(),
        }
    }

    /// Whether a batch of rows of `width` values would be accepted (the
    /// width checks of [`Detector::process`], without processing).
    pub fn check_width(&self, width: usize) -> Result<()> {
        match self {
            Detector::ZScore(_)
            | Detector::Ewma(_)
            | Detector::Mad(_)
            | Detector::HoltWinters(_)
            | Detector::HoltWintersV1(_) => {
                crate::engine::check_univariate(self.algorithm(), width)
            }
            Detector::Rcf(k) => k.check_width(width),
            Detector::SpikeDip(k) => k.check_width(width),
            Detector::ChangePoint(k) => k.check_width(width),
            Detector::Robust(k) => k.check_width(width),
            Detector::Arima(k) => k.check_width(width),
            Detector::Hst(k) => k.check_width(width),
            Detector::IForest(k) => k.check_width(width),
            Detector::Ensemble(e) => e.members.iter().try_for_each(|m| m.check_width(width)),
        }
    }

    /// Whether the state is consistent with the config (a restored snapshot).
    pub fn is_consistent(&self) -> bool {
        dispatch!(self, k => k.is_consistent())
    }

    /// The effective config with every default filled in.
    pub fn config_value(&self) -> Value {
        dispatch!(self, k => k.config_value())
    }

    /// Score then learn every row of `input` (see [`Keyed::process`]).
    /// `input.timestamps` may be empty when [`Detector::needs_timestamps`]
    /// is false; otherwise an empty list for a non-empty batch is an error.
    pub fn process(&mut self, input: &Input<'_>, out: &mut Scores) -> Result<()> {
        if self.needs_timestamps() {
            input.require_timestamps(self.algorithm())?;
        }
        dispatch!(self, k => k.process(input, out))
    }

    /// Whether `process` reads the rows' timestamps. When it does not (the
    /// baseline detectors with no per-key alert state), a host may pass an
    /// empty timestamps list and save copying a column the detector never
    /// reads. Conservative: every detector not named here reads them.
    pub fn needs_timestamps(&self) -> bool {
        match self {
            Detector::ZScore(k) => k.alerts.stateful(),
            Detector::Ewma(k) => k.alerts.stateful(),
            Detector::Mad(k) => k.alerts.stateful(),
            Detector::HoltWinters(k) => k.alerts.stateful(),
            Detector::HoltWintersV1(k) => k.alerts.stateful(),
            _ => true,
        }
    }

    /// Keys held.
    pub fn key_count(&self) -> usize {
        dispatch!(self, k => k.key_count())
    }

    /// Give the keys `ids` fresh models, as if never seen: hosts that evict
    /// keys (a key cap, a state TTL) reuse the ids for new keys. Ids must be
    /// below [`Detector::key_count`].
    pub fn reset_keys(&mut self, ids: &[u32]) -> Result<()> {
        dispatch!(self, k => k.reset_keys(ids))
    }

    /// The effective config with every default filled in, as a JSON string.
    pub fn config_json(&self) -> String {
        self.config_value().to_string()
    }

    /// Serialise config and every key's state into a versioned envelope:
    /// `b"WMAD"`, `u16` LE envelope version, then a postcard body.
    pub fn snapshot(&self) -> Vec<u8> {
        let body = SnapshotBody {
            config: self.config_json(),
            detector: self.clone(),
        };
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        // Serialising plain data into a Vec cannot fail.
        match postcard::to_extend(&body, out) {
            Ok(v) => v,
            Err(e) => unreachable!("snapshot serialisation failed: {e}"),
        }
    }

    /// Rebuild a detector from [`Detector::snapshot`] bytes.
    pub fn restore(bytes: &[u8]) -> Result<Detector> {
        if bytes.len() < 6 || &bytes[..4] != SNAPSHOT_MAGIC {
            return Err(Error::InvalidSnapshot(
                "not a wasmad snapshot: it must start with the bytes 'WMAD'".into(),
            ));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let body: SnapshotBody = match version {
            SNAPSHOT_VERSION => decode_body(&bytes[6..])?,
            1 => {
                let v1: SnapshotBodyV1 = decode_body(&bytes[6..])?;
                SnapshotBody {
                    config: v1.config,
                    detector: v1.detector.upgrade(),
                }
            }
            _ => {
                return Err(Error::InvalidSnapshot(format!(
                    "snapshot envelope version {version} is not supported; this module reads versions 1 and {SNAPSHOT_VERSION}"
                )));
            }
        };
        // Older states of an algorithm become its current one.
        let body = SnapshotBody {
            config: body.config,
            detector: body.detector.upgrade(),
        };
        // The config must still validate, and must describe the same detector.
        let fresh = Detector::from_config(&body.config).map_err(|e| {
            Error::InvalidSnapshot(format!("snapshot config is corrupt: {}", e.message()))
        })?;
        if fresh.config_json() != body.detector.config_json() {
            return Err(Error::InvalidSnapshot(
                "snapshot config does not match its state".into(),
            ));
        }
        if !body.detector.is_consistent() {
            return Err(Error::InvalidSnapshot(
                "snapshot state is inconsistent with its config".into(),
            ));
        }
        Ok(body.detector)
    }
}

/// The keys every algorithm takes.
fn common_keys() -> Vec<&'static str> {
    let mut keys = vec!["algorithm", "threshold", "minTrainingSize", "direction"];
    keys.extend(alert::KEYS);
    keys
}

/// The module description served by `describe()` (see `wit/detector.wit`).
pub fn describe() -> String {
    fn algo<M: Model>(multivariate: bool) -> Value {
        serde_json::json!({
            "name": M::NAME,
            "description": M::DESCRIPTION,
            "multivariate": multivariate,
            "params": specs::<M>().iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        })
    }
    fn row_algo<R: RowModel>() -> Value {
        serde_json::json!({
            "name": R::NAME,
            "description": R::DESCRIPTION,
            "multivariate": R::MULTIVARIATE,
            "params": row_specs::<R>().iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        })
    }
    fn ensemble_algo() -> Value {
        serde_json::json!({
            "name": ensemble::NAME,
            "description": ensemble::DESCRIPTION,
            // As multivariate as its members: each checks the width itself.
            "multivariate": true,
            "params": ensemble::specs().iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        })
    }
    serde_json::json!({
        "module": "wasmad-detectors",
        "version": env!("CARGO_PKG_VERSION"),
        "abi": ABI_VERSION,
        "algorithms": [algo::<ZScore>(false), algo::<Ewma>(false), algo::<Mad>(false), algo::<HoltWinters>(false), row_algo::<Rcf>(), row_algo::<SpikeDip>(), row_algo::<ChangePoint>(), row_algo::<Robust>(), row_algo::<Arima>(), ensemble_algo(), row_algo::<Hst>(), row_algo::<IForest>()],
        "common": common_keys(),
        "outputs": ["forecast_value", "lower_bound", "upper_bound", "score", "is_anomaly", "direction", "status", "severity", "anomaly_probability"],
    })
    .to_string()
}
