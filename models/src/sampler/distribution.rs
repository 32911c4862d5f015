//! Per-position math of one denoising step: from a row of logits to a proposed token and the
//! confidence the strategy ranks it by.

use rand::Rng;

use super::options::Strategy;
use crate::kernels::softmax::{max_of, softmax_in_place};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub token: u32,
    /// Probability of `token` under the sampling distribution (what the threshold compares).
    pub probability: f32,
    /// What the strategy ranks positions by (higher first).
    pub confidence: f32,
}

/// The first index of the largest value (NaN never wins): a vectorised maximum, then a scan for
/// it, instead of a loop that compares each value with the best so far.
fn argmax(row: &[f32]) -> usize {
    let max = max_of(row);
    row.iter().position(|&x| x == max).unwrap_or(0)
}

/// Zeroes everything outside the smallest set of tokens whose mass reaches `top_p`, renormalised.
fn top_p_filter(probs: &mut [f32], top_p: f32) {
    if top_p >= 1.0 {
        return;
    }
    let mut order: Vec<u32> = (0..probs.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| probs[b as usize].total_cmp(&probs[a as usize]));
    let mut mass = 0.0f32;
    let mut keep = order.len();
    for (n, &i) in order.iter().enumerate() {
        mass += probs[i as usize];
        if mass >= top_p {
            keep = n + 1;
            break;
        }
    }
    for &i in &order[keep..] {
        probs[i as usize] = 0.0;
    }
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
}

fn sample_index(probs: &[f32], rng: &mut impl Rng) -> usize {
    let r: f32 = rng.random::<f32>();
    let mut acc = 0.0f32;
    for (i, &p) in probs.iter().enumerate() {
        acc += p;
        if r < acc {
            return i;
        }
    }
    // Rounding left `r` above the total: take the last token with any mass.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// log-softmax of a row, for combining tied positions.
pub(super) fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    row.iter().map(|x| x - lse).collect()
}

/// The model's own probability of `token` in a row of logits (temperature 1, no nucleus, the
/// `forbidden` tokens left out): what a committed token is scored by, whatever the sampling
/// settings, so a suggestion's confidence means the same under greedy and sampled decoding.
pub(super) fn model_probability(row: &[f32], token: u32, forbidden: &[u32]) -> f32 {
    let allowed = |i: usize| !forbidden.contains(&(i as u32));
    let max = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| allowed(i))
        .map(|(_, &x)| x)
        .fold(f32::NEG_INFINITY, f32::max);
    let Some(&x) = row.get(token as usize).filter(|_| max.is_finite()) else {
        return 0.0;
    };
    let total: f32 = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| allowed(i))
        .map(|(_, &y)| (y - max).exp())
        .sum();
    (x - max).exp() / total
}

/// Turns one row of logits into a proposal. `forbidden` tokens (the mask itself) are never proposed.
pub fn propose(
    logits: &[f32],
    forbidden: &[u32],
    strategy: Strategy,
    temperature: f32,
    top_p: f32,
    rng: &mut impl Rng,
) -> Proposal {
    let mut raw = logits.to_vec();
    for &f in forbidden {
        if let Some(x) = raw.get_mut(f as usize) {
            *x = f32::NEG_INFINITY;
        }
    }
    let mut probs = raw.clone();
    if temperature > 0.0 {
        // Shifted by the maximum first, so a tiny temperature sends the others to -inf rather
        // than every logit to ±inf (whose softmax is NaN).
        let max = probs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        probs.iter_mut().for_each(|x| *x = (*x - max) / temperature);
    }
    softmax_in_place(&mut probs);
    top_p_filter(&mut probs, top_p);
    let token = if temperature > 0.0 {
        sample_index(&probs, rng)
    } else {
        argmax(&probs)
    };
    let probability = probs[token];
    let confidence = match strategy {
        Strategy::LowConfidence => {
            softmax_in_place(&mut raw);
            raw[token]
        }
        Strategy::MaskgitPlus => probability,
        Strategy::TopkMargin => {
            let (mut first, mut second) = (0.0f32, 0.0f32);
            for &p in &probs {
                if p > first {
                    second = first;
                    first = p;
                } else if p > second {
                    second = p;
                }
            }
            first - second
        }
        Strategy::Entropy => probs
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| p * p.ln())
            .sum(),
        Strategy::Random => rng.random::<f32>(),
    };
    Proposal {
        token: token as u32,
        probability,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn greedy_takes_argmax_and_never_the_forbidden_token() {
        let mut rng = StdRng::seed_from_u64(0);
        let p = propose(
            &[1.0, 5.0, 2.0],
            &[1],
            Strategy::MaskgitPlus,
            0.0,
            1.0,
            &mut rng,
        );
        assert_eq!(p.token, 2);
        let expected = (2f32).exp() / ((1f32).exp() + (2f32).exp());
        assert!((p.probability - expected).abs() < 1e-6);
    }

    #[test]
    fn strategies_rank_as_documented() {
        let mut rng = StdRng::seed_from_u64(0);
        let peaked = [10.0, 0.0, 0.0, 0.0];
        let flat = [1.0, 0.9, 0.8, 0.7];
        for s in [
            Strategy::LowConfidence,
            Strategy::MaskgitPlus,
            Strategy::TopkMargin,
            Strategy::Entropy,
        ] {
            let a = propose(&peaked, &[], s, 0.0, 1.0, &mut rng).confidence;
            let b = propose(&flat, &[], s, 0.0, 1.0, &mut rng).confidence;
            assert!(a > b, "{s:?}: peaked {a} should outrank flat {b}");
        }
    }

    #[test]
    fn model_probability_ignores_temperature_and_leaves_out_the_forbidden() {
        let row = [1.0f32, 5.0, 2.0, 3.0];
        let e = |x: f32| x.exp();
        let p = model_probability(&row, 2, &[1]);
        assert!((p - e(2.0) / (e(1.0) + e(2.0) + e(3.0))).abs() < 1e-6);
        // A low temperature makes the sampled token near certain under the sampling
        // distribution; its model probability stays what the logits say.
        let mut rng = StdRng::seed_from_u64(0);
        let tempered = propose(&row, &[1], Strategy::MaskgitPlus, 0.1, 1.0, &mut rng);
        let model = model_probability(&row, tempered.token, &[1]);
        assert!(
            tempered.probability > 0.99 && model < 0.7,
            "{tempered:?} {model}"
        );
        let all: f32 = [0, 2, 3]
            .map(|t| model_probability(&row, t, &[1]))
            .iter()
            .sum();
        assert!((all - 1.0).abs() < 1e-6);
        assert_eq!(model_probability(&row, 9, &[]), 0.0);
        // Large logits do not overflow.
        assert!((model_probability(&[1000.0, 1000.0], 0, &[]) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        let mut probs = vec![0.5, 0.3, 0.15, 0.05];
        top_p_filter(&mut probs, 0.8);
        assert_eq!(probs[2], 0.0);
        assert_eq!(probs[3], 0.0);
        assert!((probs[0] - 0.625).abs() < 1e-6);
    }

    #[test]
    fn sampling_is_seeded() {
        let logits = [0.1, 0.2, 0.3, 0.4, 0.5];
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20)
                .map(|_| propose(&logits, &[], Strategy::MaskgitPlus, 1.0, 1.0, &mut rng).token)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_tiny_temperature_samples_the_most_likely_token_not_nan() {
        let mut rng = StdRng::seed_from_u64(7);
        for t in [1e-40f32, 1e-30, f32::MIN_POSITIVE] {
            let p = propose(&[1.0, 3.0, 2.0], &[], Strategy::MaskgitPlus, t, 1.0, &mut rng);
            assert_eq!(p.token, 1, "temperature {t}");
            assert!(p.probability.is_finite() && p.confidence.is_finite(), "temperature {t}");
        }
    }
}
