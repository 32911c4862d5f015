//! The approximate KV cache during one block of the reverse process: which columns each step
//! recomputes, and when the whole cache, or the neighbourhood of the spans, is refreshed.

use candle_core::Tensor;

use super::options::SamplerOptions;
use super::plan::{Plan, Slot};
use crate::error::Result;
use crate::model::TokenPredictor;
use crate::transformer::KvCache;

pub(super) struct BlockCache {
    pub kv: Option<KvCache>,
    /// Without `cache_masked_only`: the columns every step recomputes, the block's own (tied
    /// copies included).
    window: Vec<usize>,
    since_refresh: usize,
    /// The next step refreshes the neighbourhood of the spans (partial refreshes only).
    refresh_due: bool,
    /// Positions written by the last step: their keys and values are computed once more.
    pub recent: Vec<usize>,
}

/// Where a block's cache comes from.
pub(super) enum Inherited {
    /// Nowhere: the first step makes a full pass.
    Nothing,
    /// The caller's keys and values for the canvas as given (the last request's, reused).
    Given(KvCache),
    /// The block before's (partial refreshes only): the first step refreshes the neighbourhood
    /// of the spans.
    Carried(KvCache),
}

impl BlockCache {
    /// The cache for `block`.
    pub fn start(
        plan: &Plan,
        block: &[Slot],
        options: &SamplerOptions,
        inherited: Inherited,
    ) -> Self {
        let (kv, refresh_due) = match inherited {
            Inherited::Nothing => (None, false),
            Inherited::Given(kv) => (Some(kv), false),
            Inherited::Carried(kv) => (Some(kv), true),
        };
        let window = if options.kv_cache && !options.cache_masked_only {
            let mut w: Vec<usize> = block
                .iter()
                .flat_map(|&slot| plan.group_of(slot))
                .map(|(p, _)| p)
                .collect();
            w.sort_unstable();
            w
        } else {
            Vec::new()
        };
        BlockCache {
            kv,
            window,
            since_refresh: 0,
            refresh_due,
            recent: Vec::new(),
        }
    }

    /// Logits for `positions` of `tokens` through the cache (a full pass when it is empty),
    /// refreshing it first when `cache_refresh` says so.
    pub fn predict(
        &mut self,
        model: &dyn TokenPredictor,
        tokens: &[u32],
        positions: &[usize],
        plan: &Plan,
        options: &SamplerOptions,
    ) -> Result<Tensor> {
        if options
            .cache_refresh
            .is_some_and(|k| self.since_refresh >= k)
        {
            match options.refresh_radius {
                Some(_) => self.refresh_due = true,
                None => self.kv = None,
            }
            self.since_refresh = 0;
        }
        self.since_refresh += 1;
        if !(options.cache_masked_only || self.refresh_due) {
            return model.predict_cached(tokens, positions, &self.window, &mut self.kv);
        }
        let mut w: Vec<usize> = positions.iter().chain(&self.recent).copied().collect();
        if std::mem::take(&mut self.refresh_due) {
            w.extend(&plan.near);
        }
        w.sort_unstable();
        w.dedup();
        model.predict_cached(tokens, positions, &w, &mut self.kv)
    }
}
