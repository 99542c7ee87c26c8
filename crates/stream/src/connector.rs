//! Connectors: which exist, which options each accepts, and building the
//! source or sink a table declares.

use std::collections::BTreeMap;

use crate::ddl::{TableDef, parse_duration_micros};
use crate::error::{Error, Result};
use crate::kafka;
use crate::sink::{self, Sink};
use crate::source::{self, Source};

/// Every connector, for error messages.
pub const CONNECTORS: [&str; 6] = ["datagen", "file", "kafka", "stdin", "stdout", "webhook"];

/// Options every source accepts besides its own.
const SOURCE_COMMON: [&str; 3] = ["connector", "late.sink", "idle-timeout"];

/// The options a connector accepts as a source, or `None` if it is not one.
fn source_options(connector: &str) -> Option<&'static [&'static str]> {
    Some(match connector {
        "datagen" => &source::DATAGEN_OPTIONS,
        "file" => &source::FILE_OPTIONS,
        "kafka" => &kafka::SOURCE_OPTIONS,
        "stdin" => &source::STDIN_OPTIONS,
        _ => return None,
    })
}

/// The options a connector accepts as a sink, or `None` if it is not one.
fn sink_options(connector: &str) -> Option<&'static [&'static str]> {
    Some(match connector {
        "file" => &sink::FILE_OPTIONS,
        "kafka" => &kafka::SINK_OPTIONS,
        "stdout" => &sink::STDOUT_OPTIONS,
        "webhook" => &sink::WEBHOOK_OPTIONS,
        _ => return None,
    })
}

/// Typed access to a table's options, with errors that name the table,
/// connector and option.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    table: &'a TableDef,
}

impl<'a> Options<'a> {
    /// Options of `table`.
    pub fn new(table: &'a TableDef) -> Self {
        Options { table }
    }

    /// The table definition.
    pub fn table(&self) -> &TableDef {
        self.table
    }

    /// An error about this table.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Option {
            table: self.table.name.clone(),
            connector: self.table.connector().to_string(),
            message: message.into(),
        }
    }

    fn map(&self) -> &BTreeMap<String, String> {
        &self.table.options
    }

    /// A string option.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.map().get(key).map(String::as_str)
    }

    /// A required string option.
    pub fn required(&self, key: &str, what: &str) -> Result<&str> {
        self.str(key)
            .ok_or_else(|| self.error(format!("the option '{key}' is required ({what})")))
    }

    /// A number option in `[min, max]`.
    pub fn f64(&self, key: &str, default: f64, min: f64, max: f64) -> Result<f64> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= min && x <= max => Ok(x),
                _ => Err(self.error(format!(
                    "option '{key}' = '{v}': expected a number in [{min}, {max}]"
                ))),
            },
        }
    }

    /// An integer option in `[min, max]`.
    pub fn u64(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(x) if x >= min && x <= max => Ok(x),
                _ => Err(self.error(format!(
                    "option '{key}' = '{v}': expected an integer in [{min}, {max}]"
                ))),
            },
        }
    }

    /// A boolean option (`true` / `false`).
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.str(key).map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(self.error(format!(
                "option '{key}' = '{v}': expected 'true' or 'false'"
            ))),
        }
    }

    /// A duration option (`500ms`, `5s`, `2 min`), in microseconds.
    pub fn duration_micros(&self, key: &str, default: i64) -> Result<i64> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => match parse_duration_micros(v) {
                Ok(d) if d >= 0 => Ok(d),
                Ok(_) => Err(self.error(format!("option '{key}' = '{v}' must not be negative"))),
                Err(e) => Err(self.error(format!("option '{key}': {e}"))),
            },
        }
    }

    /// One of `accepted` (case-insensitive), lower-cased.
    pub fn choice(&self, key: &str, default: &str, accepted: &[&str]) -> Result<String> {
        let v = self.str(key).unwrap_or(default).to_ascii_lowercase();
        if accepted.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(self.error(format!(
                "option '{key}' = '{v}' is not supported; accepted: {}",
                accepted.join(", ")
            )))
        }
    }

    fn check_known(&self, accepted: &[&str], role: &str) -> Result<()> {
        for key in self.map().keys() {
            if !accepted.contains(&key.as_str()) {
                let mut list: Vec<&str> = accepted.to_vec();
                list.sort_unstable();
                return Err(self.error(format!(
                    "unknown option '{key}' for a {role}; accepted: {}",
                    list.join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn unknown_connector(table: &TableDef) -> Error {
    Error::Option {
        table: table.name.clone(),
        connector: table.connector().to_string(),
        message: format!("unknown connector; accepted: {}", CONNECTORS.join(", ")),
    }
}

/// The source a table declares.
pub fn build_source(table: &TableDef) -> Result<Box<dyn Source>> {
    let connector = table.connector().to_ascii_lowercase();
    let Some(own) = source_options(&connector) else {
        if sink_options(&connector).is_some() {
            return Err(Options::new(table).error(
                "this connector writes rows and cannot be read from; sources: datagen, file, kafka, stdin",
            ));
        }
        return Err(unknown_connector(table));
    };
    let opts = Options::new(table);
    let accepted: Vec<&str> = own.iter().chain(SOURCE_COMMON.iter()).copied().collect();
    opts.check_known(&accepted, "source")?;
    match connector.as_str() {
        "datagen" => Ok(Box::new(source::Datagen::new(&opts)?)),
        "file" => Ok(Box::new(source::FileSource::new(&opts)?)),
        "kafka" => Ok(Box::new(kafka::KafkaSource::new(&opts)?)),
        _ => Ok(Box::new(source::StdinSource::new(&opts)?)),
    }
}

/// The sink a table declares.
pub fn build_sink(table: &TableDef, default_format: sink::RowFormat) -> Result<Box<dyn Sink>> {
    let connector = table.connector().to_ascii_lowercase();
    let Some(own) = sink_options(&connector) else {
        if source_options(&connector).is_some() {
            return Err(Options::new(table).error(
                "this connector only reads rows and cannot be written to; sinks: file, kafka, stdout, webhook",
            ));
        }
        return Err(unknown_connector(table));
    };
    let opts = Options::new(table);
    let accepted: Vec<&str> = own
        .iter()
        .chain(std::iter::once(&"connector"))
        .copied()
        .collect();
    opts.check_known(&accepted, "sink")?;
    match connector.as_str() {
        "file" => Ok(Box::new(sink::FileSink::new(&opts)?)),
        "kafka" => Ok(Box::new(kafka::KafkaSink::new(&opts)?)),
        "stdout" => Ok(Box::new(sink::StdoutSink::new(&opts, default_format)?)),
        _ => Ok(Box::new(sink::WebhookSink::new(&opts)?)),
    }
}

/// The idle timeout of a source (`'idle-timeout'`), in microseconds, if set.
pub fn idle_timeout_micros(table: &TableDef) -> Result<Option<i64>> {
    let opts = Options::new(table);
    Ok(match opts.str("idle-timeout") {
        None => None,
        Some(_) => Some(opts.duration_micros("idle-timeout", 0)?),
    })
}
