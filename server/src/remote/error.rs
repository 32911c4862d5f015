//! What can go wrong talking to a remote engine. Every message names the endpoint's part
//! (status, host, variable name) that helps fix it and never the key itself.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    #[error("no endpoint is set: set `endpoint` (or --endpoint) to the engine's base URL")]
    NoEndpoint,
    #[error("the endpoint {0:?} is not an http(s) URL")]
    BadEndpoint(String),
    #[error("the environment variable {0} named by `apiKeyEnv` is not set")]
    KeyMissing(String),
    #[error("cannot resolve the host of {url}: {detail}")]
    Dns { url: String, detail: String },
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("TLS with {url} failed: {detail}")]
    Tls { url: String, detail: String },
    #[error("{url} refused the key in ${var} ({status}): check that variable")]
    AuthRejected {
        url: String,
        status: u16,
        var: String,
    },
    #[error("{url} needs an API key ({status}): set `apiKeyEnv` to the name of the variable that holds it")]
    AuthNeeded { url: String, status: u16 },
    #[error("{url} answered 404: is `api` right for this endpoint? {detail}")]
    NotFound { url: String, detail: String },
    #[error("{url} answered {status} {attempts} time(s): {detail}")]
    Unavailable {
        url: String,
        status: u16,
        attempts: usize,
        detail: String,
    },
    #[error("{url} answered {status}: {detail}")]
    Rejected {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{url} did not answer within {} ms", .timeout.as_millis())]
    Timeout { url: String, timeout: Duration },
    #[error("{url} answered with a body that is not the expected JSON: {detail}")]
    BadBody { url: String, detail: String },
    #[error("the stream from {url} was cut off before its end: {detail}")]
    StreamCut { url: String, detail: String },
    #[error("the request to {url} failed: {detail}")]
    Other { url: String, detail: String },
    /// Next edit was asked of an `api` without Inception's `/edit/completions`.
    #[error("the `{0}` api has no next-edit endpoint: next edits over a remote engine need `api: fim` and a server with /edit/completions (Inception's)")]
    NoNextEdit(String),
    /// The server answered 404 at `/edit/completions`: a FIM server without next edit, or a
    /// model it does not offer there. Inline completion may work all the same.
    #[error("{url} answered 404: this server (or `remoteModel`) has no next edit; not asked again until the endpoint or model changes. {detail}")]
    NoEditEndpoint { url: String, detail: String },
    /// A next-edit answer without a rewritten region in it.
    #[error("{url} answered without a usable rewritten region: {detail}")]
    NoRegion { url: String, detail: String },
}

impl RemoteError {
    /// Whether the user must change something outside the editor (a key, a variable) before
    /// this can work: shown once as a message, not only logged.
    pub fn needs_the_user(&self) -> bool {
        matches!(
            self,
            RemoteError::AuthRejected { .. }
                | RemoteError::AuthNeeded { .. }
                | RemoteError::KeyMissing(_)
        )
    }

    /// Classifies a reqwest error by what the user can do about it. reqwest's own message is
    /// kept as the detail: it names the URL and the cause, never a header.
    pub(super) fn from_reqwest(url: &str, timeout: Duration, e: reqwest::Error) -> Self {
        let url = url.to_string();
        // The URL is named by `url`, shown without its secrets; reqwest's would repeat it whole.
        let e = e.without_url();
        if e.is_timeout() {
            return RemoteError::Timeout { url, timeout };
        }
        let detail = dllm_models::net::error_chain(&e);
        let lower = detail.to_lowercase();
        if e.is_connect() {
            if lower.contains("dns") || lower.contains("resolve") || lower.contains("lookup") {
                return RemoteError::Dns { url, detail };
            }
            if lower.contains("tls")
                || lower.contains("certificate")
                || lower.contains("handshake")
                || lower.contains("invalidcontenttype")
                || lower.contains("corrupt message")
            {
                return RemoteError::Tls { url, detail };
            }
            return RemoteError::Connect { url, detail };
        }
        if e.is_body() || e.is_decode() {
            return RemoteError::StreamCut { url, detail };
        }
        RemoteError::Other { url, detail }
    }
}

