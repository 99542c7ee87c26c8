//! The one error type of this crate.

/// What went wrong, with a message that says what was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The config JSON is malformed, names an unknown algorithm or key, or holds
    /// an out-of-range value.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A batch is malformed: column lengths disagree, bad width, bad key id.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A snapshot is truncated, corrupt or from an unknown envelope version.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
}

impl Error {
    /// The message without the category prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidConfig(m) | Error::InvalidInput(m) | Error::InvalidSnapshot(m) => m,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
