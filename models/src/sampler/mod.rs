//! The reverse (denoising) process in infill mode.
//!
//! A canvas is prefix tokens, masked span(s) and suffix tokens. Each step asks the model about
//! the still-masked positions of the current block, proposes a token for each, and commits the
//! ones the strategy ranks highest: the schedule's quota (remaining / steps left), plus, with a
//! threshold, every position whose token is at least that likely (and, with
//! `stable_threshold`, every one whose token is that likely and was proposed there in the step
//! before). Only span positions are ever written. A span ends where an end token (EOS / pad) is
//! committed: the rest of it becomes padding, so a 32-token span can come back with 7 tokens.

mod block_cache;
mod canvas;
mod confidence;
mod distribution;
mod options;
mod plan;
mod run;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

pub use canvas::Canvas;
pub use confidence::{ScoreKind, Scores, SpanConfidence};
pub use distribution::{propose, Proposal};
pub use options::{SamplerOptions, Strategy};

use crate::error::Result;
use crate::model::TokenPredictor;
use crate::transformer::KvCache;
use run::Sampling;

/// Called after every step with its trace and the canvas after it (for streaming previews).
pub type StepObserver<'a> = &'a mut dyn FnMut(&StepTrace, &[u32]);

/// A cheap, cloneable flag checked between denoising steps.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Commit {
    pub position: usize,
    pub token: u32,
    /// What the strategy ranked the position by.
    pub confidence: f32,
    /// The model's probability of the token (temperature 1, the mask left out).
    pub probability: f32,
}

/// What one step committed; enough to stream a preview or debug a schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTrace {
    pub step: usize,
    /// Masked positions the model was asked about in this step.
    pub asked: usize,
    pub committed: Vec<Commit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutput {
    /// The final canvas (span positions after an end token hold the pad token).
    pub tokens: Vec<u32>,
    /// Each span's tokens up to (not including) its first end token.
    pub spans: Vec<Vec<u32>>,
    /// For each span, the model's probability of each of those tokens, and of its end token.
    pub probabilities: Vec<SpanProbabilities>,
    /// Denoising steps run (one model forward each).
    pub steps: usize,
    /// Present when `SamplerOptions::trace` is set.
    pub trace: Vec<StepTrace>,
}

/// How likely the model found one span's tokens when the sampler committed them: what a
/// suggestion's confidence is computed from (see [`SpanConfidence`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanProbabilities {
    /// One per token of the span, up to (not including) its end token.
    pub tokens: Vec<f32>,
    /// The end token's, where one ended the span; `None` when the span ran to its budget.
    pub end: Option<f32>,
}

/// Runs the reverse process on `canvas`. `observer` sees each step's trace and the canvas after it.
pub fn sample(
    model: &dyn TokenPredictor,
    canvas: Canvas,
    options: &SamplerOptions,
    cancel: &CancelFlag,
    observer: Option<StepObserver>,
) -> Result<SampleOutput> {
    sample_with_cache(model, canvas, options, cancel, observer, None).map(|(out, _)| out)
}

/// [`sample`] with `options.kv_cache`: `initial` (keys and values for the canvas as given, e.g.
/// reused from the last request) spares the first full pass. Also returns the cache of the
/// canvas as given (spans masked), for the next request to reuse.
pub fn sample_with_cache(
    model: &dyn TokenPredictor,
    canvas: Canvas,
    options: &SamplerOptions,
    cancel: &CancelFlag,
    observer: Option<StepObserver>,
    initial: Option<KvCache>,
) -> Result<(SampleOutput, Option<KvCache>)> {
    options.validate()?;
    canvas.validate()?;
    Sampling::new(model, canvas, options, cancel, observer).run(initial)
}
