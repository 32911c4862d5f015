//! How sure the model was of a span it filled: scores, each a probability in [0, 1], computed
//! from the probabilities the sampler committed the span's tokens with. A caller shows a
//! suggestion only when its score clears a threshold, so the score has to predict whether the
//! suggestion is right; which one does best is measured (`server/examples/evaluate.rs`, the
//! model card), so all of them are kept here.

use serde::Serialize;

use super::SpanProbabilities;

/// One span's committed probabilities, with which of its tokens break a line (so that an
/// answer cut to its first line is scored on that line alone).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanConfidence {
    pub probabilities: SpanProbabilities,
    /// One per token: whether its text holds a line break.
    pub line_breaks: Vec<bool>,
}

/// The candidate scores of an answer. Each is 1 for an answer the model had no doubt about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// The lowest probability of the answer's tokens (1 for an answer with none).
    pub min_token: f32,
    /// The geometric mean of the answer's token probabilities: exp of their mean log-probability
    /// (1 for an answer with none).
    pub mean_token: f32,
    /// The probability of what ended the answer: the end token, or for a first line the token
    /// holding the line break; 0 when the answer ran to its token budget.
    pub end: f32,
    /// The lowest probability over the tokens and what ended them (the tokens alone when the
    /// answer ran to its budget: nothing ended it, so there is nothing to doubt there).
    pub min_with_end: f32,
    /// The geometric mean over the tokens and what ended them (the tokens alone when the answer
    /// ran to its budget).
    pub mean_with_end: f32,
}

/// Which of the [`Scores`] a gate compares with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreKind {
    MinToken,
    MeanToken,
    End,
    MinWithEnd,
    MeanWithEnd,
}

impl ScoreKind {
    pub const ALL: [ScoreKind; 5] = [
        ScoreKind::MinToken,
        ScoreKind::MeanToken,
        ScoreKind::End,
        ScoreKind::MinWithEnd,
        ScoreKind::MeanWithEnd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::MinToken => "min_token",
            ScoreKind::MeanToken => "mean_token",
            ScoreKind::End => "end",
            ScoreKind::MinWithEnd => "min_with_end",
            ScoreKind::MeanWithEnd => "mean_with_end",
        }
    }

    pub fn of(self, s: &Scores) -> f32 {
        match self {
            ScoreKind::MinToken => s.min_token,
            ScoreKind::MeanToken => s.mean_token,
            ScoreKind::End => s.end,
            ScoreKind::MinWithEnd => s.min_with_end,
            ScoreKind::MeanWithEnd => s.mean_with_end,
        }
    }
}

impl SpanConfidence {
    /// The confidence of the span's first line, which a single-line answer keeps: its tokens
    /// before the first one that breaks a line, ended by that token (the whole span, ended as
    /// it was, when none does).
    pub fn first_line(&self) -> SpanConfidence {
        let tokens = &self.probabilities.tokens;
        match self.line_breaks.iter().position(|&b| b) {
            Some(k) if k < tokens.len() => SpanConfidence {
                probabilities: SpanProbabilities {
                    tokens: tokens[..k].to_vec(),
                    end: Some(tokens[k]),
                },
                line_breaks: vec![false; k],
            },
            _ => self.clone(),
        }
    }

    pub fn scores(&self) -> Scores {
        let tokens = &self.probabilities.tokens;
        let end = self.probabilities.end;
        let with_end: Vec<f32> = tokens.iter().copied().chain(end).collect();
        Scores {
            min_token: minimum(tokens),
            mean_token: geometric_mean(tokens),
            end: end.unwrap_or(0.0),
            min_with_end: minimum(&with_end),
            mean_with_end: geometric_mean(&with_end),
        }
    }
}

impl Scores {
    /// Every score 1: what an answer with no doubt scores, and the identity of [`Scores::and`].
    pub const CERTAIN: Scores = Scores {
        min_token: 1.0,
        mean_token: 1.0,
        end: 1.0,
        min_with_end: 1.0,
        mean_with_end: 1.0,
    };

    /// The scores of an answer made of two (several spans, or a span and its repair): each the
    /// lower of the two, so one doubtful part makes the whole doubtful.
    pub fn and(self, other: Scores) -> Scores {
        Scores {
            min_token: self.min_token.min(other.min_token),
            mean_token: self.mean_token.min(other.mean_token),
            end: self.end.min(other.end),
            min_with_end: self.min_with_end.min(other.min_with_end),
            mean_with_end: self.mean_with_end.min(other.mean_with_end),
        }
    }
}

fn minimum(p: &[f32]) -> f32 {
    p.iter().copied().fold(1.0, f32::min)
}

/// exp(mean ln p); 1 for no values, 0 when one is 0.
fn geometric_mean(p: &[f32]) -> f32 {
    if p.is_empty() {
        return 1.0;
    }
    let mean_log = p.iter().map(|&x| f64::from(x).ln()).sum::<f64>() / p.len() as f64;
    mean_log.exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(tokens: &[f32], end: Option<f32>, line_breaks: &[bool]) -> SpanConfidence {
        SpanConfidence {
            probabilities: SpanProbabilities {
                tokens: tokens.to_vec(),
                end,
            },
            line_breaks: line_breaks.to_vec(),
        }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn scores_of_a_span_ended_by_an_end_token() {
        let s = span(&[0.9, 0.4, 0.8], Some(0.5), &[false; 3]).scores();
        assert!(close(s.min_token, 0.4));
        assert!(close(s.mean_token, (0.9f32 * 0.4 * 0.8).powf(1.0 / 3.0)));
        assert!(close(s.end, 0.5));
        assert!(close(s.min_with_end, 0.4));
        assert!(close(
            s.mean_with_end,
            (0.9f32 * 0.4 * 0.8 * 0.5).powf(0.25)
        ));
    }

    #[test]
    fn a_span_that_ran_to_its_budget_is_scored_on_its_tokens_alone() {
        let s = span(&[0.9, 0.6], None, &[false; 2]).scores();
        assert_eq!(s.end, 0.0);
        assert!(close(s.min_with_end, 0.6) && close(s.min_with_end, s.min_token));
        assert!(close(s.mean_with_end, s.mean_token));
    }

    #[test]
    fn an_empty_answer_is_scored_by_its_end_alone() {
        let s = span(&[], Some(0.3), &[]).scores();
        assert_eq!((s.min_token, s.mean_token), (1.0, 1.0));
        assert!(close(s.min_with_end, 0.3) && close(s.mean_with_end, 0.3));
    }

    #[test]
    fn the_first_line_is_scored_on_its_tokens_and_ended_by_the_line_break() {
        // "a b\nc" then an end token: the low 0.1 after the break is not part of the line.
        let whole = span(
            &[0.9, 0.8, 0.6, 0.1],
            Some(0.7),
            &[false, false, true, false],
        );
        let line = whole.first_line().scores();
        assert!(close(line.min_token, 0.8));
        assert!(close(line.end, 0.6));
        assert!(close(whole.scores().min_token, 0.1));
        // Without a line break the first line is the whole span.
        let one = span(&[0.9, 0.8], Some(0.7), &[false, false]);
        assert_eq!(one.first_line(), one);
    }

    #[test]
    fn combined_scores_take_the_lower_of_each() {
        let a = span(&[0.9], Some(0.2), &[false]).scores();
        let b = span(&[0.5], Some(0.9), &[false]).scores();
        let both = a.and(b);
        assert!(close(both.min_token, 0.5) && close(both.end, 0.2));
        assert_eq!(Scores::CERTAIN.and(a), a);
        for kind in ScoreKind::ALL {
            assert!(kind.of(&both) <= kind.of(&a) && kind.of(&both) <= kind.of(&b));
        }
    }
}
