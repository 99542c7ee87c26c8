//! The one error type of this crate.

/// What went wrong, with a message that says what was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The plugin configuration is malformed or names a bad key or value.
    #[error("bad plugin configuration: {0}")]
    Config(String),
    /// The detector rejected a request's row (not expected once configured).
    #[error("detector error: {0}")]
    Detector(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
