//! The seam between the request path and what infills: the local diffusion model on its own
//! thread ([`Engine`]) or a remote engine over HTTP ([`RemoteEngine`]). The pipeline asks an
//! [`Infiller`] for spans and instructed answers, and reads what it can do from it (tie spans,
//! how to repair), never which one it is.

use std::future::Future;
use std::time::Duration;

use dllm_models::{CancelFlag, ChatMessage, InfillOutput, InfillRequest, SamplerOptions, Segment};

use crate::engine::{Engine, EngineError};
use crate::remote::{RemoteEngine, RemoteError};

/// What infills a request.
#[derive(Clone)]
pub enum Infiller {
    Local(Engine),
    Remote(RemoteEngine),
}

/// Where an engine that writes left to right should stop. The local model fills a span of a
/// fixed budget and ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the end of the line: the rest of a line.
    Line,
    /// At the engine's end of the middle (or the budget): a block.
    Block,
    /// At the first blank line: a block asked again after an answer that did not parse.
    Tight,
}

/// One infill: the request's spans, the text each span replaces (for engines that see the
/// other spans as they were), the sampler settings and where to stop.
#[derive(Debug, Clone)]
pub struct Ask {
    pub request: InfillRequest,
    pub replaced: Vec<String>,
    pub sampler: SamplerOptions,
    pub stop: Stop,
}

/// How an answer that adds syntax errors is repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Mask the lines with errors again and denoise them with the rest as context.
    Remask,
    /// Ask once more with a tighter stop.
    AskAgainTighter,
}

/// How often a remote request looks at its cancel flag; dropping the request closes its
/// connection.
const CANCEL_POLL: Duration = Duration::from_millis(5);

impl Infiller {
    /// The local model that requests wait for while it loads; `None` for a remote engine,
    /// which is always there to ask.
    pub fn loading_engine(&self) -> Option<&Engine> {
        match self {
            Infiller::Local(engine) => Some(engine),
            Infiller::Remote(_) => None,
        }
    }

    /// How many tokens the local model makes of `text`, to size a span that must hold it;
    /// `None` for a remote engine (or a model not loaded).
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        match self {
            Infiller::Local(engine) => engine.count_tokens(text),
            Infiller::Remote(_) => None,
        }
    }

    /// How likely the local model finds `text` in span `span` of `request` (every span masked
    /// and as long as `text`): each of its tokens' probability. `None` from a remote engine,
    /// which reports no probabilities.
    pub async fn fill_probabilities(
        &self,
        request: InfillRequest,
        span: usize,
        text: &str,
        cancel: &CancelFlag,
    ) -> Result<Option<Vec<f32>>, EngineError> {
        match self {
            Infiller::Local(engine) => engine
                .fill_probabilities(request, span, text.to_string(), cancel.clone())
                .await
                .map(Some),
            Infiller::Remote(_) => Ok(None),
        }
    }

    /// Whether several spans can be tied to one text (a rename): only a model that fills them
    /// together can.
    pub fn ties_spans(&self) -> bool {
        matches!(self, Infiller::Local(_))
    }

    pub fn repair(&self) -> Repair {
        match self {
            Infiller::Local(_) => Repair::Remask,
            Infiller::Remote(_) => Repair::AskAgainTighter,
        }
    }

    /// The text of each span of `ask.request`. `document` names the document for the local
    /// model's KV cache.
    pub async fn infill(
        &self,
        ask: Ask,
        cancel: &CancelFlag,
        document: Option<String>,
    ) -> Result<InfillOutput, EngineError> {
        match self {
            Infiller::Local(engine) => {
                engine
                    .infill_in(ask.request, ask.sampler, cancel.clone(), document)
                    .await
            }
            Infiller::Remote(remote) => until_cancelled(cancel, remote.infill(&ask)).await,
        }
    }

    /// The answer to an instruction in `spans[0]`. [`EngineError::NoInstructions`] says why
    /// the engine cannot follow one (a checkpoint without a chat template).
    pub async fn instruct(
        &self,
        message: &str,
        max_tokens: usize,
        context_tokens: usize,
        sampler: SamplerOptions,
        cancel: &CancelFlag,
        document: Option<String>,
    ) -> Result<InfillOutput, EngineError> {
        match self {
            Infiller::Local(engine) => {
                let request = chat_request(engine, message, max_tokens, context_tokens)?;
                engine
                    .infill_in(request, sampler, cancel.clone(), document)
                    .await
            }
            Infiller::Remote(remote) => {
                let started = std::time::Instant::now();
                let answer = remote.instruct(message, max_tokens, &sampler);
                let answer = until_cancelled(cancel, answer).await?;
                Ok(InfillOutput {
                    spans: vec![answer],
                    span_tokens: vec![Vec::new()],
                    steps: 1,
                    // A remote engine reports no token probabilities.
                    confidence: Vec::new(),
                    canvas_tokens: 0,
                    elapsed: started.elapsed(),
                    trace: Vec::new(),
                    reused_tokens: 0,
                })
            }
        }
    }
}

/// The local model's request for an instruction: the checkpoint's chat template rendered,
/// then the answer's span.
fn chat_request(
    engine: &Engine,
    message: &str,
    max_tokens: usize,
    context_tokens: usize,
) -> Result<InfillRequest, EngineError> {
    let Some(template) = engine.chat_template() else {
        return Err(EngineError::NoInstructions(
            "this model does not follow instructions; the instruction was ignored".into(),
        ));
    };
    let prompt = template
        .render(&[ChatMessage::user(message)])
        .map_err(|e| {
            EngineError::NoInstructions(format!(
                "the checkpoint's chat template failed ({e}); the instruction was ignored"
            ))
        })?;
    Ok(InfillRequest {
        segments: vec![Segment::Text(prompt), Segment::Span { max_tokens }],
        max_context_tokens: Some(context_tokens * 2 + max_tokens),
        ties: vec![],
    })
}

/// Runs `work` until it ends or `cancel` is set, whichever comes first; on cancellation the
/// work (and its HTTP request) is dropped at once.
pub(crate) async fn until_cancelled<T>(
    cancel: &CancelFlag,
    work: impl Future<Output = Result<T, RemoteError>>,
) -> Result<T, EngineError> {
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    tokio::select! {
        result = work => result.map_err(EngineError::Remote),
        () = cancelled(cancel) => Err(EngineError::Cancelled),
    }
}

async fn cancelled(cancel: &CancelFlag) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}
