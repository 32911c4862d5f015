//! The infill sampler on the fixture checkpoints (and, where a behaviour needs a model that
//! predicts something specific, on a scripted predictor).
#![allow(clippy::single_range_in_vec_init)]

mod common;

use std::cell::Cell;

use candle_core::{Device, Tensor};
use common::load;
use dllm_models::{
    sample, CancelFlag, Canvas, DiffusionModel, Error, InfillRequest, SampleOutput, SamplerOptions,
    Segment, SpecialTokens, Strategy, TokenPredictor,
};

/// Wraps a model and counts forward passes.
struct Counting<'a> {
    inner: &'a DiffusionModel,
    calls: Cell<usize>,
}

impl TokenPredictor for Counting<'_> {
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        self.calls.set(self.calls.get() + 1);
        self.inner.predict(canvas, positions)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        self.inner.special_tokens()
    }
}

/// A predictor that wants `want(position)` at every position, with a confidence that grows with
/// the position (so the most confident position is known); end tokens are the most confident.
struct Scripted {
    special: SpecialTokens,
    vocab: usize,
    want: fn(usize) -> u32,
}

impl TokenPredictor for Scripted {
    fn predict(&self, _canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        let mut rows = vec![0f32; positions.len() * self.vocab];
        for (i, &p) in positions.iter().enumerate() {
            let token = (self.want)(p);
            let boost = if self.special.is_end(token) {
                10.0
            } else {
                0.0
            };
            rows[i * self.vocab + token as usize] = 5.0 + p as f32 * 0.1 + boost;
        }
        logit_rows(rows, self.vocab)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }
}

/// Rows of logits, `vocab` wide, as a predictor returns them.
fn logit_rows(rows: Vec<f32>, vocab: usize) -> dllm_models::Result<Tensor> {
    let n = rows.len() / vocab;
    Ok(Tensor::from_vec(rows, (n, vocab), &Device::Cpu)?)
}

fn scripted(want: fn(usize) -> u32) -> Scripted {
    Scripted {
        special: SpecialTokens {
            mask: 0,
            end: vec![1],
            pad: 1,
            bos: None,
            add_bos: false,
        },
        vocab: 16,
        want,
    }
}

/// prefix 4 tokens, span 6, suffix 4 — from the fixture's reference input.
fn canvas(model: &DiffusionModel) -> Canvas {
    let ids = model
        .tokenizer()
        .encode("def add(a, b):\n    return a + b\n")
        .unwrap();
    let mut tokens = ids[..4].to_vec();
    tokens.extend([0; 6]);
    tokens.extend(&ids[ids.len() - 4..]);
    Canvas::new(tokens, vec![4..10])
}

fn opts() -> SamplerOptions {
    SamplerOptions {
        trace: true,
        ..Default::default()
    }
}

#[test]
fn steps_equal_to_span_length_commit_one_token_per_step() {
    let model = load("dream-tiny");
    for strategy in Strategy::ALL {
        let out = sample(
            &model,
            canvas(&model),
            &SamplerOptions {
                strategy,
                steps: Some(6),
                ..opts()
            },
            &CancelFlag::new(),
            None,
        )
        .unwrap();
        assert_eq!(out.steps, 6, "{strategy:?}");
        assert!(
            out.trace.iter().all(|s| s.committed.len() == 1),
            "{strategy:?}"
        );
        assert!(!out.tokens.contains(&model.special_tokens().mask));
    }
}

#[test]
fn fewer_steps_commit_several_tokens_per_step() {
    let model = load("llada-tiny");
    let out = sample(
        &model,
        canvas(&model),
        &SamplerOptions {
            steps: Some(2),
            ..opts()
        },
        &CancelFlag::new(),
        None,
    )
    .unwrap();
    // A span can end early, so later steps may have less to do, never more than the quota.
    assert!(out.steps <= 2);
    assert_eq!(out.trace[0].committed.len(), 3);
}

#[test]
fn threshold_zero_commits_everything_at_once_and_one_commits_by_schedule() {
    let model = load("dream-tiny");
    let all = sample(
        &model,
        canvas(&model),
        &SamplerOptions {
            threshold: Some(0.0),
            ..opts()
        },
        &CancelFlag::new(),
        None,
    )
    .unwrap();
    assert_eq!(all.steps, 1);
    assert_eq!(all.trace[0].committed.len(), 6);
    let one = sample(
        &model,
        canvas(&model),
        &SamplerOptions {
            threshold: Some(1.0),
            ..opts()
        },
        &CancelFlag::new(),
        None,
    )
    .unwrap();
    assert!(one.trace.iter().all(|s| s.committed.len() == 1));
}

#[test]
fn max_per_step_caps_what_the_threshold_adds() {
    let model = load("dream-tiny");
    let run = |cap: Option<usize>| {
        sample(
            &model,
            canvas(&model),
            &SamplerOptions {
                threshold: Some(0.0),
                max_per_step: cap,
                ..opts()
            },
            &CancelFlag::new(),
            None,
        )
        .unwrap()
    };
    // Threshold 0 would commit all six positions at once; a cap of 4 takes four, then the rest.
    let capped = run(Some(4));
    let per_step: Vec<usize> = capped.trace.iter().map(|s| s.committed.len()).collect();
    assert_eq!(per_step[0], 4, "{per_step:?}");
    assert_eq!(capped.steps, 2, "{per_step:?}");
    // The four taken first are the four most confident of the first step.
    let first_step_confidences = |out: &SampleOutput| {
        let mut c: Vec<f32> = out.trace[0]
            .committed
            .iter()
            .map(|c| c.confidence)
            .collect();
        c.sort_by(|a, b| b.total_cmp(a));
        c
    };
    let first = first_step_confidences(&run(None));
    assert_eq!(first_step_confidences(&capped), first[..4].to_vec());
    assert!(SamplerOptions {
        max_per_step: Some(0),
        ..opts()
    }
    .validate()
    .is_err());
}

/// Proposes a different token at every position in every step (it counts its calls).
struct Fickle {
    inner: Scripted,
    calls: Cell<usize>,
}

impl TokenPredictor for Fickle {
    fn predict(&self, _canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        let step = self.calls.replace(self.calls.get() + 1);
        let vocab = self.inner.vocab;
        let mut rows = vec![0f32; positions.len() * vocab];
        for (i, &p) in positions.iter().enumerate() {
            rows[i * vocab + 2 + (p + step) % 2] = 8.0;
        }
        logit_rows(rows, vocab)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        self.inner.special_tokens()
    }
}

#[test]
fn stable_threshold_also_commits_what_the_step_before_proposed() {
    let steady = scripted(|p| 2 + (p % 5) as u32);
    let input = Canvas::new(vec![3; 10], vec![2..8]);
    let run = |model: &dyn TokenPredictor, stable: Option<f32>| {
        let o = SamplerOptions {
            stable_threshold: stable,
            ..opts()
        };
        sample(model, input.clone(), &o, &CancelFlag::new(), None).unwrap()
    };
    // One token per step by the schedule alone.
    assert_eq!(run(&steady, None).steps, 6);
    // The first step has nothing to compare with; in the second, the five positions left all
    // repeat their proposals (probability 0.92-0.95 here) and commit together.
    let out = run(&steady, Some(0.5));
    assert_eq!(out.steps, 2);
    assert_eq!(out.trace[1].committed.len(), 5);
    assert_eq!(out.spans, run(&steady, None).spans);
    // Repeated but less likely than the bar: the schedule alone.
    assert_eq!(run(&steady, Some(0.999)).steps, 6);
    // Likely (0.99) but never the same twice: the schedule alone.
    let fickle = Fickle {
        inner: scripted(|_| 2),
        calls: Cell::new(0),
    };
    assert_eq!(run(&fickle, Some(0.5)).steps, 6);
    assert!(SamplerOptions {
        stable_threshold: Some(1.5),
        ..opts()
    }
    .validate()
    .is_err());
}

#[test]
fn prefix_and_suffix_never_change() {
    let model = load("llada-tiny");
    let input = canvas(&model);
    for strategy in Strategy::ALL {
        for temperature in [0.0, 1.0] {
            let o = SamplerOptions {
                strategy,
                temperature,
                threshold: Some(0.5),
                ..opts()
            };
            let out = sample(&model, input.clone(), &o, &CancelFlag::new(), None).unwrap();
            assert_eq!(out.tokens[..4], input.tokens[..4], "{strategy:?}");
            assert_eq!(out.tokens[10..], input.tokens[10..], "{strategy:?}");
            for step in &out.trace {
                assert!(step.committed.iter().all(|c| (4..10).contains(&c.position)));
            }
        }
    }
}

#[test]
fn several_spans_are_denoised_jointly_in_one_run() {
    let model = load("dream-tiny");
    let mut c = canvas(&model);
    c.tokens.extend([0; 3]);
    c.tokens.extend([5, 6]);
    c.spans.push(14..17);
    let out = sample(&model, c.clone(), &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans.len(), 2);
    // The first step sees every masked position of both spans.
    assert_eq!(out.trace[0].asked, 9);
    let touched: std::collections::BTreeSet<usize> = out
        .trace
        .iter()
        .flat_map(|s| s.committed.iter().map(|c| c.position))
        .collect();
    assert!(touched
        .iter()
        .all(|p| (4..10).contains(p) || (14..17).contains(p)));
    assert_eq!(out.tokens[10..14], c.tokens[10..14]);
    assert_eq!(out.tokens[17..], c.tokens[17..]);
}

#[test]
fn overlapping_or_empty_spans_are_rejected() {
    let model = load("dream-tiny");
    let mut c = canvas(&model);
    c.spans.push(8..12);
    assert!(matches!(
        sample(&model, c, &opts(), &CancelFlag::new(), None),
        Err(Error::InvalidRequest(_))
    ));
    let mut c = canvas(&model);
    c.spans = vec![3..3];
    assert!(matches!(
        sample(&model, c, &opts(), &CancelFlag::new(), None),
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn an_end_token_inside_a_span_ends_it() {
    // Wants 7 everywhere but EOS (1) at position 5: the span 2..10 returns 3 tokens.
    let model = scripted(|p| if p == 5 { 1 } else { 7 });
    let c = Canvas::new(vec![3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4], vec![2..10]);
    let eager = SamplerOptions {
        end_left_to_right: false,
        ..opts()
    };
    let out = sample(&model, c.clone(), &eager, &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans, vec![vec![7, 7, 7]]);
    assert_eq!(out.tokens, vec![3, 3, 7, 7, 7, 1, 1, 1, 1, 1, 4, 4]);
    // The end came first; positions after it were never asked about again.
    assert_eq!(out.steps, 4);
    assert_eq!(out.trace[1].asked, 3);
    // Left to right (the default): the end waits for positions 2-4, the answer is the same.
    let out = sample(&model, c, &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans, vec![vec![7, 7, 7]]);
    assert_eq!(out.tokens, vec![3, 3, 7, 7, 7, 1, 1, 1, 1, 1, 4, 4]);
    assert!(out.trace[..out.steps - 1]
        .iter()
        .all(|t| t.committed.iter().all(|c| c.token != 1)));
}

/// Confident that the span is empty until its first token is written, then wants four tokens:
/// what a small model's padding confidence looks like.
struct EagerEnd {
    special: SpecialTokens,
}

impl TokenPredictor for EagerEnd {
    fn predict(&self, canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        let vocab = 16;
        let started = canvas[2] != 0;
        let mut rows = vec![0f32; positions.len() * vocab];
        for (i, &p) in positions.iter().enumerate() {
            let (token, logit) = match (started, p) {
                (_, 2) => (7, 3.0),
                (false, _) => (1, 9.0),
                (true, p) if p < 6 => (7, 6.0),
                (true, _) => (1, 8.0),
            };
            rows[i * vocab + token] = logit;
        }
        logit_rows(rows, vocab)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }
}

#[test]
fn an_end_token_waits_for_the_positions_before_it() {
    let model = EagerEnd {
        special: scripted(|_| 7).special,
    };
    let c = Canvas::new(vec![3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4], vec![2..10]);
    let eager = SamplerOptions {
        end_left_to_right: false,
        ..opts()
    };
    // Eager: the confident end at position 3 cuts the answer to one token.
    let out = sample(&model, c.clone(), &eager, &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans, vec![vec![7]]);
    // Left to right: position 2 is written first, after which the model wants more.
    let out = sample(&model, c, &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans, vec![vec![7, 7, 7, 7]]);
}

#[test]
fn blocks_are_denoised_left_to_right() {
    // The scripted model is most confident at the right end, so without blocks the right end
    // goes first; with blocks of 2, commits must move left to right.
    let model = scripted(|_| 7);
    let c = Canvas::new(vec![3, 0, 0, 0, 0, 0, 0, 4], vec![1..7]);
    let free = sample(&model, c.clone(), &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(free.trace[0].committed[0].position, 6);
    let blocked = sample(
        &model,
        c,
        &SamplerOptions {
            block_length: Some(2),
            ..opts()
        },
        &CancelFlag::new(),
        None,
    )
    .unwrap();
    let order: Vec<usize> = blocked
        .trace
        .iter()
        .map(|s| s.committed[0].position)
        .collect();
    assert_eq!(order, vec![2, 1, 4, 3, 6, 5]);
}

#[test]
fn same_seed_same_output() {
    let model = load("llada-tiny");
    let run = |seed| {
        let o = SamplerOptions {
            temperature: 1.0,
            top_p: 0.9,
            seed,
            ..opts()
        };
        sample(&model, canvas(&model), &o, &CancelFlag::new(), None)
            .unwrap()
            .tokens
    };
    assert_eq!(run(11), run(11));
    let differs = (12..20).any(|s| run(s) != run(11));
    assert!(differs, "different seeds should give a different sample");
}

#[test]
fn cancellation_returns_within_one_forward_pass() {
    let model = load("dream-tiny");
    let counting = Counting {
        inner: &model,
        calls: Cell::new(0),
    };
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    let mut observer = |_: &dllm_models::StepTrace, _: &[u32]| flag.cancel();
    let result = sample(
        &counting,
        canvas(&model),
        &opts(),
        &cancel,
        Some(&mut observer),
    );
    assert!(matches!(result, Err(Error::Cancelled)));
    assert_eq!(counting.calls.get(), 1);

    let cancelled = CancelFlag::new();
    cancelled.cancel();
    let counting = Counting {
        inner: &model,
        calls: Cell::new(0),
    };
    assert!(matches!(
        sample(&counting, canvas(&model), &opts(), &cancelled, None),
        Err(Error::Cancelled)
    ));
    assert_eq!(counting.calls.get(), 0);
}

#[test]
fn bad_options_are_rejected_with_a_message() {
    let model = load("dream-tiny");
    for bad in [
        SamplerOptions {
            steps: Some(0),
            ..opts()
        },
        SamplerOptions {
            temperature: -1.0,
            ..opts()
        },
        SamplerOptions {
            top_p: 0.0,
            ..opts()
        },
        SamplerOptions {
            threshold: Some(1.5),
            ..opts()
        },
        SamplerOptions {
            block_length: Some(0),
            ..opts()
        },
    ] {
        let err = sample(&model, canvas(&model), &bad, &CancelFlag::new(), None).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{bad:?}: {err}");
    }
    assert!("maskgit_plus".parse::<Strategy>().is_ok());
    assert!("origin".parse::<Strategy>().is_ok());
    assert!("nonsense".parse::<Strategy>().is_err());
}

#[test]
fn infill_text_round_trip_through_the_tokenizer() {
    let model = load("dream-tiny");
    let req = InfillRequest::single("def add(a, b):\n    return ", 5, "\n");
    let out = model
        .infill(&req, &SamplerOptions::default(), &CancelFlag::new())
        .unwrap();
    assert_eq!(out.spans.len(), 1);
    assert!(out.span_tokens[0].len() <= 5);
    assert_eq!(
        out.spans[0],
        model.tokenizer().decode(&out.span_tokens[0]).unwrap()
    );
    assert!(out.steps >= 1 && out.steps <= 5);

    let two = InfillRequest {
        segments: vec![
            Segment::Text("fn a() {".into()),
            Segment::Span { max_tokens: 3 },
            Segment::Text("}\nfn b() {".into()),
            Segment::Span { max_tokens: 3 },
            Segment::Text("}".into()),
        ],
        max_context_tokens: Some(64),
        ..Default::default()
    };
    let out = model
        .infill(&two, &SamplerOptions::default(), &CancelFlag::new())
        .unwrap();
    assert_eq!(out.spans.len(), 2);
    assert!(out.canvas_tokens <= 64);

    let none = InfillRequest {
        segments: vec![Segment::Text("x".into())],
        ..Default::default()
    };
    assert!(model
        .infill(&none, &SamplerOptions::default(), &CancelFlag::new())
        .is_err());
}

#[test]
fn long_context_is_trimmed_to_fit() {
    let model = load("llada-tiny");
    let prefix = "x = 1\n".repeat(200);
    let req = InfillRequest {
        max_context_tokens: Some(48),
        ..InfillRequest::single(&prefix, 4, &prefix)
    };
    let out = model
        .infill(
            &req,
            &SamplerOptions {
                steps: Some(1),
                ..Default::default()
            },
            &CancelFlag::new(),
        )
        .unwrap();
    assert!(out.canvas_tokens <= 48);
    // The model's own limit (256 positions in the fixture) applies without an explicit bound.
    let req = InfillRequest::single(&prefix, 4, &prefix);
    let out = model
        .infill(
            &req,
            &SamplerOptions {
                steps: Some(1),
                ..Default::default()
            },
            &CancelFlag::new(),
        )
        .unwrap();
    assert!(out.canvas_tokens <= model.config().max_positions);
}

#[test]
fn tied_spans_come_out_identical_and_combine_their_predictions() {
    // Wants 7 at positions below 10 and 9 at and above 10, more confidently above: tied spans
    // 2..4 and 12..14 get one decision per pair, from both predictions together.
    let model = scripted(|p| if p < 10 { 7 } else { 9 });
    let mut c = Canvas::new(
        vec![3, 3, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 4],
        vec![2..4, 12..14],
    );
    c.ties = vec![vec![0, 1]];
    let out = sample(&model, c.clone(), &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans[0], out.spans[1]);
    assert_eq!(
        out.spans[0],
        vec![9, 9],
        "the more confident prediction wins for both"
    );
    assert_eq!(out.steps, 2, "one decision per tied pair of positions");
    assert_eq!(out.trace[0].asked, 2);

    let model = load("llada-tiny");
    let mut c = canvas(&model);
    c.tokens.extend([0; 6]);
    c.spans.push(14..20);
    c.ties = vec![vec![0, 1]];
    let out = sample(&model, c.clone(), &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans[0], out.spans[1]);
    assert_eq!(out.tokens[4..10], out.tokens[14..20]);

    c.spans[1] = 14..19;
    assert!(matches!(
        sample(&model, c.clone(), &opts(), &CancelFlag::new(), None),
        Err(Error::InvalidRequest(_))
    ));
    c.spans[1] = 14..20;
    c.ties = vec![vec![0, 5]];
    assert!(sample(&model, c, &opts(), &CancelFlag::new(), None).is_err());
}

#[test]
fn special_token_text_in_user_code_stays_text() {
    let model = load("dream-tiny");
    let special = model.special_tokens().clone();
    let ids = model
        .tokenizer()
        .encode("s = \"<|mask|>\" + \"<|endoftext|>\"")
        .unwrap();
    assert!(!ids.contains(&special.mask), "{ids:?}");
    assert!(!ids.iter().any(|&t| special.is_end(t)), "{ids:?}");
    assert_eq!(
        model.tokenizer().decode(&ids).unwrap(),
        "s = \"<|mask|>\" + \"<|endoftext|>\""
    );
}

/// Everywhere: the end token 0.4, four continuations 0.15 each. The end is the single likeliest
/// token, yet the span more likely goes on.
struct SpreadEnd {
    special: SpecialTokens,
}

impl TokenPredictor for SpreadEnd {
    fn predict(&self, _canvas: &[u32], positions: &[usize]) -> dllm_models::Result<Tensor> {
        let vocab = 16;
        let mut rows = vec![f32::NEG_INFINITY; positions.len() * vocab];
        for i in 0..positions.len() {
            rows[i * vocab + 1] = 0.4f32.ln();
            for t in 7..11 {
                rows[i * vocab + t] = 0.15f32.ln();
            }
        }
        logit_rows(rows, vocab)
    }
    fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }
}

#[test]
fn an_end_token_below_its_least_probability_gives_way() {
    let model = SpreadEnd {
        special: scripted(|_| 7).special,
    };
    let c = Canvas::new(vec![3, 3, 0, 0, 0, 4], vec![2..5]);
    // Plain argmax: the end wins at the first position and the answer is empty.
    let out = sample(&model, c.clone(), &opts(), &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans, vec![Vec::<u32>::new()]);
    // At least 0.5 for an end: each position takes its best continuation instead.
    let at_least_half = SamplerOptions {
        end_min_probability: 0.5,
        ..opts()
    };
    let out = sample(&model, c, &at_least_half, &CancelFlag::new(), None).unwrap();
    assert_eq!(out.spans[0].len(), 3);
    assert!(out.spans[0].iter().all(|t| (7..11).contains(t)));
}

#[test]
fn fill_probabilities_are_the_first_steps_distribution_of_the_texts_tokens() {
    let model = load("dream-tiny");
    let text = "ab";
    let tokens = model.tokenizer().encode(text).unwrap();
    let request = InfillRequest::single("fn main() { let x = ", tokens.len(), "; }");
    let probabilities = model.fill_probabilities(&request, 0, text).unwrap();
    assert_eq!(probabilities.len(), tokens.len());
    // The same numbers as the model's own logits at the masked positions, softmaxed here.
    let mask = model.special_tokens().mask;
    let mut canvas = model.tokenizer().encode("fn main() { let x = ").unwrap();
    let start = canvas.len();
    canvas.extend(std::iter::repeat_n(mask, tokens.len()));
    canvas.extend(model.tokenizer().encode("; }").unwrap());
    let positions: Vec<usize> = (start..start + tokens.len()).collect();
    let logits = model.predict(&canvas, &positions).unwrap().to_vec2::<f32>().unwrap();
    for ((row, &token), p) in logits.iter().zip(&tokens).zip(&probabilities) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|l| (l - max).exp()).sum();
        let expected = (row[token as usize] - max).exp() / sum;
        assert!((expected - p).abs() < 1e-5, "{expected} vs {p}");
    }
    // A span of another length than the text is refused, and so is a span that is not there.
    assert!(matches!(
        model.fill_probabilities(&request, 0, "abcdefgh"),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        model.fill_probabilities(&request, 1, text),
        Err(Error::InvalidRequest(_))
    ));
}
