//! One run of the reverse process: the state that lives across its steps and blocks, and the
//! step itself (ask the model, propose a token per position, choose which to commit, commit).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::block_cache::{BlockCache, Inherited};
use super::canvas::Canvas;
use super::distribution::{log_softmax, model_probability, propose, Proposal};
use super::options::SamplerOptions;
use super::plan::{Plan, Slot};
use super::{CancelFlag, Commit, SampleOutput, SpanProbabilities, StepObserver, StepTrace};
use crate::error::{Error, Result};
use crate::model::TokenPredictor;
use crate::tokenizer::SpecialTokens;
use crate::transformer::KvCache;

pub(super) struct Sampling<'a, 'o> {
    model: &'a dyn TokenPredictor,
    options: &'a SamplerOptions,
    cancel: &'a CancelFlag,
    observer: Option<StepObserver<'o>>,
    special: SpecialTokens,
    plan: Plan,
    tokens: Vec<u32>,
    rng: StdRng,
    trace: Vec<StepTrace>,
    step: usize,
    /// Keys and values of the canvas as given (spans masked), for the next request to reuse.
    first_cache: Option<KvCache>,
    /// Kept across blocks only when refreshes are partial.
    carried: Option<KvCache>,
    /// The token each position was proposed in the step before (for `stable_threshold`).
    previous: Vec<Option<u32>>,
    /// The model's probability of each committed token, where it was committed (0 elsewhere).
    probabilities: Vec<f32>,
}

/// The positions one step asks about: each undecided slot with every position its token goes to.
struct Asked {
    slots: Vec<Slot>,
    groups: Vec<Vec<Slot>>,
}

impl<'a, 'o> Sampling<'a, 'o> {
    /// A run over a validated `canvas`, its spans masked.
    pub fn new(
        model: &'a dyn TokenPredictor,
        canvas: Canvas,
        options: &'a SamplerOptions,
        cancel: &'a CancelFlag,
        observer: Option<StepObserver<'o>>,
    ) -> Self {
        let special = model.special_tokens().clone();
        let plan = Plan::new(&canvas, options);
        let mut tokens = canvas.tokens;
        for r in &plan.spans {
            tokens[r.clone()].fill(special.mask);
        }
        Sampling {
            model,
            options,
            cancel,
            observer,
            special,
            plan,
            previous: vec![None; tokens.len()],
            probabilities: vec![0.0; tokens.len()],
            tokens,
            rng: StdRng::seed_from_u64(options.seed),
            trace: Vec::new(),
            step: 0,
            first_cache: None,
            carried: None,
        }
    }

    /// Runs every block; `initial` (keys and values of the canvas as given) spares the first
    /// full pass.
    pub fn run(mut self, mut initial: Option<KvCache>) -> Result<(SampleOutput, Option<KvCache>)> {
        for (block, steps) in self.plan.blocks(self.options) {
            self.run_block(&block, steps, &mut initial)?;
        }
        Ok(self.finish())
    }

    fn run_block(
        &mut self,
        block: &[Slot],
        mut steps_left: usize,
        initial: &mut Option<KvCache>,
    ) -> Result<()> {
        // A block after the first starts with a refresh: a full pass, or a partial one over the
        // carried cache (kept only when refreshes are partial).
        let inherited = match (initial.take(), self.carried.take()) {
            (Some(kv), _) => Inherited::Given(kv),
            (None, Some(kv)) => Inherited::Carried(kv),
            (None, None) => Inherited::Nothing,
        };
        let mut cache = BlockCache::start(&self.plan, block, self.options, inherited);
        loop {
            let asked = self.asked_in(block);
            if asked.slots.is_empty() {
                break;
            }
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            self.step(&asked, steps_left, &mut cache)?;
            steps_left = steps_left.saturating_sub(1);
        }
        if self.options.refresh_radius.is_some() {
            self.carried = cache.kv;
        }
        Ok(())
    }

    /// The still-masked slots of `block`.
    fn asked_in(&self, block: &[Slot]) -> Asked {
        let slots: Vec<Slot> = block
            .iter()
            .copied()
            .filter(|&(p, _)| self.tokens[p] == self.special.mask)
            .collect();
        let groups = slots.iter().map(|&slot| self.plan.group_of(slot)).collect();
        Asked { slots, groups }
    }

    fn step(&mut self, asked: &Asked, steps_left: usize, cache: &mut BlockCache) -> Result<()> {
        let positions: Vec<usize> = asked.groups.iter().flatten().map(|&(p, _)| p).collect();
        let rows = combine_ties(self.predict(&positions, cache)?, &asked.groups);
        let proposals: Vec<Proposal> = rows.iter().map(|row| self.propose(row)).collect();
        let chosen = self.choose(&asked.slots, &proposals, steps_left);
        for (&(p, _), prop) in asked.slots.iter().zip(&proposals) {
            self.previous[p] = Some(prop.token);
        }
        let mask = [self.special.mask];
        let probabilities: Vec<f32> = chosen
            .iter()
            .map(|&i| model_probability(&rows[i], proposals[i].token, &mask))
            .collect();
        let committed = self.commit(
            &chosen,
            &proposals,
            &probabilities,
            &asked.groups,
            &mut cache.recent,
        );
        self.record(asked.slots.len(), committed);
        Ok(())
    }

    /// Logit rows for `positions`, through the cache when the options ask for one.
    fn predict(&mut self, positions: &[usize], cache: &mut BlockCache) -> Result<Vec<Vec<f32>>> {
        if !self.options.kv_cache {
            return Ok(self.model.predict(&self.tokens, positions)?.to_vec2()?);
        }
        let logits = cache.predict(
            self.model,
            &self.tokens,
            positions,
            &self.plan,
            self.options,
        )?;
        if self.first_cache.is_none() {
            // A copy: later steps overwrite the cache in place.
            self.first_cache = cache.kv.as_ref().map(KvCache::duplicate).transpose()?;
        }
        Ok(logits.to_vec2()?)
    }

    /// A token for one (combined) row; an end token not likely enough to end the span gives
    /// way to the best continuation.
    fn propose(&mut self, row: &[f32]) -> Proposal {
        let o = self.options;
        let mask = [self.special.mask];
        let proposal = propose(
            row,
            &mask,
            o.strategy,
            o.temperature,
            o.top_p,
            &mut self.rng,
        );
        if self.special.is_end(proposal.token) && proposal.probability < o.end_min_probability {
            let not_end: Vec<u32> = mask.iter().chain(&self.special.end).copied().collect();
            propose(
                row,
                &not_end,
                o.strategy,
                o.temperature,
                o.top_p,
                &mut self.rng,
            )
        } else {
            proposal
        }
    }

    /// Indices into `slots` to commit, in canvas order: the schedule's quota of the most
    /// confident eligible slots, plus those the thresholds accept (up to `max_per_step`).
    fn choose(&self, slots: &[Slot], proposals: &[Proposal], steps_left: usize) -> Vec<usize> {
        let o = self.options;
        let eligible = self.eligible(slots, proposals);
        let n_eligible = eligible.iter().filter(|&&e| e).count();
        let quota = slots.len().div_ceil(steps_left.max(1)).min(n_eligible);
        let mut ranked: Vec<usize> = (0..slots.len()).filter(|&i| eligible[i]).collect();
        ranked.sort_by(|&a, &b| proposals[b].confidence.total_cmp(&proposals[a].confidence));
        let mut chosen: Vec<usize> = ranked[..quota].to_vec();
        let confident = |i: usize| {
            let p = &proposals[i];
            o.threshold.is_some_and(|t| p.probability >= t)
                || o.stable_threshold.is_some_and(|t| {
                    p.probability >= t && self.previous[slots[i].0] == Some(p.token)
                })
        };
        // `ranked` is by confidence, so the cap keeps the most confident extras.
        let room = o
            .max_per_step
            .map_or(usize::MAX, |cap| cap.saturating_sub(quota));
        chosen.extend(ranked[quota..].iter().filter(|&&i| confident(i)).take(room));
        chosen.sort_unstable_by_key(|&i| slots[i].0);
        chosen
    }

    /// Whether each slot may be committed: an end token with undecided positions before it
    /// waits (see `end_left_to_right`). The leftmost masked position of a span is always
    /// eligible, so some are.
    fn eligible(&self, slots: &[Slot], proposals: &[Proposal]) -> Vec<bool> {
        slots
            .iter()
            .zip(proposals)
            .map(|(&(p, s), prop)| {
                !(self.options.end_left_to_right
                    && self.special.is_end(prop.token)
                    && self.tokens[self.plan.spans[s].start..p].contains(&self.special.mask))
            })
            .collect()
    }

    /// Writes the chosen proposals (with the model's `probabilities` of their tokens, in the
    /// same order) to every position of their groups; a span ends where an end token is
    /// committed, and the rest of it becomes padding. `written` gets every position written.
    fn commit(
        &mut self,
        chosen: &[usize],
        proposals: &[Proposal],
        probabilities: &[f32],
        groups: &[Vec<Slot>],
        written: &mut Vec<usize>,
    ) -> Vec<Commit> {
        let mut committed = Vec::with_capacity(chosen.len());
        written.clear();
        for (&i, &probability) in chosen.iter().zip(probabilities) {
            let Proposal {
                token, confidence, ..
            } = proposals[i];
            for &(position, span) in &groups[i] {
                self.tokens[position] = token;
                self.probabilities[position] = probability;
                committed.push(Commit {
                    position,
                    token,
                    confidence,
                    probability,
                });
                written.push(position);
                if self.special.is_end(token) {
                    let rest = position + 1..self.plan.spans[span].end;
                    let mask = self.special.mask;
                    written.extend(rest.clone().filter(|&p| self.tokens[p] == mask));
                    self.tokens[rest].fill(self.special.pad);
                }
            }
        }
        committed
    }

    /// Reports the step to the observer and the trace.
    fn record(&mut self, asked: usize, committed: Vec<Commit>) {
        let record = StepTrace {
            step: self.step,
            asked,
            committed,
        };
        if let Some(observer) = self.observer.as_mut() {
            observer(&record, &self.tokens);
        }
        if self.options.trace {
            self.trace.push(record);
        }
        self.step += 1;
    }

    fn finish(self) -> (SampleOutput, Option<KvCache>) {
        let (mut spans, mut probabilities) = (Vec::new(), Vec::new());
        for r in &self.plan.spans {
            let end = r.clone().find(|&p| self.special.is_end(self.tokens[p]));
            let text = r.start..end.unwrap_or(r.end);
            spans.push(self.tokens[text.clone()].to_vec());
            probabilities.push(SpanProbabilities {
                tokens: self.probabilities[text].to_vec(),
                end: end.map(|p| self.probabilities[p]),
            });
        }
        let output = SampleOutput {
            tokens: self.tokens,
            spans,
            probabilities,
            steps: self.step,
            trace: self.trace,
        };
        (output, self.first_cache)
    }
}

/// One row per group: a single position's logits, or the summed log-probabilities of a tied
/// group's positions.
fn combine_ties(rows: Vec<Vec<f32>>, groups: &[Vec<Slot>]) -> Vec<Vec<f32>> {
    let mut rows = rows.into_iter();
    groups
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
        .collect()
}
