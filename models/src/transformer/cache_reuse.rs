//! Reusing the last request's KV cache for the next canvas of the same document. A keystroke
//! changes a few tokens of a canvas of a thousand: the columns before the change keep their
//! keys and values, those after it keep theirs rotated to their new positions, and only the
//! columns between (and the spans) are recomputed.

use std::ops::Range;

use candle_core::Tensor;

use super::kv_cache::KvCache;
use super::rotary::Rotary;
use super::Transformer;
use crate::error::Result;

/// How the old canvas maps onto the new one: a shared prefix and suffix around stale columns.
struct SharedEnds {
    prefix: usize,
    suffix: usize,
    old_len: usize,
    new_len: usize,
}

impl SharedEnds {
    fn of(old: &[u32], new: &[u32]) -> Self {
        let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        let room = old.len().min(new.len()) - prefix;
        let suffix = old
            .iter()
            .rev()
            .zip(new.iter().rev())
            .take(room)
            .take_while(|(a, b)| a == b)
            .count();
        SharedEnds {
            prefix,
            suffix,
            old_len: old.len(),
            new_len: new.len(),
        }
    }

    /// The new canvas's columns that have no cached keys and values.
    fn stale(&self) -> Range<usize> {
        self.prefix..self.new_len - self.suffix
    }

    /// The old tensor's columns `[1, heads, old_len, d]` with zeros in place of the stale
    /// ones, the suffix rotated by `rotation` when given (keys move with their positions,
    /// values do not).
    fn splice(&self, t: &Tensor, gap: &Tensor, rotation: Option<&Rotary>) -> Result<Tensor> {
        let head = t.narrow(2, 0, self.prefix)?;
        let mut tail = t.narrow(2, self.old_len - self.suffix, self.suffix)?;
        if let Some(rotation) = rotation {
            tail = rotation.apply(&tail.contiguous()?)?;
        }
        Ok(Tensor::cat(&[&head, gap, &tail], 2)?)
    }
}

impl Transformer {
    /// Keys and values for `new_tokens` made from a cache of `old_tokens` (the last request's
    /// canvas in the same document): the common prefix is kept, the common suffix is kept with
    /// its keys rotated to their new positions, and the columns between are returned as stale,
    /// to be recomputed (see [`refresh_columns`](Self::refresh_columns)). `None` when less than
    /// half of the new canvas can be reused: a full pass is then as good.
    pub fn reuse_cache(
        &self,
        old: &KvCache,
        old_tokens: &[u32],
        new_tokens: &[u32],
    ) -> Result<Option<(KvCache, Vec<usize>)>> {
        if old.len != old_tokens.len() || new_tokens.len() > self.cfg.max_positions {
            return Ok(None);
        }
        let ends = SharedEnds::of(old_tokens, new_tokens);
        if 2 * (ends.prefix + ends.suffix) < ends.new_len {
            return Ok(None);
        }
        let stale: Vec<usize> = ends.stale().collect();
        let delta = ends.new_len as f64 - ends.old_len as f64;
        let rotation = match ends.suffix > 0 && delta != 0.0 {
            true => Some(self.rotary.shift(delta, ends.suffix)?),
            false => None,
        };
        let mut layers = Vec::with_capacity(old.layers.len());
        for (k, v) in &old.layers {
            let (b, h, _, d) = k.dims4()?;
            let gap = Tensor::zeros((b, h, stale.len(), d), k.dtype(), &self.device)?;
            let keys = ends.splice(k, &gap, rotation.as_ref())?;
            layers.push((keys, ends.splice(v, &gap, None)?));
        }
        let len = ends.new_len;
        Ok(Some((KvCache { layers, len }, stale)))
    }

    /// [`reuse_cache`](Self::reuse_cache), then the stale columns and those of `spans` are
    /// recomputed: a cache for `new_tokens`, and how many of its columns were reused. The spans'
    /// tokens are masks in both canvases, but their keys and values came from the old context,
    /// and a sampler in blocks would keep them until each block starts, to the answers' cost. A
    /// span is a few dozen columns.
    pub fn reuse_and_refresh(
        &self,
        old: &KvCache,
        old_tokens: &[u32],
        new_tokens: &[u32],
        spans: &[Range<usize>],
    ) -> Result<Option<(KvCache, usize)>> {
        let Some((mut kv, mut stale)) = self.reuse_cache(old, old_tokens, new_tokens)? else {
            return Ok(None);
        };
        stale.extend(spans.iter().flat_map(|r| r.clone()));
        stale.sort_unstable();
        stale.dedup();
        self.refresh_columns(&mut kv, new_tokens, &stale)?;
        Ok(Some((kv, new_tokens.len() - stale.len())))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{cache_of, max_diff, small_transformer};

    #[test]
    fn reused_suffix_keys_are_rotated_to_their_new_positions() {
        // Layer 0's keys and values depend only on the token and its position, so after an
        // insertion the reused (rotated) suffix must equal a fresh computation exactly there.
        let t = small_transformer();
        let old: Vec<u32> = (0..40).map(|i| (i * 7 + 3) % 60 + 2).collect();
        let mut new = old.clone();
        new.insert(10, 5);
        new.insert(11, 9);
        let (reused, stale) = t
            .reuse_cache(&cache_of(&t, &old), &old, &new)
            .unwrap()
            .expect("most of the canvas is shared");
        assert_eq!(stale, vec![10, 11]);
        let fresh = cache_of(&t, &new);
        let (rk, rv) = &reused.layers[0];
        let (fk, fv) = &fresh.layers[0];
        for (what, r, f) in [("keys", rk, fk), ("values", rv, fv)] {
            let prefix = max_diff(&r.narrow(2, 0, 10).unwrap(), &f.narrow(2, 0, 10).unwrap());
            let suffix = max_diff(&r.narrow(2, 12, 30).unwrap(), &f.narrow(2, 12, 30).unwrap());
            assert!(prefix < 1e-5 && suffix < 1e-5, "{what}: {prefix} {suffix}");
        }
        // Deleting tokens shifts the other way.
        let shorter: Vec<u32> = old[..5].iter().chain(&old[8..]).copied().collect();
        let (reused, stale) = t
            .reuse_cache(&cache_of(&t, &old), &old, &shorter)
            .unwrap()
            .unwrap();
        assert!(stale.is_empty(), "{stale:?}");
        let fresh = cache_of(&t, &shorter);
        let d = max_diff(&reused.layers[0].0, &fresh.layers[0].0);
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn a_canvas_that_shares_little_is_not_reused() {
        let t = small_transformer();
        let old: Vec<u32> = (0..40).map(|i| i % 60 + 2).collect();
        let new: Vec<u32> = (0..40).map(|i| (i * 11) % 60 + 2).collect();
        assert!(t
            .reuse_cache(&cache_of(&t, &old), &old, &new)
            .unwrap()
            .is_none());
    }
}
