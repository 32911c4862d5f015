//! What can go wrong getting a checkpoint from the hub, each case with what to do about it.
//! No variant holds the token: errors reach logs, the editor and the terminal.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "no such repository on {endpoint} (check the id; a private repository needs HF_TOKEN)"
    )]
    RepoNotFound { endpoint: String },

    #[error("no revision `{revision}` in the repository")]
    RevisionNotFound { revision: String },

    #[error("{file} is not in the repository")]
    FileNotFound { file: String },

    #[error("access refused (HTTP {status}): {}", match token {
        TokenSent::No => "the repository is gated or private; set HF_TOKEN to a token of an account \
                          with access (and accept the model's terms on its page)",
        TokenSent::Yes => "the token in HF_TOKEN (or the token file) has no access to this \
                           repository; accept the model's terms on its page, or use another token",
    })]
    Unauthorized { status: u16, token: TokenSent },

    #[error(
        "cannot reach {endpoint}: {reason} (no network? HF_HUB_OFFLINE=1 uses the cache only)"
    )]
    Network { endpoint: String, reason: String },

    #[error("the hub answered HTTP {status} for {file}")]
    Http { status: u16, file: String },

    #[error("the hub's answer for {file} lacks the {header} header (is HF_ENDPOINT a Hugging Face hub?)")]
    MissingHeader { file: String, header: &'static str },

    #[error("{file}: the download ended at {got} bytes of {expected}; run again to resume")]
    Truncated {
        file: String,
        got: u64,
        expected: u64,
    },

    #[error("not in the cache {cache} (HF_HUB_OFFLINE is set: {what}); unset HF_HUB_OFFLINE to download it")]
    NotCached { cache: PathBuf, what: String },

    #[error("{path}: not a usable shard index: {reason}")]
    BadIndex { path: PathBuf, reason: String },

    #[error("{path}: disk full; free some space (or point HF_HUB_CACHE elsewhere) and run again to resume")]
    DiskFull { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Whether a refused request carried a token, which decides the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSent {
    Yes,
    No,
}

impl HubError {
    /// An I/O error on a cache path, disk full told apart.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            HubError::DiskFull { path }
        } else {
            HubError::Io { path, source }
        }
    }

    /// Whether the hub could not be reached at all (as opposed to answering no).
    pub fn is_network(&self) -> bool {
        matches!(self, HubError::Network { .. })
    }
}
