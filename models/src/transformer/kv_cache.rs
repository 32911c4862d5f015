//! The approximate KV cache of one canvas (Fast-dLLM's): every layer's keys and values, filled
//! by a full pass, then read by windowed passes that recompute a few columns against the rest.
//! A denoising step changes only the masked columns it asks about, so the context's keys and
//! values need not be recomputed every step.

use candle_core::Tensor;

use super::attention::{CacheWrite, Past};
use super::Transformer;
use crate::error::{Error, Result};
use crate::threads::on_pool;

/// Keys and values of every layer for one canvas (`[1, kv_heads, len, head_dim]` each, keys
/// rotated), from [`Transformer::forward_caching`].
///
/// Not `Clone`: windows write into the tensors in place, and a clone would share their
/// storage. [`duplicate`](Self::duplicate) makes an independent copy.
#[derive(Debug)]
pub struct KvCache {
    pub(super) layers: Vec<(Tensor, Tensor)>,
    pub(super) len: usize,
}

impl KvCache {
    /// An empty cache for `len` columns, for a pass to record its layers into.
    pub(super) fn recording(len: usize, layers: usize) -> Self {
        KvCache {
            layers: Vec::with_capacity(layers),
            len,
        }
    }

    /// A copy that owns its storage: later windows on either leave the other as it was.
    pub fn duplicate(&self) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.copy()?, v.copy()?)))
            .collect::<Result<_>>()?;
        Ok(KvCache {
            layers,
            len: self.len,
        })
    }

    /// Canvas columns covered.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The columns a windowed pass recomputes: canvas columns (sorted, distinct), and the token and
/// position id of each.
struct Window<'a> {
    columns: &'a [usize],
    tokens: &'a [u32],
    positions: &'a [usize],
}

impl Transformer {
    /// [`forward`](Self::forward) for one sequence that also returns every layer's keys and
    /// values, to be reused by [`forward_window`](Self::forward_window) in later steps.
    pub fn forward_caching(
        &self,
        tokens: &Tensor,
        positions: &[usize],
        head_rows: Option<&[usize]>,
    ) -> Result<(Tensor, KvCache)> {
        let mut cache = KvCache::recording(positions.len(), self.layers.len());
        let logits = self.forward_inner(tokens, positions, None, head_rows, Some(&mut cache))?;
        Ok((logits, cache))
    }

    /// One sequence, recomputing only the columns `window` (canvas columns, sorted, distinct) of
    /// a canvas whose keys and values from an earlier pass are in `cache`: the window's queries
    /// attend to the cached keys of every other column and to their own fresh keys (which
    /// replace the cached copies of the window's columns). Everything outside the window is
    /// seen as it was when the cache was made: exact when nothing outside the window changed
    /// since.
    ///
    /// `window_tokens` / `window_positions`: token and position id of each window column.
    /// `head_rows`: indices into the window. Returns logits `[1, rows, vocab]` and writes the
    /// window's fresh keys and values into the cache.
    pub fn forward_window(
        &self,
        cache: &mut KvCache,
        window: &[usize],
        window_tokens: &[u32],
        window_positions: &[usize],
        head_rows: &[usize],
    ) -> Result<Tensor> {
        let window = Window {
            columns: window,
            tokens: window_tokens,
            positions: window_positions,
        };
        on_pool(|| self.window_pass(cache, &window, head_rows, CacheWrite::InPlace))
    }

    /// [`forward_window`](Self::forward_window) that leaves the cache as it was: the window
    /// attends to a copy.
    pub fn forward_window_read_only(
        &self,
        cache: &KvCache,
        window: &[usize],
        window_tokens: &[u32],
        window_positions: &[usize],
        head_rows: &[usize],
    ) -> Result<Tensor> {
        let window = Window {
            columns: window,
            tokens: window_tokens,
            positions: window_positions,
        };
        on_pool(|| self.window_pass(cache, &window, head_rows, CacheWrite::Copy))
    }

    /// [`logits_at`](Self::logits_at) through an approximate KV cache: with `cache` empty (or
    /// made for a canvas of another length) a full pass answers and fills it; otherwise only
    /// the columns in `window` and `rows` are recomputed (see
    /// [`forward_window`](Self::forward_window)), and their fresh keys and values are written
    /// back, so a column that leaves the window keeps what it last computed.
    pub fn logits_at_cached(
        &self,
        canvas: &[u32],
        rows: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> Result<Tensor> {
        let Some(kv) = cache.as_mut().filter(|kv| kv.len() == canvas.len()) else {
            let t = Tensor::from_slice(canvas, (1, canvas.len()), &self.device)?;
            let all: Vec<usize> = (0..canvas.len()).collect();
            let (logits, kv) = self.forward_caching(&t, &all, Some(rows))?;
            *cache = Some(kv);
            return Ok(logits.squeeze(0)?);
        };
        let mut cols: Vec<usize> = window.iter().chain(rows).copied().collect();
        cols.sort_unstable();
        cols.dedup();
        if let Some(&c) = cols.iter().find(|&&c| c >= canvas.len()) {
            return Err(Error::InvalidRequest(format!(
                "window column {c} outside a canvas of {}",
                canvas.len()
            )));
        }
        let tokens: Vec<u32> = cols.iter().map(|&c| canvas[c]).collect();
        let head: Vec<usize> = rows
            .iter()
            .map(|r| cols.binary_search(r).expect("rows are in the window"))
            .collect();
        Ok(self
            .forward_window(kv, &cols, &tokens, &cols, &head)?
            .squeeze(0)?)
    }

    /// Recomputes the keys and values of `cols` of `canvas` against the rest of `cache`.
    pub fn refresh_columns(
        &self,
        cache: &mut KvCache,
        canvas: &[u32],
        cols: &[usize],
    ) -> Result<()> {
        if cols.is_empty() {
            return Ok(());
        }
        let tokens: Vec<u32> = cols.iter().map(|&c| canvas[c]).collect();
        self.forward_window(cache, cols, &tokens, cols, &[0])?;
        Ok(())
    }

    fn window_pass(
        &self,
        cache: &KvCache,
        window: &Window,
        head_rows: &[usize],
        write: CacheWrite,
    ) -> Result<Tensor> {
        self.check_window(cache, window)?;
        // The window's fresh keys and values take the place of their stale cached copies, so
        // the queries attend to exactly one copy of each column and need no mask.
        let m = window.columns.len();
        let (kv_heads, d) = (self.cfg.num_kv_heads, self.cfg.head_dim);
        let columns = Tensor::from_vec(
            window.columns.iter().map(|&c| c as u32).collect::<Vec<_>>(),
            (1, 1, m, 1),
            &self.device,
        )?
        .broadcast_as((1, kv_heads, m, d))?
        .contiguous()?;
        let rotary = self.rotary.at(window.positions)?;
        let ids = Tensor::from_slice(window.tokens, m, &self.device)?;
        let mut x = self.embed(&ids, 1, m)?;
        for (layer, (keys, values)) in self.layers.iter().zip(&cache.layers) {
            let past = Past::Replacing {
                keys,
                values,
                columns: &columns,
                write,
            };
            x = layer.forward(&x, &rotary, None, past)?.0;
        }
        self.head.forward(&x, Some(head_rows))
    }

    fn check_window(&self, cache: &KvCache, window: &Window) -> Result<()> {
        let m = window.columns.len();
        if window.tokens.len() != m || window.positions.len() != m {
            return Err(Error::InvalidRequest(format!(
                "window of {m} columns with {} tokens and {} positions",
                window.tokens.len(),
                window.positions.len()
            )));
        }
        if let Some(&c) = window.columns.iter().find(|&&c| c >= cache.len) {
            return Err(Error::InvalidRequest(format!(
                "window column {c} outside a cache of {}",
                cache.len
            )));
        }
        // Each fresh column replaces its cached copy: a repeated column would be written twice.
        if window.columns.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidRequest(
                "window columns must be sorted and distinct".into(),
            ));
        }
        self.check_tokens(window.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{cache_of, max_diff, small_transformer};

    #[test]
    fn a_window_writes_its_cache_in_place_and_leaves_a_duplicate_alone() {
        let t = small_transformer();
        let tokens: Vec<u32> = (0..20).map(|i| i % 60 + 2).collect();
        let mut cache = cache_of(&t, &tokens);
        let kept = cache.duplicate().unwrap();
        let before = cache.layers[1].0.copy().unwrap();
        t.forward_window(&mut cache, &[4, 5], &[7, 9], &[4, 5], &[0])
            .unwrap();
        // The windowed columns changed in the cache itself...
        let changed = |a: &Tensor| {
            max_diff(
                &a.narrow(2, 4, 2).unwrap(),
                &before.narrow(2, 4, 2).unwrap(),
            )
        };
        assert!(changed(&cache.layers[1].0) > 1e-4);
        // ...and nowhere else, and not in the duplicate.
        assert!(
            max_diff(
                &cache.layers[1].0.narrow(2, 6, 14).unwrap(),
                &before.narrow(2, 6, 14).unwrap()
            ) == 0.0
        );
        assert!(max_diff(&kept.layers[1].0, &before) == 0.0);
        // A read-only window changes neither the cache nor its tensors.
        let after = cache.layers[1].0.copy().unwrap();
        t.forward_window_read_only(&cache, &[8], &[11], &[8], &[0])
            .unwrap();
        assert!(max_diff(&cache.layers[1].0, &after) == 0.0);
    }

    #[test]
    fn a_window_must_name_distinct_columns_in_order() {
        let t = small_transformer();
        let tokens: Vec<u32> = (0..20).map(|i| i % 60 + 2).collect();
        let mut cache = cache_of(&t, &tokens);
        for window in [[4usize, 4], [5, 4]] {
            let err = t
                .forward_window(&mut cache, &window, &[3, 3], &window, &[0])
                .unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{window:?}");
        }
        assert!(t
            .forward_window(&mut cache, &[4, 5], &[3, 3], &[4, 5], &[0])
            .is_ok());
    }
}
