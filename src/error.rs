//! Typed library errors and the exit codes they map to.
//!
//! Exit codes are part of the CLI's contract with bots and cron (see README):
//! 0 success, 1 the service refused or failed, 2 bad usage or input,
//! 3 configuration missing or invalid, 4 network unreachable or timed out,
//! 5 a local file (state, config, runtime files) cannot be read, parsed or
//! written. Exit 5 is apart from 1 so a script can tell "the service said
//! no" (retrying may help) from "this machine's files are broken" (retrying
//! never helps until a person fixes the file).

use serde_json::Value;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the library can report. Messages are written for the person
/// (or bot) who has to fix the problem: they say what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or input. Nothing was sent.
    #[error("{0}")]
    Usage(String),

    /// Configuration missing or invalid (no API key, a bad value).
    #[error("{0}")]
    Config(String),

    /// The service answered with an error status.
    #[error("the service answered HTTP {status}: {message}")]
    Api {
        status: u16,
        message: String,
        /// The service's error body, when it sent JSON.
        body: Option<Value>,
    },

    /// The network was unreachable or the request timed out.
    #[error("{0}")]
    Network(String),

    /// The local state file (or its lock and runtime siblings) could not
    /// be read, parsed or written, or holds what cannot be worked with (exit 5).
    #[error("{0}")]
    State(String),

    /// Another local file (the config file, a backup, a log) could not be
    /// read, parsed or written (exit 5).
    #[error("{0}")]
    File(String),

    /// Any other failure of an operation (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Config(_) => 3,
            Error::Network(_) => 4,
            Error::State(_) | Error::File(_) => 5,
            Error::Api { .. } | Error::Failed(_) => 1,
        }
    }

    /// A short machine-readable kind, used in `--json` error documents.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Config(_) => "config",
            Error::Api { .. } => "api",
            Error::Network(_) => "network",
            Error::State(_) => "state",
            Error::File(_) => "file",
            Error::Failed(_) => "failed",
        }
    }

    /// Shorthand for a usage error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    /// Shorthand for a configuration error.
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    /// Shorthand for a state error.
    pub fn state(msg: impl Into<String>) -> Self {
        Error::State(msg.into())
    }

    /// Shorthand for a local file error (not the state file).
    pub fn file(msg: impl Into<String>) -> Self {
        Error::File(msg.into())
    }

    /// Shorthand for a generic failure.
    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }

    /// The HTTP status, for service errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
