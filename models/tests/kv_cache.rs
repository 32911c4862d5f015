//! The approximate KV cache: exact where nothing outside the recomputed window changed, and
//! the sampler with a cache refreshed every step gives the uncached result.

mod common;

use std::cell::Cell;

use candle_core::{Device, Tensor};
use common::{load, reference, relative_error};
use dllm_models::{
    sample, CancelFlag, Canvas, DiffusionModel, KvCache, SamplerOptions, SpecialTokens,
    TokenPredictor,
};

const FAMILIES: [&str; 2] = ["dream-tiny", "llada-tiny"];

#[test]
fn a_fresh_cache_answers_like_a_full_pass() {
    for name in FAMILIES {
        let model = load(name);
        let (ids, _) = reference(name);
        let positions = [3, 4, 5, ids.len() - 1];
        let full = model.predict(&ids, &positions).unwrap();
        let mut cache = None;
        let first = model
            .predict_cached(&ids, &positions, &[3, 4, 5], &mut cache)
            .unwrap();
        assert!(cache.is_some(), "{name}: the first call fills the cache");
        // Nothing changed: the window recomputed against the cache is the full pass.
        let again = model
            .predict_cached(&ids, &positions, &[3, 4, 5, ids.len() - 1], &mut cache)
            .unwrap();
        for (what, t) in [("filling pass", &first), ("cached pass", &again)] {
            let err = relative_error(t, &full);
            assert!(
                err < 1e-5,
                "{name}: {what} differs from a full pass by {err}"
            );
        }
    }
}

#[test]
fn a_window_over_every_column_is_exact_after_any_change() {
    for name in FAMILIES {
        let model = load(name);
        let (ids, _) = reference(name);
        let mut cache = None;
        model.predict_cached(&ids, &[2], &[2], &mut cache).unwrap();
        // Change tokens everywhere: with every column in the window, no stale key is seen.
        let mut changed = ids.clone();
        for t in changed.iter_mut().step_by(3) {
            *t = (*t + 7) % 200;
        }
        let all: Vec<usize> = (0..ids.len()).collect();
        let positions = [1, 5, 9];
        let cached = model
            .predict_cached(&changed, &positions, &all, &mut cache)
            .unwrap();
        let full = model.predict(&changed, &positions).unwrap();
        let err = relative_error(&cached, &full);
        assert!(err < 1e-5, "{name}: {err}");
    }
}

#[test]
fn a_stale_cache_is_approximate_not_exact() {
    // The cache must really be used: context keys computed before a change are not refreshed
    // by a narrow window, so the answer differs from a full pass (a test that could not fail
    // otherwise would not show the cache is read).
    let model = load("dream-tiny");
    let (ids, _) = reference("dream-tiny");
    let mut cache = None;
    model.predict_cached(&ids, &[6], &[6], &mut cache).unwrap();
    let mut changed = ids.clone();
    changed[1] = (changed[1] + 11) % 200; // outside the window
    let cached = model
        .predict_cached(&changed, &[6], &[6], &mut cache)
        .unwrap();
    let full = model.predict(&changed, &[6]).unwrap();
    assert!(relative_error(&cached, &full) > 1e-4);
}

#[test]
fn updating_the_cache_with_the_changed_columns_makes_it_fresh() {
    let model = load("llada-tiny");
    let transformer = model.transformer();
    let (ids, _) = reference("llada-tiny");
    let n = ids.len();
    let all: Vec<usize> = (0..n).collect();
    let t = Tensor::from_slice(&ids, (1, n), &Device::Cpu).unwrap();
    let (_, mut cache) = transformer.forward_caching(&t, &all, Some(&[0])).unwrap();
    // New text from column 5 on (what typing does to the end of a canvas): recompute those
    // columns against the cached head and write them back.
    let mut changed = ids.clone();
    for t in &mut changed[5..] {
        *t = (*t + 3) % 200;
    }
    let tail: Vec<usize> = (5..n).collect();
    transformer
        .forward_window(&mut cache, &tail, &changed[5..], &tail, &[0])
        .unwrap();
    // The head (columns < 5) is stale but the tail's cached keys now match the new tokens: a
    // one-column window at the tail agrees with a pass that saw the same stale head.
    let probe = n - 1;
    let one = transformer
        .forward_window_read_only(&cache, &[probe], &[changed[probe]], &[probe], &[0])
        .unwrap();
    let (_, fresh_tail) = transformer.forward_caching(&t, &all, Some(&[0])).unwrap();
    let tail_again = transformer
        .forward_window_read_only(&fresh_tail, &tail, &changed[5..], &tail, &[tail.len() - 1])
        .unwrap();
    let err = relative_error(&one, &tail_again);
    assert!(err < 1e-5, "{err}");
}

fn infill_canvas(model: &dllm_models::DiffusionModel) -> Canvas {
    let ids = model
        .tokenizer()
        .encode("def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n")
        .unwrap();
    let mut tokens = ids[..5].to_vec();
    let span = tokens.len()..tokens.len() + 8;
    tokens.extend([0; 8]);
    tokens.extend(&ids[ids.len() - 6..]);
    Canvas::new(tokens, vec![span])
}

#[test]
fn the_sampler_with_a_cache_refreshed_every_step_matches_no_cache() {
    for name in FAMILIES {
        let model = load(name);
        for block_length in [None, Some(3)] {
            let base = SamplerOptions {
                block_length,
                steps: Some(4),
                ..Default::default()
            };
            let exact = sample(
                &model,
                infill_canvas(&model),
                &base,
                &CancelFlag::new(),
                None,
            )
            .unwrap();
            let refreshed = SamplerOptions {
                kv_cache: true,
                cache_refresh: Some(1),
                ..base.clone()
            };
            let cached = sample(
                &model,
                infill_canvas(&model),
                &refreshed,
                &CancelFlag::new(),
                None,
            )
            .unwrap();
            assert_eq!(exact.tokens, cached.tokens, "{name} {block_length:?}");
            // Per block only: runs, fills every position, never touches the context.
            let approx = SamplerOptions {
                kv_cache: true,
                ..base.clone()
            };
            let canvas = infill_canvas(&model);
            let out = sample(&model, canvas.clone(), &approx, &CancelFlag::new(), None).unwrap();
            let span = canvas.spans[0].clone();
            assert_eq!(out.tokens[..span.start], canvas.tokens[..span.start]);
            assert_eq!(out.tokens[span.end..], canvas.tokens[span.end..]);
            let mask = model.special_tokens().mask;
            assert!(out.tokens[span].iter().all(|&t| t != mask));
        }
    }
}

/// Counts full passes (a cached call without a cache for this canvas) and the widest window.
struct Passes<'a> {
    inner: &'a DiffusionModel,
    full: Cell<usize>,
    widest: Cell<usize>,
}

impl<'a> Passes<'a> {
    fn of(inner: &'a DiffusionModel) -> Self {
        Passes {
            inner,
            full: Cell::new(0),
            widest: Cell::new(0),
        }
    }
}

impl TokenPredictor for Passes<'_> {
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        self.inner.predict(canvas, positions)
    }
    fn predict_cached(
        &self,
        canvas: &[u32],
        positions: &[usize],
        window: &[usize],
        cache: &mut Option<KvCache>,
    ) -> dllm_models::Result<Tensor> {
        if cache.as_ref().is_none_or(|c| c.len() != canvas.len()) {
            self.full.set(self.full.get() + 1);
        }
        self.widest.set(self.widest.get().max(window.len()));
        self.inner.predict_cached(canvas, positions, window, cache)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        self.inner.special_tokens()
    }
}

#[test]
fn partial_refreshes_recompute_the_span_and_its_neighbourhood_only() {
    for name in FAMILIES {
        let model = load(name);
        let canvas = infill_canvas(&model);
        let span = canvas.spans[0].clone();
        let base = SamplerOptions {
            block_length: Some(3),
            steps: Some(4),
            ..Default::default()
        };
        let run = |model: &dyn TokenPredictor, o: &SamplerOptions| {
            sample(model, canvas.clone(), o, &CancelFlag::new(), None).unwrap()
        };
        let exact = run(&model, &base);
        // A radius that covers the canvas recomputes every column at every refresh (each step,
        // and where a block starts): the exact answer, from a single full pass.
        let whole = SamplerOptions {
            kv_cache: true,
            cache_refresh: Some(1),
            refresh_radius: Some(canvas.tokens.len()),
            ..base.clone()
        };
        let counted = Passes::of(&model);
        assert_eq!(run(&counted, &whole).tokens, exact.tokens, "{name}");
        assert_eq!(counted.full.get(), 1, "{name}");
        // A radius of 2: still one full pass; refreshes recompute the span and 2 columns on
        // each side, and the context stays as it was.
        let near = SamplerOptions {
            refresh_radius: Some(2),
            ..whole
        };
        let counted = Passes::of(&model);
        let out = run(&counted, &near);
        assert_eq!(counted.full.get(), 1, "{name}");
        assert_eq!(counted.widest.get(), span.len() + 4, "{name}");
        assert_eq!(out.tokens[..span.start], canvas.tokens[..span.start]);
        assert_eq!(out.tokens[span.end..], canvas.tokens[span.end..]);
    }
}

#[test]
fn the_next_request_reuses_the_last_ones_cache() {
    use dllm_models::InfillRequest;
    let model = load("dream-tiny");
    let options = SamplerOptions {
        kv_cache: true,
        steps: Some(4),
        ..Default::default()
    };
    let prefix = "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    ";
    let suffix = "\n\nprint(add(1, 2), mul(3, 4))\n";
    let request = InfillRequest::single(prefix, 6, suffix);
    let cold = model
        .infill(&request, &options, &CancelFlag::new())
        .unwrap();
    assert_eq!(cold.reused_tokens, 0);
    let mut reuse = None;
    let first = model
        .infill_reusing(&request, &options, &CancelFlag::new(), None, &mut reuse)
        .unwrap();
    assert!(reuse.is_some(), "the request leaves its cache");
    // The same request again: everything but the span's 6 columns is reused (those are always
    // recomputed, in the new context) and the answer is the cold one.
    let again = model
        .infill_reusing(&request, &options, &CancelFlag::new(), None, &mut reuse)
        .unwrap();
    assert_eq!(again.reused_tokens, again.canvas_tokens - 6);
    assert_eq!(again.spans, cold.spans);
    assert_eq!(first.spans, cold.spans);
    // A keystroke later: the shared text is reused, the rest recomputed.
    let typed = InfillRequest::single(&format!("{prefix}r"), 6, suffix);
    let warm = model
        .infill_reusing(&typed, &options, &CancelFlag::new(), None, &mut reuse)
        .unwrap();
    assert!(
        warm.reused_tokens > 0 && warm.reused_tokens < warm.canvas_tokens,
        "{} of {}",
        warm.reused_tokens,
        warm.canvas_tokens
    );
    assert_eq!(warm.span_tokens.len(), 1);
    // Without the cache option nothing is reused.
    let exact = SamplerOptions {
        kv_cache: false,
        ..options.clone()
    };
    let out = model
        .infill_reusing(&typed, &exact, &CancelFlag::new(), None, &mut reuse)
        .unwrap();
    assert_eq!(out.reused_tokens, 0);
}
