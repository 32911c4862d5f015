//! What the sampler fills: a canvas of tokens with the spans to fill and the spans tied to
//! come out identical, checked before the first step.

use std::ops::Range;

use crate::error::{Error, Result};

/// Tokens with the positions to fill. The sampler writes the mask token into every span position.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Canvas {
    pub tokens: Vec<u32>,
    pub spans: Vec<Range<usize>>,
    /// Groups of span indices (equal lengths) that must come out identical, e.g. every
    /// occurrence of a renamed identifier: their predictions are combined (summed
    /// log-probabilities) and each committed token is written to all of them.
    pub ties: Vec<Vec<usize>>,
}

impl Canvas {
    pub fn new(tokens: Vec<u32>, spans: Vec<Range<usize>>) -> Self {
        Canvas {
            tokens,
            spans,
            ties: Vec::new(),
        }
    }

    /// Spans are non-empty, inside the canvas and disjoint; tie groups name existing spans of
    /// one length, each span at most once.
    pub(super) fn validate(&self) -> Result<()> {
        self.validate_spans()?;
        self.validate_ties()
    }

    fn validate_spans(&self) -> Result<()> {
        let mut spans: Vec<&Range<usize>> = self.spans.iter().collect();
        spans.sort_by_key(|r| r.start);
        for (i, span) in spans.iter().enumerate() {
            if span.is_empty() || span.end > self.tokens.len() {
                return Err(Error::InvalidRequest(format!(
                    "span {span:?} is empty or outside a canvas of {}",
                    self.tokens.len()
                )));
            }
            if i > 0 && spans[i - 1].end > span.start {
                return Err(Error::InvalidRequest(format!(
                    "spans {:?} and {span:?} overlap",
                    spans[i - 1]
                )));
            }
        }
        Ok(())
    }

    fn validate_ties(&self) -> Result<()> {
        let mut seen = vec![false; self.spans.len()];
        for group in &self.ties {
            for &s in group {
                if s >= self.spans.len() || std::mem::replace(&mut seen[s], true) {
                    return Err(Error::InvalidRequest(format!(
                        "tie group {group:?} names a span that does not exist or is tied twice"
                    )));
                }
                if self.spans[s].len() != self.spans[group[0]].len() {
                    return Err(Error::InvalidRequest(format!(
                        "tied spans must have the same length: {group:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// For every span, the spans that copy it (its followers in a tie group; empty if untied or
    /// a follower itself), and whether it is a follower.
    pub(super) fn tie_followers(&self) -> (Vec<Vec<usize>>, Vec<bool>) {
        let mut followers = vec![Vec::new(); self.spans.len()];
        let mut is_follower = vec![false; self.spans.len()];
        for group in self.ties.iter().filter(|g| !g.is_empty()) {
            followers[group[0]] = group[1..].to_vec();
            for &f in &group[1..] {
                is_follower[f] = true;
            }
        }
        (followers, is_follower)
    }
}
