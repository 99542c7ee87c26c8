//! The one error type of this crate.

use std::path::PathBuf;

/// What went wrong, naming the file (or argument) and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory given as a NAB corpus lacks files a corpus must have.
    #[error(
        "{dir} is not a NAB corpus: {problem}; expected data/<category>/<name>.csv, labels/combined_windows.json and config/profiles.json (a checkout of github.com/numenta/NAB)"
    )]
    NotACorpus {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong: what is missing, or that the directory is absent.
        problem: String,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {message}")]
    Io {
        /// `read`, `write`, `create` ...
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// A file's content does not have the expected format.
    #[error("{path}: {message}")]
    Format {
        /// The file (with `:line` when one line is at fault).
        path: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// A results directory lacks results for some corpus files, or holds
    /// results that do not match the data.
    #[error("{0}")]
    Results(String),
    /// The detector config was refused by the component.
    #[error(transparent)]
    Config(wasmad_host::Error),
    /// The detector component failed while scoring a file.
    #[error("detector failed on {file}: {error}")]
    Detector {
        /// The corpus file (`category/name.csv`).
        file: String,
        /// The component's error.
        error: wasmad_host::Error,
    },
    /// An argument is out of range (an unknown profile, a non-finite threshold).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, e: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn format(path: impl std::fmt::Display, message: impl Into<String>) -> Error {
        Error::Format {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
