//! Sampler options: one struct, defaults that work, validated before a run.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a step ranks the masked positions it could commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// LLaDA's low-confidence remasking: keep the tokens whose (untempered) probability is highest.
    LowConfidence,
    /// Dream's `maskgit_plus`: top-1 probability under the sampling distribution.
    #[default]
    MaskgitPlus,
    /// Dream's `topk_margin`: the gap between the two most likely tokens.
    TopkMargin,
    /// Dream's `entropy`: the lowest-entropy positions first.
    Entropy,
    /// Dream's `origin`: a random order.
    Random,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::LowConfidence,
        Strategy::MaskgitPlus,
        Strategy::TopkMargin,
        Strategy::Entropy,
        Strategy::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::LowConfidence => "low_confidence",
            Strategy::MaskgitPlus => "maskgit_plus",
            Strategy::TopkMargin => "topk_margin",
            Strategy::Entropy => "entropy",
            Strategy::Random => "random",
        }
    }
}

impl FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s || (s == "origin" && *st == Strategy::Random))
            .ok_or_else(|| {
                let names: Vec<_> = Strategy::ALL.iter().map(|s| s.name()).collect();
                Error::InvalidRequest(format!(
                    "unknown strategy {s:?}; one of {}",
                    names.join(", ")
                ))
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplerOptions {
    pub strategy: Strategy,
    /// Denoising steps in all; `None`: one step per masked token (the most careful setting).
    pub steps: Option<usize>,
    /// Confidence-threshold parallel decoding: besides the schedule's quota, also commit every
    /// position whose sampled token has at least this probability.
    pub threshold: Option<f32>,
    /// Stability-based parallel decoding: besides the quota and the threshold, also commit
    /// every position whose proposed token is the one it was proposed in the step before and
    /// has at least this probability. A prediction that survived the last step's commits is
    /// likelier to be right than its probability alone says (the idea behind early-convergence
    /// decoders such as Prophet).
    pub stable_threshold: Option<f32>,
    /// With `threshold`: at most this many positions committed per step in all (the schedule's
    /// quota is always committed; the threshold adds the most confident of the rest up to the
    /// cap). Bounds how much one step can get wrong at once.
    pub max_per_step: Option<usize>,
    /// Semi-autoregressive blocks: the masked positions, in canvas order, are denoised in blocks of
    /// this many, left to right, each block finished before the next starts.
    pub block_length: Option<usize>,
    /// 0 samples greedily (argmax).
    pub temperature: f32,
    /// Nucleus sampling; 1.0 is off.
    pub top_p: f32,
    pub seed: u64,
    /// Approximate KV cache: keys and values of the whole canvas are computed at the start of
    /// each block and reused while the block's positions are denoised; each step recomputes only
    /// the block (Fast-dLLM's dual cache). Off: every step is a full forward pass (exact).
    pub kv_cache: bool,
    /// With `kv_cache`, also refresh the cache every this many steps inside a block.
    pub cache_refresh: Option<usize>,
    /// With `kv_cache`: a refresh (every `cache_refresh` steps, and when a block after the first
    /// starts) recomputes only the columns within this many positions of a span, keeping the
    /// cache of the rest, instead of making a full pass over the canvas. `None`: full passes.
    pub refresh_radius: Option<usize>,
    /// With `kv_cache`, recompute only the still-masked positions (and those committed in the
    /// step before, once, to store their keys and values) instead of the whole block each step.
    pub cache_masked_only: bool,
    /// An end token may end a span only once every position before it in the span is decided,
    /// so a small model's confidence in padding cannot cut an answer short before it is
    /// written (the span's length is settled left to right; its content in any order).
    pub end_left_to_right: bool,
    /// An end token is committed only where the model gives the span's end at least this
    /// probability; below it the position gets the best other token. Greedy argmax would end
    /// a span as soon as "the span ends here" outweighs each single continuation, though the
    /// continuations together are likelier (0 turns the check off).
    pub end_min_probability: f32,
    /// Collect a per-step trace in the output.
    pub trace: bool,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions {
            strategy: Strategy::default(),
            steps: None,
            threshold: None,
            stable_threshold: None,
            max_per_step: None,
            block_length: None,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            kv_cache: false,
            cache_refresh: None,
            refresh_radius: None,
            cache_masked_only: true,
            end_left_to_right: true,
            end_min_probability: 0.0,
            trace: false,
        }
    }
}

impl SamplerOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidRequest(what));
        if self.steps == Some(0) {
            return bad("steps must be at least 1".into());
        }
        if self.max_per_step == Some(0) {
            return bad("max_per_step must be at least 1".into());
        }
        if self.cache_refresh == Some(0) {
            return bad("cache_refresh must be at least 1".into());
        }
        if self.block_length == Some(0) {
            return bad("block_length must be at least 1".into());
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!(
                "temperature must be a number >= 0, not {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], not {}", self.top_p));
        }
        if let Some(t) = self.threshold {
            if !(0.0..=1.0).contains(&t) {
                return bad(format!("threshold must be in [0, 1], not {t}"));
            }
        }
        if let Some(t) = self.stable_threshold {
            if !(0.0..=1.0).contains(&t) {
                return bad(format!("stable_threshold must be in [0, 1], not {t}"));
            }
        }
        Ok(())
    }
}
