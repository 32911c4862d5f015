//! The reverse (denoising) process in infill mode.
//!
//! A canvas is prefix tokens, masked span(s) and suffix tokens. Each step asks the model about the
//! still-masked positions of the current block, proposes a token for each, and commits the ones the
//! strategy ranks highest: the schedule's quota (remaining / steps left), plus, with a threshold,
//! every position whose token is at least that likely (and, with `stable_threshold`, every one
//! whose token is that likely and was proposed there in the step before). Only span positions are ever written. A
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
use crate::transformer::KvCache;

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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Canvas {
    pub tokens: Vec<u32>,
    pub spans: Vec<Range<usize>>,
    /// Groups of span indices (equal lengths) that must come out identical, e.g. every
    /// occurrence of a renamed identifier: their predictions are combined (summed
    /// log-probabilities) and each committed token is written to all of them.
    pub ties: Vec<Vec<usize>>,
}

impl Canvas {
    pub fn new(tokens: Vec<u32>, spans: Vec<Range<usize>>) -> Self {
        Canvas {
            tokens,
            spans,
            ties: Vec::new(),
        }
    }
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
    let mut seen = vec![false; canvas.spans.len()];
    for group in &canvas.ties {
        for &s in group {
            if s >= canvas.spans.len() || std::mem::replace(&mut seen[s], true) {
                return Err(Error::InvalidRequest(format!(
                    "tie group {group:?} names a span that does not exist or is tied twice"
                )));
            }
            if canvas.spans[s].len() != canvas.spans[group[0]].len() {
                return Err(Error::InvalidRequest(format!(
                    "tied spans must have the same length: {group:?}"
                )));
            }
        }
    }
    Ok(())
}

/// For every span, the spans that copy it (its followers in a tie group; empty if untied or a
/// follower itself), and whether it is a follower.
fn tie_followers(canvas: &Canvas) -> (Vec<Vec<usize>>, Vec<bool>) {
    let mut followers = vec![Vec::new(); canvas.spans.len()];
    let mut is_follower = vec![false; canvas.spans.len()];
    for group in canvas.ties.iter().filter(|g| !g.is_empty()) {
        followers[group[0]] = group[1..].to_vec();
        for &f in &group[1..] {
            is_follower[f] = true;
        }
    }
    (followers, is_follower)
}

/// log-softmax of a row, for combining tied positions.
fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    row.iter().map(|x| x - lse).collect()
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
    mut observer: Option<StepObserver>,
    mut initial: Option<KvCache>,
) -> Result<(SampleOutput, Option<KvCache>)> {
    options.validate()?;
    validate_canvas(&canvas)?;
    let special = model.special_tokens().clone();
    let (followers, is_follower) = tie_followers(&canvas);
    let Canvas {
        mut tokens, spans, ..
    } = canvas;
    for r in &spans {
        tokens[r.clone()].fill(special.mask);
    }
    // (position, span) of every masked position the sampler decides, in canvas order; positions
    // of tied followers are decided with their leader.
    let mut order: Vec<(usize, usize)> = spans
        .iter()
        .enumerate()
        .filter(|&(s, _)| !is_follower[s])
        .flat_map(|(s, r)| r.clone().map(move |p| (p, s)))
        .collect();
    order.sort_unstable();
    // every position that receives the token decided at (position, span), leader first
    let group_of = |p: usize, s: usize| -> Vec<(usize, usize)> {
        let i = p - spans[s].start;
        std::iter::once((p, s))
            .chain(followers[s].iter().map(|&f| (spans[f].start + i, f)))
            .collect()
    };
    let block_len = options.block_length.unwrap_or(order.len()).max(1);
    let blocks: Vec<&[(usize, usize)]> = order.chunks(block_len).collect();
    let budget = steps_per_block(options.steps.unwrap_or(order.len()).max(1), blocks.len());
    let mut rng = StdRng::seed_from_u64(options.seed);
    let forbidden = [special.mask];
    let not_end: Vec<u32> = forbidden.iter().chain(&special.end).copied().collect();
    let mut trace = Vec::new();
    let mut step = 0;
    let mut first_cache: Option<KvCache> = None;
    // The columns a partial refresh recomputes (see `refresh_radius`): every span and its
    // neighbourhood.
    let near: Vec<usize> = match options.refresh_radius {
        Some(r) => {
            let mut near: Vec<usize> = spans
                .iter()
                .flat_map(|s| s.start.saturating_sub(r)..(s.end + r).min(tokens.len()))
                .collect();
            near.sort_unstable();
            near.dedup();
            near
        }
        None => Vec::new(),
    };
    // Kept across blocks only when refreshes are partial.
    let mut carried: Option<KvCache> = None;
    // The token each position was proposed in the step before (for `stable_threshold`).
    let mut previous: Vec<Option<u32>> = vec![None; tokens.len()];

    for (block, mut steps_left) in blocks.into_iter().zip(budget) {
        // With the cache, each step recomputes the block's columns (tied copies included) or,
        // with `cache_masked_only`, its still-masked ones and those the step before wrote; the
        // cache of everything else is made afresh when the block starts.
        let window: Vec<usize> = if options.kv_cache && !options.cache_masked_only {
            let mut w: Vec<usize> = block
                .iter()
                .flat_map(|&(p, s)| group_of(p, s))
                .map(|(p, _)| p)
                .collect();
            w.sort_unstable();
            w
        } else {
            Vec::new()
        };
        let partial = options.refresh_radius.is_some();
        // A block after the first starts with a refresh: a full pass, or a partial one over the
        // carried cache.
        let mut refresh_due = partial && carried.is_some();
        let mut cache: Option<KvCache> = initial.take().or_else(|| carried.take());
        let mut since_refresh = 0;
        // Positions written by the last step (their keys and values are computed once more).
        let mut recent: Vec<usize> = Vec::new();
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
            let groups: Vec<Vec<(usize, usize)>> =
                active.iter().map(|&(p, s)| group_of(p, s)).collect();
            let positions: Vec<usize> = groups.iter().flatten().map(|&(p, _)| p).collect();
            let logits = if options.kv_cache {
                if options.cache_refresh.is_some_and(|k| since_refresh >= k) {
                    if partial {
                        refresh_due = true;
                    } else {
                        cache = None;
                    }
                    since_refresh = 0;
                }
                since_refresh += 1;
                let logits = if options.cache_masked_only || refresh_due {
                    let mut w: Vec<usize> = positions.iter().chain(&recent).copied().collect();
                    if std::mem::take(&mut refresh_due) {
                        w.extend(&near);
                    }
                    w.sort_unstable();
                    w.dedup();
                    model.predict_cached(&tokens, &positions, &w, &mut cache)?
                } else {
                    model.predict_cached(&tokens, &positions, &window, &mut cache)?
                };
                if first_cache.is_none() {
                    // A copy: later steps overwrite the cache in place.
                    first_cache = cache.as_ref().map(KvCache::duplicate).transpose()?;
                }
                logits
            } else {
                model.predict(&tokens, &positions)?
            };
            let mut rows = logits.to_vec2::<f32>()?.into_iter();
            let combined: Vec<Vec<f32>> = groups
                .iter()
                .map(|g| {
                    let first = rows.next().unwrap_or_default();
                    if g.len() == 1 {
                        return first;
                    }
                    let mut sum = log_softmax(&first);
                    for row in rows.by_ref().take(g.len() - 1) {
                        sum.iter_mut()
                            .zip(log_softmax(&row))
                            .for_each(|(a, b)| *a += b);
                    }
                    sum
                })
                .collect();
            let proposals: Vec<Proposal> = combined
                .iter()
                .map(|row| {
                    let proposal = propose(
                        row,
                        &forbidden,
                        options.strategy,
                        options.temperature,
                        options.top_p,
                        &mut rng,
                    );
                    if special.is_end(proposal.token)
                        && proposal.probability < options.end_min_probability
                    {
                        // Not likely enough that the span ends here: the best continuation.
                        propose(
                            row,
                            &not_end,
                            options.strategy,
                            options.temperature,
                            options.top_p,
                            &mut rng,
                        )
                    } else {
                        proposal
                    }
                })
                .collect();

            // An end token with undecided positions before it waits (see `end_left_to_right`).
            // The leftmost masked position of a span is always eligible, so some are.
            let eligible: Vec<bool> = active
                .iter()
                .zip(&proposals)
                .map(|(&(p, s), prop)| {
                    !(options.end_left_to_right
                        && special.is_end(prop.token)
                        && tokens[spans[s].start..p].contains(&special.mask))
                })
                .collect();
            let n_eligible = eligible.iter().filter(|&&e| e).count();
            let quota = active.len().div_ceil(steps_left.max(1)).min(n_eligible);
            let mut ranked: Vec<usize> = (0..active.len()).filter(|&i| eligible[i]).collect();
            ranked.sort_by(|&a, &b| proposals[b].confidence.total_cmp(&proposals[a].confidence));
            let mut chosen: Vec<usize> = ranked[..quota].to_vec();
            let confident = |i: usize| {
                let p = &proposals[i];
                options.threshold.is_some_and(|t| p.probability >= t)
                    || options.stable_threshold.is_some_and(|t| {
                        p.probability >= t && previous[active[i].0] == Some(p.token)
                    })
            };
            // `ranked` is by confidence, so the cap keeps the most confident extras.
            let room = options
                .max_per_step
                .map_or(usize::MAX, |cap| cap.saturating_sub(quota));
            chosen.extend(ranked[quota..].iter().filter(|&&i| confident(i)).take(room));
            chosen.sort_unstable_by_key(|&i| active[i].0);
            for (&(p, _), prop) in active.iter().zip(&proposals) {
                previous[p] = Some(prop.token);
            }

            let mut committed = Vec::with_capacity(chosen.len());
            recent.clear();
            for &i in &chosen {
                let Proposal {
                    token, confidence, ..
                } = proposals[i];
                for &(position, span) in &groups[i] {
                    tokens[position] = token;
                    committed.push(Commit {
                        position,
                        token,
                        confidence,
                    });
                    recent.push(position);
                    if special.is_end(token) {
                        // The span ends here: everything after it inside the span is padding.
                        let rest = position + 1..spans[span].end;
                        recent.extend(rest.clone().filter(|&p| tokens[p] == special.mask));
                        tokens[rest].fill(special.pad);
                    }
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
        if partial {
            carried = cache;
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
    Ok((
        SampleOutput {
            tokens,
            spans: span_tokens,
            steps: step,
            trace,
        },
        first_cache,
    ))
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
