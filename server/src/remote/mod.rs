//! A remote engine: an HTTP server that infills (Inception's Mercury, an OpenAI-compatible FIM
//! server, llama.cpp's server) behind the same seam as the local model
//! ([`crate::infiller::Infiller`]). A request with several spans is filled one span at a time,
//! left to right, each request seeing the spans already filled: the engines fill one hole per
//! request, so this is sequential, not the local model's joint fill.

pub mod edit;
#[cfg(any(test, feature = "testing"))]
pub mod edit_fixtures;
pub mod error;
mod http;
pub mod protocol;
pub mod sse;
#[cfg(any(test, feature = "testing"))]
pub mod test_server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dllm_models::{InfillOutput, SamplerOptions, Segment};

pub use error::RemoteError;
pub use protocol::Api;

use crate::infiller::{Ask, Stop};
use http::{Exchange, Key};
use protocol::{Params, Prompt, Wire};

/// Where and how to reach the engine (the `endpoint`, `api`, `remoteModel`, `apiKeyEnv` and
/// `requestTimeoutMs` settings). Holds the variable's name, never the key.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSettings {
    pub endpoint: Option<String>,
    pub api: Api,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub timeout: Duration,
}

/// How the remote engine has fared: for `dllm.status`, and the one message a problem the user
/// must fix (a refused key) earns.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RemoteStatus {
    pub last_latency: Option<Duration>,
    pub last_error: Option<String>,
    /// A message to show the user, not yet shown.
    unshown: Option<String>,
    /// The last message shown: the same problem is not shown again until a request succeeds.
    shown: Option<String>,
    /// The endpoint and model whose `/edit/completions` answered 404: next edits are not asked
    /// of them again (see [`edit`]).
    edits_refused: Option<String>,
}

impl RemoteStatus {
    fn succeeded(&mut self, latency: Duration) {
        self.last_latency = Some(latency);
        self.last_error = None;
        self.shown = None;
    }

    fn failed(&mut self, error: &RemoteError) {
        let message = error.to_string();
        if error.needs_the_user() && self.shown.as_ref() != Some(&message) {
            self.unshown = Some(message.clone());
            self.shown = Some(message.clone());
        }
        self.last_error = Some(message);
    }

    /// The message to show the user now, once.
    pub fn take_message(&mut self) -> Option<String> {
        self.unshown.take()
    }
}

pub type SharedStatus = Arc<Mutex<RemoteStatus>>;

/// A remote engine for one request's settings; the status is shared across requests.
#[derive(Clone)]
pub struct RemoteEngine {
    settings: RemoteSettings,
    status: SharedStatus,
}

impl RemoteEngine {
    pub fn new(settings: RemoteSettings, status: SharedStatus) -> Self {
        RemoteEngine { settings, status }
    }

    pub fn settings(&self) -> &RemoteSettings {
        &self.settings
    }

    /// The endpoint as the status shows it (without user, password or query).
    pub fn shown_endpoint(&self) -> Option<String> {
        self.settings.endpoint.as_deref().map(http::shown_url)
    }

    /// Fills the spans of `ask.request` one at a time, left to right.
    pub async fn infill(&self, ask: &Ask) -> Result<InfillOutput, RemoteError> {
        let started = Instant::now();
        let budgets: Vec<usize> = ask
            .request
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Span { max_tokens } => Some(*max_tokens),
                _ => None,
            })
            .collect();
        let mut spans: Vec<String> = Vec::with_capacity(budgets.len());
        for &max_tokens in &budgets {
            let (prefix, suffix) = around_next_span(&ask.request.segments, &spans, &ask.replaced);
            let text = self
                .fill(&prefix, &suffix, max_tokens, ask.stop, &ask.sampler)
                .await?;
            spans.push(text);
        }
        Ok(InfillOutput {
            span_tokens: vec![Vec::new(); spans.len()],
            steps: spans.len(),
            // A remote engine reports no token probabilities.
            confidence: Vec::new(),
            spans,
            canvas_tokens: 0,
            elapsed: started.elapsed(),
            trace: Vec::new(),
            reused_tokens: 0,
        })
    }

    /// The text between `prefix` and `suffix`.
    pub async fn fill(
        &self,
        prefix: &str,
        suffix: &str,
        max_tokens: usize,
        stop: Stop,
        sampler: &SamplerOptions,
    ) -> Result<String, RemoteError> {
        let stops: &[&str] = match stop {
            Stop::Line => &["\n"],
            Stop::Block => &[],
            Stop::Tight => &["\n\n"],
        };
        // A one-line answer is complete at its first line break: the rest is not read.
        let enough = |text: &str| stop == Stop::Line && text.contains('\n');
        let prompt = Prompt::Fill { prefix, suffix };
        let answer = self.ask(prompt, max_tokens, stops, sampler, enough).await?;
        Ok(match self.settings.api {
            Api::Chat => crate::pipeline::code_of_answer(&answer),
            _ => answer,
        })
    }

    /// The answer to an instruction (a chat request).
    pub async fn instruct(
        &self,
        message: &str,
        max_tokens: usize,
        sampler: &SamplerOptions,
    ) -> Result<String, RemoteError> {
        let prompt = Prompt::Instruction(message);
        self.ask(prompt, max_tokens, &[], sampler, |_| false).await
    }

    /// One request, its latency or error noted in the status and its failure logged once.
    async fn ask(
        &self,
        prompt: Prompt<'_>,
        max_tokens: usize,
        stop: &[&str],
        sampler: &SamplerOptions,
        enough: impl Fn(&str) -> bool,
    ) -> Result<String, RemoteError> {
        let started = Instant::now();
        let result = self
            .exchange(prompt, max_tokens, stop, sampler, enough)
            .await;
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => status.succeeded(started.elapsed()),
            Err(e) => {
                tracing::warn!("remote engine: {e}");
                status.failed(e);
            }
        }
        result
    }

    async fn exchange(
        &self,
        prompt: Prompt<'_>,
        max_tokens: usize,
        stop: &[&str],
        sampler: &SamplerOptions,
        enough: impl Fn(&str) -> bool,
    ) -> Result<String, RemoteError> {
        let params = Params {
            model: self.settings.model.as_deref(),
            max_tokens,
            temperature: sampler.temperature,
            top_p: sampler.top_p,
            stop,
        };
        let (path, wire, body) = protocol::request(self.settings.api, prompt, &params);
        self.post(path, wire, &body, enough).await
    }

    /// POSTs `body` to `path` under the endpoint and reads the answer's text by `wire`.
    async fn post(
        &self,
        path: &str,
        wire: Wire,
        body: &serde_json::Value,
        enough: impl Fn(&str) -> bool,
    ) -> Result<String, RemoteError> {
        let endpoint = self
            .settings
            .endpoint
            .as_deref()
            .ok_or(RemoteError::NoEndpoint)?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(RemoteError::BadEndpoint(http::shown_url(endpoint)));
        }
        let exchange = Exchange {
            url: format!("{}/{path}", endpoint.trim_end_matches('/')),
            wire,
            body,
            key: self.key()?,
            timeout: self.settings.timeout,
        };
        let text = exchange.answer(enough).await?;
        tracing::debug!(
            "remote engine: {} bytes from {} ({})",
            text.len(),
            exchange.shown(),
            match wire {
                Wire::Text => "text",
                Wire::Chat => "chat",
                Wire::Llama => "llama.cpp",
            }
        );
        Ok(text)
    }

    /// The key, read from the environment now, so a changed variable needs no restart.
    fn key(&self) -> Result<Option<Key>, RemoteError> {
        let Some(var) = &self.settings.api_key_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(value) if !value.trim().is_empty() => Ok(Some(Key {
                var: var.clone(),
                value: value.trim().to_string(),
            })),
            _ => Err(RemoteError::KeyMissing(var.clone())),
        }
    }
}

/// What a remote engine's answers amount to: the spans' text, one request a span, and none of
/// what only a local model knows (tokens, probabilities, steps, cache).
pub fn output(spans: Vec<String>, elapsed: Duration) -> InfillOutput {
    InfillOutput {
        span_tokens: vec![Vec::new(); spans.len()],
        confidence: Vec::new(),
        steps: spans.len(),
        spans,
        canvas_tokens: 0,
        elapsed,
        trace: Vec::new(),
        reused_tokens: 0,
    }
}

/// The text before and after the next span to fill: the spans before it as `filled`, the
/// spans after it as the text they replace (`replaced`, where given).
fn around_next_span(
    segments: &[Segment],
    filled: &[String],
    replaced: &[String],
) -> (String, String) {
    let next = filled.len();
    let (mut prefix, mut suffix) = (String::new(), String::new());
    let mut span = 0;
    for segment in segments {
        let out = if span <= next {
            &mut prefix
        } else {
            &mut suffix
        };
        match segment {
            Segment::Text(t) => out.push_str(t),
            Segment::Span { .. } => {
                if span < next {
                    out.push_str(&filled[span]);
                } else if span > next {
                    out.push_str(replaced.get(span).map_or("", String::as_str));
                }
                span += 1;
            }
        }
    }
    (prefix, suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_span_sees_the_ones_before_filled_and_the_ones_after_as_they_were() {
        let segments = vec![
            Segment::Text("a ".into()),
            Segment::Span { max_tokens: 4 },
            Segment::Text(" b ".into()),
            Segment::Span { max_tokens: 4 },
            Segment::Text(" c".into()),
        ];
        let replaced = vec!["todo!()".to_string(), "pass".to_string()];
        assert_eq!(
            around_next_span(&segments, &[], &replaced),
            ("a ".to_string(), " b pass c".to_string())
        );
        assert_eq!(
            around_next_span(&segments, &["X".into()], &replaced),
            ("a X b ".to_string(), " c".to_string())
        );
    }

    #[test]
    fn a_refused_key_is_shown_once_until_a_request_succeeds() {
        let refused = RemoteError::AuthRejected {
            url: "u".into(),
            status: 401,
            var: "V".into(),
        };
        let mut s = RemoteStatus::default();
        s.failed(&refused);
        assert!(s.take_message().unwrap().contains("$V"));
        s.failed(&refused);
        assert_eq!(s.take_message(), None, "shown once");
        s.succeeded(Duration::from_millis(5));
        assert_eq!(s.last_error, None);
        s.failed(&refused);
        assert!(s.take_message().is_some(), "shown again after a success");
        s.failed(&RemoteError::NoEndpoint);
        assert_eq!(
            s.take_message(),
            None,
            "only what the user must fix is shown"
        );
        assert!(s.last_error.unwrap().contains("endpoint"));
    }
}

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod edit_tests;
#[cfg(test)]
mod failure_tests;
