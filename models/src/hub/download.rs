//! HTTP with the hub: a file's metadata (HEAD, as huggingface_hub asks it) and its download into
//! the cache's `.incomplete` file, resumed with a Range request from what an earlier attempt left.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client as Http, Response};
use reqwest::header::{HeaderMap, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, ETAG, RANGE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use super::error::{HubError, TokenSent};
use super::settings::HubSettings;
use crate::net;

/// Headers the hub sends (huggingface_hub's constants.py names the same).
const X_REPO_COMMIT: &str = "x-repo-commit";
const X_LINKED_ETAG: &str = "x-linked-etag";
const X_LINKED_SIZE: &str = "x-linked-size";
const X_ERROR_CODE: &str = "x-error-code";

/// A read that brings nothing for this long ends the attempt (it resumes next time).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const CHUNK: usize = 1 << 16;

/// What the hub says of one file at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub commit: String,
    /// The blob's name in the cache: the LFS sha256 for weights, the git hash for small files.
    pub etag: String,
    pub size: u64,
}

/// One repository and revision on one hub.
pub struct Client {
    /// Follows every redirect (LFS files live on a CDN); reqwest drops the token on the way.
    http: Http,
    /// Follows redirects within the hub only (a renamed repository): the LFS redirect itself
    /// carries the x-linked-* headers that describe the file.
    head: Http,
    endpoint: String,
    token: TokenSent,
    id: String,
    revision: String,
}

impl Client {
    pub fn new(settings: &HubSettings, id: &str, revision: &str) -> Result<Self, HubError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = &settings.token {
            let mut value = format!("Bearer {token}")
                .parse::<reqwest::header::HeaderValue>()
                .map_err(|_| HubError::Network {
                    endpoint: settings.endpoint.clone(),
                    reason: "the token holds characters an HTTP header cannot".into(),
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let loopback =
            reqwest::Url::parse(&settings.endpoint).is_ok_and(|url| net::is_loopback(&url));
        let builder = || {
            let builder = Http::builder()
                .user_agent(concat!("dllm-ls/", env!("CARGO_PKG_VERSION")))
                .default_headers(headers.clone())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(READ_TIMEOUT);
            // A proxy from HTTPS_PROXY elsewhere cannot reach this machine's loopback.
            match loopback {
                true => builder.no_proxy(),
                false => builder,
            }
        };
        let same_host = Policy::custom(|attempt| {
            let from = attempt
                .previous()
                .last()
                .and_then(|u| u.host_str().map(String::from));
            if attempt.previous().len() < 10 && from.as_deref() == attempt.url().host_str() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let network = |e: reqwest::Error| HubError::Network {
            endpoint: settings.endpoint.clone(),
            reason: e.to_string(),
        };
        Ok(Client {
            http: builder().build().map_err(network)?,
            head: builder().redirect(same_host).build().map_err(network)?,
            endpoint: settings.endpoint.clone(),
            token: match settings.token {
                Some(_) => TokenSent::Yes,
                None => TokenSent::No,
            },
            id: id.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The same client, asking for files at `commit` from now on.
    pub fn at(&self, commit: &str) -> Client {
        Client {
            http: self.http.clone(),
            head: self.head.clone(),
            endpoint: self.endpoint.clone(),
            token: self.token,
            id: self.id.clone(),
            revision: commit.to_string(),
        }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`, the URL huggingface_hub downloads from.
    fn url(&self, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            self.id,
            self.revision.replace('/', "%2F"),
            file
        )
    }

    /// The commit, etag and size of a file, from a HEAD request.
    pub fn metadata(&self, file: &str) -> Result<FileMeta, HubError> {
        let response = self
            .head
            .head(self.url(file))
            .header(ACCEPT_ENCODING, "identity")
            .send()
            .map_err(|e| self.network(e))?;
        let response = self.accepted(response, file)?;
        let headers = response.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let missing = |header| HubError::MissingHeader {
            file: file.to_string(),
            header,
        };
        let commit = text(X_REPO_COMMIT).ok_or_else(|| missing(X_REPO_COMMIT))?;
        let etag = text(X_LINKED_ETAG)
            .or_else(|| text(ETAG.as_str()))
            .ok_or_else(|| missing("etag"))?;
        let size = text(X_LINKED_SIZE)
            .or_else(|| text(CONTENT_LENGTH.as_str()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| missing("content-length"))?;
        Ok(FileMeta {
            commit: commit.to_string(),
            // huggingface_hub's normalisation: a weak etag's prefix and the quotes go.
            etag: etag.trim_start_matches("W/").trim_matches('"').to_string(),
            size,
        })
    }

    /// Downloads `file` into `partial`, continuing from the bytes already there, telling `on_disk`
    /// how many bytes of the file are there after each chunk. The file holds exactly
    /// `meta.size` bytes on success.
    pub fn download(
        &self,
        file: &str,
        meta: &FileMeta,
        partial: &Path,
        on_disk: &mut dyn FnMut(u64),
    ) -> Result<(), HubError> {
        let mut start = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
        if start > meta.size {
            start = 0;
        }
        if start == meta.size && start > 0 {
            return Ok(());
        }
        let mut request = self.http.get(self.url(file));
        if start > 0 {
            request = request.header(RANGE, format!("bytes={start}-"));
        }
        let response = request.send().map_err(|e| self.network(e))?;
        let response = self.accepted(response, file)?;
        // A server that ignores the Range sends the whole file: start over.
        let start = match response.status() {
            StatusCode::PARTIAL_CONTENT => start,
            _ => 0,
        };
        let mut out = OpenOptions::new()
            .create(true)
            .write(true)
            .append(start > 0)
            .truncate(start == 0)
            .open(partial)
            .map_err(|e| HubError::io(partial, e))?;
        on_disk(start);
        let got = copy(response, &mut out, partial, start, on_disk)?;
        out.sync_all().map_err(|e| HubError::io(partial, e))?;
        if got != meta.size {
            return Err(HubError::Truncated {
                file: file.to_string(),
                got,
                expected: meta.size,
            });
        }
        Ok(())
    }

    /// The response if it is an answer to use, else the error its status and code say.
    fn accepted(&self, response: Response, file: &str) -> Result<Response, HubError> {
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(response);
        }
        let code = response
            .headers()
            .get(X_ERROR_CODE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Err(match (code, status.as_u16()) {
            ("RepoNotFound", _) => HubError::RepoNotFound {
                endpoint: self.endpoint.clone(),
            },
            ("RevisionNotFound", _) => HubError::RevisionNotFound {
                revision: self.revision.clone(),
            },
            ("GatedRepo", status) | (_, status @ (401 | 403)) => HubError::Unauthorized {
                status,
                token: self.token,
            },
            ("EntryNotFound", _) | (_, 404) => HubError::FileNotFound {
                file: file.to_string(),
            },
            (_, status) => HubError::Http {
                status,
                file: file.to_string(),
            },
        })
    }

    fn network(&self, e: reqwest::Error) -> HubError {
        HubError::Network {
            endpoint: self.endpoint.clone(),
            reason: crate::net::error_chain(&e),
        }
    }
}

/// Appends the body to `out` (which holds `start` bytes) a chunk at a time; returns the bytes
/// the file holds then. A body that ends early returns what it got (the caller compares with
/// the size); a write error is the disk's.
fn copy(
    mut body: Response,
    out: &mut std::fs::File,
    path: &Path,
    start: u64,
    on_disk: &mut dyn FnMut(u64),
) -> Result<u64, HubError> {
    let mut buffer = vec![0u8; CHUNK];
    let mut total = start;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // Cut off: what arrived stays in the partial file for the next attempt.
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "download cut off");
                return Ok(total);
            }
        };
        out.write_all(&buffer[..n])
            .map_err(|e| HubError::io(path, e))?;
        total += n as u64;
        on_disk(total);
    }
}

