//! The crate's error type.

/// What can go wrong declaring or running a job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job script: DDL, options, the query's shape.
    #[error("{0}")]
    Ddl(String),
    /// A connector option is missing, unknown or has a bad value.
    #[error("table '{table}' (connector '{connector}'): {message}")]
    Option {
        /// The table.
        table: String,
        /// Its connector.
        connector: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// Reading a source or writing a sink failed.
    #[error("{0}")]
    Io(String),
    /// Writing to standard output failed (a closed pipe ends the job quietly).
    #[error("stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// Planning or executing the query failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(e.into())
    }
}
