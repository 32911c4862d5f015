//! One remote request over HTTP: POST with the key from the environment, bounded retries of
//! 429 and 5xx (honouring `Retry-After`), and the answer read from a stream of server-sent
//! events or a whole JSON body. Everything runs before one deadline, the request timeout.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use super::error::RemoteError;
use super::protocol::{error_message, streamed_piece, whole_answer, Wire};
use super::sse::SseParser;

/// Attempts in all for an answer of 429 or 5xx.
pub const MAX_ATTEMPTS: usize = 3;
/// The first wait before a retry without `Retry-After`; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest `Retry-After` honoured; a longer one ends the request (it would outlast any
/// keystroke it answers).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How much of an error body a message quotes.
const DETAIL_CHARS: usize = 300;

/// The key, and the name of the variable it came from (which messages may show).
pub struct Key {
    pub var: String,
    pub value: String,
}

/// One request: where, what, with which key, and by when.
pub struct Exchange<'a> {
    pub url: String,
    pub wire: Wire,
    pub body: &'a Value,
    pub key: Option<Key>,
    pub timeout: Duration,
}

/// The shared clients: connections are reused from request to request. A loopback endpoint
/// is reached directly; anything else through `HTTPS_PROXY`/`HTTP_PROXY` where set (reqwest
/// reads them), since a proxy elsewhere cannot reach this machine's loopback.
fn client(url: &reqwest::Url) -> &'static reqwest::Client {
    static PROXIED: OnceLock<reqwest::Client> = OnceLock::new();
    static DIRECT: OnceLock<reqwest::Client> = OnceLock::new();
    let loopback = dllm_models::net::is_loopback(url);
    let build = |direct: bool| {
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        let builder = if direct { builder.no_proxy() } else { builder };
        builder.build().expect("an HTTP client with rustls")
    };
    if loopback {
        DIRECT.get_or_init(|| build(true))
    } else {
        PROXIED.get_or_init(|| build(false))
    }
}

impl Exchange<'_> {
    /// Sends the request and reads the answer's text. `enough` is asked after each streamed
    /// piece: once it says yes the stream is dropped, which closes the connection.
    pub async fn answer(&self, enough: impl Fn(&str) -> bool) -> Result<String, RemoteError> {
        let deadline = Instant::now() + self.timeout;
        let work = async {
            let response = self.send_with_retries(deadline).await?;
            self.read(response, enough).await
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout()),
        }
    }

    /// The URL as messages show it: without user, password or query, where secrets may sit.
    pub fn shown(&self) -> String {
        shown_url(&self.url)
    }

    fn timeout(&self) -> RemoteError {
        RemoteError::Timeout {
            url: self.shown(),
            timeout: self.timeout,
        }
    }

    async fn send_once(&self, url: &reqwest::Url) -> Result<Response, RemoteError> {
        let mut request = client(url)
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream, application/json")
            .body(serde_json::to_vec(self.body).expect("JSON serialises"));
        if let Some(key) = &self.key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.value)).map_err(|_| {
                    RemoteError::KeyMissing(format!("{} (not a valid header value)", key.var))
                })?;
            // Kept out of reqwest's and hyper's Debug output.
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        request
            .send()
            .await
            .map_err(|e| RemoteError::from_reqwest(&self.shown(), self.timeout, e))
    }

    /// Posts until an answer that is not 429 or 5xx, or the attempts or the time run out.
    async fn send_with_retries(&self, deadline: Instant) -> Result<Response, RemoteError> {
        let url =
            reqwest::Url::parse(&self.url).map_err(|_| RemoteError::BadEndpoint(self.shown()))?;
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let response = self.send_once(&url).await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let wait = retry_after(&response).unwrap_or(backoff);
            let detail = error_detail(response).await;
            let out_of_time = Instant::now() + wait >= deadline || wait > MAX_RETRY_AFTER;
            if !retryable || attempt == MAX_ATTEMPTS || out_of_time {
                return Err(self.refusal(status, attempt, retryable, detail));
            }
            tracing::debug!(
                "{} answered {status}; retry {attempt} in {} ms",
                self.shown(),
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
        unreachable!("the last attempt returns")
    }

    fn refusal(
        &self,
        status: StatusCode,
        attempts: usize,
        retryable: bool,
        detail: String,
    ) -> RemoteError {
        let url = self.shown();
        let code = status.as_u16();
        match (status, &self.key) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(key)) => {
                RemoteError::AuthRejected {
                    url,
                    status: code,
                    var: key.var.clone(),
                }
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, None) => {
                RemoteError::AuthNeeded { url, status: code }
            }
            (StatusCode::NOT_FOUND, _) => RemoteError::NotFound { url, detail },
            _ if retryable => RemoteError::Unavailable {
                url,
                status: code,
                attempts,
                detail,
            },
            _ => RemoteError::Rejected {
                url,
                status: code,
                detail,
            },
        }
    }

    /// The answer's text: from server-sent events when the server streams, else from the body.
    async fn read(
        &self,
        response: Response,
        enough: impl Fn(&str) -> bool,
    ) -> Result<String, RemoteError> {
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !streamed {
            let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
            let body: Value = serde_json::from_slice(&bytes).map_err(|e| self.bad_body(e))?;
            return whole_answer(self.wire, &body).map_err(|e| self.bad_body(e));
        }
        let mut stream = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport(e))?;
            for event in parser.feed(&chunk) {
                if event.trim() == "[DONE]" {
                    return Ok(text);
                }
                let value: Value = serde_json::from_str(&event).map_err(|e| self.bad_body(e))?;
                let piece = streamed_piece(self.wire, &value).map_err(|e| self.bad_body(e))?;
                text.push_str(&piece.text);
                if piece.last || enough(&text) {
                    return Ok(text);
                }
            }
        }
        Err(RemoteError::StreamCut {
            url: self.shown(),
            detail: match parser.is_mid_event() {
                true => "it ended inside an event".into(),
                false => "it ended without its last event ([DONE])".into(),
            },
        })
    }

    fn transport(&self, e: reqwest::Error) -> RemoteError {
        match RemoteError::from_reqwest(&self.shown(), self.timeout, e) {
            e @ RemoteError::Timeout { .. } => e,
            other => RemoteError::StreamCut {
                url: self.shown(),
                detail: other.to_string(),
            },
        }
    }

    fn bad_body(&self, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::BadBody {
            url: self.shown(),
            detail: brief(&e.to_string()),
        }
    }
}

/// `url` without user, password or query.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and is not read).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// What an error answer says: its JSON error message, or the start of its text.
async fn error_detail(response: Response) -> String {
    let bytes = response.bytes().await.unwrap_or_default();
    let text = match serde_json::from_slice::<Value>(&bytes) {
        Ok(body) => error_message(&body).unwrap_or_else(|| body.to_string()),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    brief(text.trim())
}

fn brief(text: &str) -> String {
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
