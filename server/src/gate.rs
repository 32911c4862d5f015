//! The confidence gate: a suggestion the user did not ask for (inline completion, completion)
//! is shown only when the model's confidence in it reaches `minConfidence`, since a small model
//! that is often wrong teaches users to ignore it. Code actions, which the user asks for, still
//! answer, and say when their confidence was low. The confidence is the score the evaluation
//! found to separate exact answers from misses best (`Outcome::confidence`, the model card).

use std::sync::atomic::{AtomicU64, Ordering};

use dllm_models::sampler::ScoreKind;

/// The score the gate compares with `minConfidence`: the lowest probability of the answer's
/// tokens and of what ended it. Of the candidates it separated exact answers from misses best
/// on the held-out single lines (AUROC, models/default/README.md, "Confidence gate").
pub const SCORE: ScoreKind = ScoreKind::MinWithEnd;

/// What the gate made of one suggestion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Confident enough (or the gate is off).
    Shown,
    /// Below the threshold.
    Withheld { confidence: f32, threshold: f32 },
    /// The infiller reports no confidence (a remote engine): shown, since there is nothing to
    /// judge it by.
    Unscored,
}

/// Judges a suggestion's `confidence` against `threshold` (`minConfidence`; 0 is off).
pub fn judge(confidence: Option<f32>, threshold: f32) -> Verdict {
    match confidence {
        None => Verdict::Unscored,
        Some(c) if threshold > 0.0 && c < threshold => Verdict::Withheld {
            confidence: c,
            threshold,
        },
        Some(_) => Verdict::Shown,
    }
}

impl Verdict {
    /// The note a code action or command carries when its answer is below the threshold.
    pub fn low_confidence_note(&self) -> Option<String> {
        match self {
            Verdict::Withheld {
                confidence,
                threshold,
            } => Some(format!(
                "low confidence: the model's confidence in this answer is {confidence:.2}, \
                 below minConfidence {threshold:.2}; check it before keeping it"
            )),
            Verdict::Shown | Verdict::Unscored => None,
        }
    }
}

/// How many suggestions the gate has shown and withheld since the server started, for the log
/// and `dllm.status`.
#[derive(Debug, Default)]
pub struct Tally {
    shown: AtomicU64,
    withheld: AtomicU64,
    unscored: AtomicU64,
}

/// A [`Tally`]'s counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub shown: u64,
    pub withheld: u64,
    pub unscored: u64,
}

impl Tally {
    /// Counts `verdict`; returns the counts after it.
    pub fn record(&self, verdict: &Verdict) -> Counts {
        let counter = match verdict {
            Verdict::Shown => &self.shown,
            Verdict::Withheld { .. } => &self.withheld,
            Verdict::Unscored => &self.unscored,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.counts()
    }

    pub fn counts(&self) -> Counts {
        Counts {
            shown: self.shown.load(Ordering::Relaxed),
            withheld: self.withheld.load(Ordering::Relaxed),
            unscored: self.unscored.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_below_the_threshold_are_withheld() {
        assert_eq!(
            judge(Some(0.2), 0.3),
            Verdict::Withheld {
                confidence: 0.2,
                threshold: 0.3
            }
        );
        assert_eq!(judge(Some(0.3), 0.3), Verdict::Shown);
        assert_eq!(judge(Some(0.9), 0.3), Verdict::Shown);
    }

    #[test]
    fn a_zero_threshold_turns_the_gate_off_and_unscored_answers_pass() {
        assert_eq!(judge(Some(0.0), 0.0), Verdict::Shown);
        assert_eq!(judge(None, 0.9), Verdict::Unscored);
        assert_eq!(judge(None, 0.9).low_confidence_note(), None);
        let note = judge(Some(0.125), 0.5).low_confidence_note().unwrap();
        assert!(
            note.contains("0.12") && note.contains("minConfidence 0.50"),
            "{note}"
        );
    }

    #[test]
    fn the_tally_counts_each_verdict() {
        let tally = Tally::default();
        tally.record(&Verdict::Shown);
        tally.record(&judge(Some(0.1), 0.5));
        let counts = tally.record(&judge(Some(0.1), 0.5));
        assert_eq!(
            counts,
            Counts {
                shown: 1,
                withheld: 2,
                unscored: 0
            }
        );
        tally.record(&Verdict::Unscored);
        assert_eq!(tally.counts().unscored, 1);
    }
}
