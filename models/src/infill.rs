//! Text in, text out: turns text segments and spans into a canvas, runs the sampler, and decodes
//! each span. Context that does not fit is cut from the far ends (start of the text before the
//! first span, end of the text after the last), never from between spans.

use std::time::{Duration, Instant};

use candle_core::DType;

use crate::error::{Error, Result};
use crate::model::{DiffusionModel, TokenPredictor};
use crate::sampler::{
    sample_with_cache, CancelFlag, Canvas, SamplerOptions, SpanConfidence, StepObserver, StepTrace,
};
use crate::transformer::KvCache;

/// The last request's canvas (spans masked) and its keys and values, kept per document so the
/// next request, a keystroke later, recomputes only what changed (see
/// [`Transformer::reuse_and_refresh`](crate::Transformer::reuse_and_refresh)). Not `Clone`,
/// like the [`KvCache`] it holds.
#[derive(Debug)]
pub struct CanvasCache {
    tokens: Vec<u32>,
    kv: KvCache,
}

impl CanvasCache {
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Text(String),
    /// A hole of at most this many tokens (fewer come back when the model ends it early).
    Span {
        max_tokens: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InfillRequest {
    pub segments: Vec<Segment>,
    /// Upper bound on the canvas, in tokens; the model's own limit applies too.
    pub max_context_tokens: Option<usize>,
    /// Groups of span indices (in request order, equal `max_tokens`) that must be filled with
    /// the same text, e.g. every occurrence of a renamed identifier.
    pub ties: Vec<Vec<usize>>,
}

impl InfillRequest {
    /// The common case: one hole between a prefix and a suffix.
    pub fn single(prefix: &str, max_tokens: usize, suffix: &str) -> Self {
        InfillRequest {
            segments: vec![
                Segment::Text(prefix.to_string()),
                Segment::Span { max_tokens },
                Segment::Text(suffix.to_string()),
            ],
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InfillOutput {
    /// The text of each span, in request order.
    pub spans: Vec<String>,
    pub span_tokens: Vec<Vec<u32>>,
    /// How sure the model was of each span's tokens, in request order; empty where the
    /// infiller knows no token probabilities (a remote engine).
    pub confidence: Vec<SpanConfidence>,
    pub steps: usize,
    /// Tokens on the canvas (context + spans).
    pub canvas_tokens: usize,
    pub elapsed: Duration,
    pub trace: Vec<StepTrace>,
    /// Canvas columns whose keys and values came from the previous request's cache (0: cold).
    pub reused_tokens: usize,
}

enum Piece {
    Text(Vec<u32>),
    Span(usize),
}

impl DiffusionModel {
    pub fn infill(
        &self,
        request: &InfillRequest,
        options: &SamplerOptions,
        cancel: &CancelFlag,
    ) -> Result<InfillOutput> {
        self.infill_observed(request, options, cancel, None)
    }

    /// Like [`infill`](Self::infill), calling `observer` after every step with its trace and the
    /// canvas (for streaming previews).
    pub fn infill_observed(
        &self,
        request: &InfillRequest,
        options: &SamplerOptions,
        cancel: &CancelFlag,
        observer: Option<StepObserver>,
    ) -> Result<InfillOutput> {
        self.infill_reusing(request, options, cancel, observer, &mut None)
    }

    /// [`infill_observed`](Self::infill_observed) that, with `options.kv_cache`, starts from
    /// `reuse` (the previous request's cache in the same document) where the canvases agree,
    /// and leaves this request's cache there for the next one.
    pub fn infill_reusing(
        &self,
        request: &InfillRequest,
        options: &SamplerOptions,
        cancel: &CancelFlag,
        observer: Option<StepObserver>,
        reuse: &mut Option<CanvasCache>,
    ) -> Result<InfillOutput> {
        let start = Instant::now();
        let canvas = self.canvas_for(request)?;
        let canvas_tokens = canvas.tokens.len();
        let (initial, reused_tokens) = match reuse.take() {
            Some(old) if options.kv_cache => self.reused_cache(&old, &canvas)?,
            _ => (None, 0),
        };
        let initial_tokens = canvas.tokens.clone();
        let (out, cache) = sample_with_cache(self, canvas, options, cancel, observer, initial)?;
        *reuse = cache.map(|kv| CanvasCache {
            tokens: initial_tokens,
            kv,
        });
        let spans = out
            .spans
            .iter()
            .map(|t| self.tokenizer().decode(t))
            .collect::<Result<_>>()?;
        let confidence = out
            .spans
            .iter()
            .zip(out.probabilities)
            .map(|(tokens, probabilities)| {
                Ok(SpanConfidence {
                    probabilities,
                    line_breaks: self.line_breaks(tokens)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(InfillOutput {
            spans,
            span_tokens: out.spans,
            confidence,
            steps: out.steps,
            canvas_tokens,
            elapsed: start.elapsed(),
            trace: out.trace,
            reused_tokens,
        })
    }

    /// How likely the model finds `text` in span `span` of `request`, every span masked: the
    /// probability of each of `text`'s tokens at its position, all predicted in one full pass
    /// (each token's confidence given the unmasked rest). The span must be exactly as many
    /// tokens long as `text`. What the sampler would weigh before committing anything, so two
    /// spellings of one hole can be compared without writing either.
    pub fn fill_probabilities(
        &self,
        request: &InfillRequest,
        span: usize,
        text: &str,
    ) -> Result<Vec<f32>> {
        let tokens = self.tokenizer().encode(text)?;
        let canvas = self.canvas_for(request)?;
        let Some(range) = canvas.spans.get(span) else {
            return Err(Error::InvalidRequest(format!(
                "span {span} of a request with {} spans",
                canvas.spans.len()
            )));
        };
        if range.len() != tokens.len() {
            return Err(Error::InvalidRequest(format!(
                "span {span} has {} tokens, the text to score {}",
                range.len(),
                tokens.len()
            )));
        }
        let positions: Vec<usize> = range.clone().collect();
        let logits = self.predict(&canvas.tokens, &positions)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits.to_dtype(DType::F32)?)?;
        let rows = probabilities.to_vec2::<f32>()?;
        Ok(tokens
            .iter()
            .zip(rows)
            .map(|(&t, row)| row.get(t as usize).copied().unwrap_or(0.0))
            .collect())
    }

    /// Whether each token's text holds a line break (decoded on its own: a line break is a
    /// whole character in every tokenizer the engine loads, so no token splits one).
    fn line_breaks(&self, tokens: &[u32]) -> Result<Vec<bool>> {
        tokens
            .iter()
            .map(|&t| Ok(self.tokenizer().decode(&[t])?.contains(['\n', '\r'])))
            .collect()
    }

    /// The request's canvas: its text tokenized and fitted to the context, its spans masked.
    fn canvas_for(&self, request: &InfillRequest) -> Result<Canvas> {
        let mut pieces = self.pieces(request)?;
        let special = self.special_tokens();
        let bos = special.bos.filter(|_| special.add_bos);
        let limit = request
            .max_context_tokens
            .unwrap_or(usize::MAX)
            .min(self.config().max_positions);
        fit_context(
            &mut pieces,
            limit.saturating_sub(usize::from(bos.is_some())),
        )?;
        let mut tokens: Vec<u32> = bos.into_iter().collect();
        let mut spans = Vec::new();
        for piece in &pieces {
            match piece {
                Piece::Text(t) => tokens.extend(t),
                Piece::Span(n) => {
                    spans.push(tokens.len()..tokens.len() + n);
                    tokens.extend(std::iter::repeat_n(special.mask, *n));
                }
            }
        }
        Ok(Canvas {
            tokens,
            spans,
            ties: request.ties.clone(),
        })
    }

    /// The request's segments, text tokenized; at least one span, none empty.
    fn pieces(&self, request: &InfillRequest) -> Result<Vec<Piece>> {
        let mut pieces = Vec::with_capacity(request.segments.len());
        for segment in &request.segments {
            pieces.push(match segment {
                Segment::Text(t) => Piece::Text(self.tokenizer().encode(t)?),
                Segment::Span { max_tokens: 0 } => {
                    return Err(Error::InvalidRequest(
                        "a span needs at least one token".into(),
                    ))
                }
                Segment::Span { max_tokens } => Piece::Span(*max_tokens),
            });
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Span(_))) {
            return Err(Error::InvalidRequest(
                "nothing to fill: the request has no span".into(),
            ));
        }
        Ok(pieces)
    }

    /// The keys and values of `canvas` made from the last request's cache, and how many
    /// columns were reused (none when the canvases share too little).
    fn reused_cache(&self, old: &CanvasCache, canvas: &Canvas) -> Result<(Option<KvCache>, usize)> {
        let reused = self.transformer().reuse_and_refresh(
            &old.kv,
            &old.tokens,
            &canvas.tokens,
            &canvas.spans,
        )?;
        Ok(match reused {
            Some((kv, reused)) => (Some(kv), reused),
            None => (None, 0),
        })
    }
}

/// Trims the outer text so everything fits in `limit` tokens, keeping as much on each side of the
/// holes as possible: each side gets half of what is left, and a side that needs less gives the
/// rest to the other.
fn fit_context(pieces: &mut [Piece], limit: usize) -> Result<()> {
    let len = |p: &Piece| match p {
        Piece::Text(t) => t.len(),
        Piece::Span(n) => *n,
    };
    let total: usize = pieces.iter().map(len).sum();
    if total <= limit {
        return Ok(());
    }
    let first_span = pieces
        .iter()
        .position(|p| matches!(p, Piece::Span(_)))
        .unwrap_or(0);
    let last_span = pieces
        .iter()
        .rposition(|p| matches!(p, Piece::Span(_)))
        .unwrap_or(0);
    let before: usize = pieces[..first_span].iter().map(len).sum();
    let after: usize = pieces[last_span + 1..].iter().map(len).sum();
    let inner = total - before - after;
    if inner > limit {
        return Err(Error::InvalidRequest(format!(
            "the spans and the text between them need {inner} tokens, more than the {limit} the context allows"
        )));
    }
    let room = limit - inner;
    let keep_before = before.min(room.saturating_sub(after.min(room / 2)));
    let keep_after = after.min(room - keep_before);
    trim(&mut pieces[..first_span], before - keep_before, Side::Front);
    trim(&mut pieces[last_span + 1..], after - keep_after, Side::Back);
    Ok(())
}

/// Which end of a run of text pieces to cut.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Front,
    Back,
}

/// Drops `n` tokens from one end of a run of text pieces.
fn trim(pieces: &mut [Piece], mut n: usize, side: Side) {
    let mut cut = |p: &mut Piece| {
        if let Piece::Text(t) = p {
            let k = n.min(t.len());
            if side == Side::Front {
                t.drain(..k);
            } else {
                t.truncate(t.len() - k);
            }
            n -= k;
        }
    };
    if side == Side::Front {
        pieces.iter_mut().for_each(&mut cut);
    } else {
        pieces.iter_mut().rev().for_each(&mut cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(pieces: &[Piece]) -> Vec<usize> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Span(n) => *n,
            })
            .collect()
    }

    #[test]
    fn context_is_cut_from_the_far_ends_evenly() {
        let mut p = vec![
            Piece::Text(vec![1; 100]),
            Piece::Span(10),
            Piece::Text(vec![2; 100]),
        ];
        fit_context(&mut p, 50).unwrap();
        assert_eq!(lens(&p), vec![20, 10, 20]);
        if let Piece::Text(t) = &p[0] {
            assert!(t.iter().all(|&x| x == 1));
        }
    }

    #[test]
    fn a_short_side_gives_its_room_to_the_other() {
        let mut p = vec![
            Piece::Text(vec![1; 100]),
            Piece::Span(10),
            Piece::Text(vec![2; 5]),
        ];
        fit_context(&mut p, 50).unwrap();
        assert_eq!(lens(&p), vec![35, 10, 5]);
    }

    #[test]
    fn spans_that_cannot_fit_are_an_error() {
        let mut p = vec![Piece::Span(10), Piece::Text(vec![1; 50]), Piece::Span(10)];
        assert!(fit_context(&mut p, 40).is_err());
    }
}
