//! The one error a command returns. `main` prints it and turns it into the
//! exit status (SPEC §2); commands never print an error themselves, and no
//! library code ends the process.

use crate::api::ApiError;
use crate::commands::ExitStatus;
use crate::manifest::Diagnostics;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifests do not load; every problem is listed, with its place.
    #[error("{0}")]
    Manifests(#[from] Diagnostics),
    /// A refusal before any write: what was refused, why, and what to do.
    #[error("error: {0}")]
    Refused(String),
    /// The user answered anything but `yes`.
    #[error("Apply cancelled; nothing was changed.")]
    Cancelled,
    /// SIGINT or SIGTERM stopped an apply; the report was printed.
    #[error("{0}")]
    Interrupted(String),
    /// The API answered with an error, or not at all.
    #[error("error: {0}")]
    Api(#[from] ApiError),
    /// Whoever read standard output went away (`ampx plan | head`): the
    /// command stops quietly and successfully.
    #[error("the output pipe was closed")]
    ClosedPipe,
    /// Anything else, with its context.
    #[error("error: {0:#}")]
    Other(#[from] anyhow::Error),
}

impl Error {
    /// The exit status this error ends the process with.
    pub fn status(&self) -> ExitStatus {
        match self {
            Error::ClosedPipe => ExitStatus::Success,
            Error::Interrupted(_) => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }

    /// Whether the error is worth a line on standard error.
    pub fn is_reported(&self) -> bool {
        !matches!(self, Error::ClosedPipe)
    }
}

/// What commands return.
pub type Result<T, E = Error> = std::result::Result<T, E>;
