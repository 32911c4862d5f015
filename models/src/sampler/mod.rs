//! The reverse (denoising) process in infill mode.
//!
//! A canvas is prefix tokens, masked span(s) and suffix tokens. Each step asks the model about the
//! still-masked positions of the current block, proposes a token for each, and commits the ones the
//! strategy ranks highest: the schedule's quota (remaining / steps left), plus, with a threshold,
//! every position whose token is at least that likely. Only span positions are ever written. A
//! span ends where an end token (EOS / pad) is committed: the rest of it becomes padding, so a
//! 32-token span can come back with 7 tokens.

mod distribution;
mod options;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

pub use distribution::{propose, Proposal};
pub use options::{SamplerOptions, Strategy};

use crate::error::{Error, Result};
use crate::model::TokenPredictor;

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

/// Tokens with the positions to fill. The sampler writes the mask token into every span position.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    pub tokens: Vec<u32>,
    pub spans: Vec<Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Commit {
    pub position: usize,
    pub token: u32,
    pub confidence: f32,
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
    /// Denoising steps run (one model forward each).
    pub steps: usize,
    /// Present when `SamplerOptions::trace` is set.
    pub trace: Vec<StepTrace>,
}

fn validate_canvas(canvas: &Canvas) -> Result<()> {
    let mut spans: Vec<&Range<usize>> = canvas.spans.iter().collect();
    spans.sort_by_key(|r| r.start);
    for (i, span) in spans.iter().enumerate() {
        if span.is_empty() || span.end > canvas.tokens.len() {
            return Err(Error::InvalidRequest(format!(
                "span {span:?} is empty or outside a canvas of {}",
                canvas.tokens.len()
            )));
        }
        if i > 0 && spans[i - 1].end > span.start {
            return Err(Error::InvalidRequest(format!(
                "spans {:?} and {span:?} overlap",
                spans[i - 1]
            )));
        }
    }
    Ok(())
}

/// Splits `total` steps over `blocks` blocks, earlier blocks taking the remainder; at least 1 each.
fn steps_per_block(total: usize, blocks: usize) -> Vec<usize> {
    (0..blocks)
        .map(|b| (total / blocks + usize::from(b < total % blocks)).max(1))
        .collect()
}

/// Runs the reverse process on `canvas`. `observer` sees each step's trace and the canvas after it.
pub fn sample(
    model: &dyn TokenPredictor,
    canvas: Canvas,
    options: &SamplerOptions,
    cancel: &CancelFlag,
    mut observer: Option<StepObserver>,
) -> Result<SampleOutput> {
    options.validate()?;
    validate_canvas(&canvas)?;
    let special = model.special_tokens().clone();
    let Canvas { mut tokens, spans } = canvas;
    // span index of every masked position, in canvas order
    let mut order: Vec<(usize, usize)> = spans
        .iter()
        .enumerate()
        .flat_map(|(s, r)| r.clone().map(move |p| (p, s)))
        .collect();
    order.sort_unstable();
    for &(p, _) in &order {
        tokens[p] = special.mask;
    }
    let block_len = options.block_length.unwrap_or(order.len()).max(1);
    let blocks: Vec<&[(usize, usize)]> = order.chunks(block_len).collect();
    let budget = steps_per_block(options.steps.unwrap_or(order.len()).max(1), blocks.len());
    let mut rng = StdRng::seed_from_u64(options.seed);
    let forbidden = [special.mask];
    let mut trace = Vec::new();
    let mut step = 0;

    for (block, mut steps_left) in blocks.into_iter().zip(budget) {
        loop {
            let active: Vec<(usize, usize)> = block
                .iter()
                .copied()
                .filter(|&(p, _)| tokens[p] == special.mask)
                .collect();
            if active.is_empty() {
                break;
            }
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let positions: Vec<usize> = active.iter().map(|&(p, _)| p).collect();
            let logits = model.predict(&tokens, &positions)?.to_vec2::<f32>()?;
            let proposals: Vec<Proposal> = logits
                .iter()
                .map(|row| {
                    propose(
                        row,
                        &forbidden,
                        options.strategy,
                        options.temperature,
                        options.top_p,
                        &mut rng,
                    )
                })
                .collect();

            let quota = active.len().div_ceil(steps_left.max(1));
            let mut ranked: Vec<usize> = (0..active.len()).collect();
            ranked.sort_by(|&a, &b| proposals[b].confidence.total_cmp(&proposals[a].confidence));
            let mut chosen: Vec<usize> = ranked[..quota].to_vec();
            if let Some(threshold) = options.threshold {
                chosen.extend(
                    ranked[quota..]
                        .iter()
                        .filter(|&&i| proposals[i].probability >= threshold),
                );
            }
            chosen.sort_unstable_by_key(|&i| active[i].0);

            let mut committed = Vec::with_capacity(chosen.len());
            for &i in &chosen {
                let (position, span) = active[i];
                let Proposal {
                    token, confidence, ..
                } = proposals[i];
                tokens[position] = token;
                committed.push(Commit {
                    position,
                    token,
                    confidence,
                });
                if special.is_end(token) {
                    // The span ends here: everything after it inside the span is padding.
                    tokens[position + 1..spans[span].end].fill(special.pad);
                }
            }
            let record = StepTrace {
                step,
                asked: active.len(),
                committed,
            };
            if let Some(obs) = observer.as_mut() {
                obs(&record, &tokens);
            }
            if options.trace {
                trace.push(record);
            }
            step += 1;
            steps_left = steps_left.saturating_sub(1);
        }
    }

    let span_tokens = spans
        .iter()
        .map(|r| {
            tokens[r.clone()]
                .iter()
                .copied()
                .take_while(|&t| !special.is_end(t))
                .collect()
        })
        .collect();
    Ok(SampleOutput {
        tokens,
        spans: span_tokens,
        steps: step,
        trace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_split_evenly_with_remainder_first() {
        assert_eq!(steps_per_block(10, 3), vec![4, 3, 3]);
        assert_eq!(steps_per_block(2, 4), vec![1, 1, 1, 1]);
    }
}
