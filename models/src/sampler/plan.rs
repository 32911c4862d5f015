//! The layout of one run of the reverse process, fixed before its first step: which positions
//! the sampler decides and in what order, the blocks they are decided in and each block's
//! steps, the tied copies of each position, and the columns a partial cache refresh recomputes.

use std::ops::Range;

use super::canvas::Canvas;
use super::options::SamplerOptions;

/// A position the sampler decides and the span it belongs to.
pub(super) type Slot = (usize, usize);

pub(super) struct Plan {
    pub spans: Vec<Range<usize>>,
    /// For every span, the spans that copy it (its followers in a tie group; empty if untied or
    /// a follower itself).
    followers: Vec<Vec<usize>>,
    /// Every position the sampler decides, in canvas order; positions of tied followers are
    /// decided with their leader.
    order: Vec<Slot>,
    block_len: usize,
    /// The columns a partial refresh recomputes (see `refresh_radius`): every span and its
    /// neighbourhood.
    pub near: Vec<usize>,
}

impl Plan {
    pub fn new(canvas: &Canvas, options: &SamplerOptions) -> Self {
        let (followers, is_follower) = canvas.tie_followers();
        let spans = canvas.spans.clone();
        let mut order: Vec<Slot> = spans
            .iter()
            .enumerate()
            .filter(|&(s, _)| !is_follower[s])
            .flat_map(|(s, r)| r.clone().map(move |p| (p, s)))
            .collect();
        order.sort_unstable();
        let near = match options.refresh_radius {
            Some(r) => neighbourhood(&spans, r, canvas.tokens.len()),
            None => Vec::new(),
        };
        Plan {
            block_len: options.block_length.unwrap_or(order.len()).max(1),
            spans,
            followers,
            order,
            near,
        }
    }

    /// The blocks, left to right, each with its budget of steps.
    pub fn blocks(&self, options: &SamplerOptions) -> Vec<(Vec<Slot>, usize)> {
        let blocks: Vec<Vec<Slot>> = self
            .order
            .chunks(self.block_len)
            .map(<[_]>::to_vec)
            .collect();
        let total = options.steps.unwrap_or(self.order.len()).max(1);
        let budget = steps_per_block(total, blocks.len());
        blocks.into_iter().zip(budget).collect()
    }

    /// Every position that receives the token decided at `slot`, leader first.
    pub fn group_of(&self, (p, s): Slot) -> Vec<Slot> {
        let i = p - self.spans[s].start;
        std::iter::once((p, s))
            .chain(
                self.followers[s]
                    .iter()
                    .map(|&f| (self.spans[f].start + i, f)),
            )
            .collect()
    }
}

/// Every column within `radius` of a span, sorted.
fn neighbourhood(spans: &[Range<usize>], radius: usize, len: usize) -> Vec<usize> {
    let mut near: Vec<usize> = spans
        .iter()
        .flat_map(|s| s.start.saturating_sub(radius)..(s.end + radius).min(len))
        .collect();
    near.sort_unstable();
    near.dedup();
    near
}

/// Splits `total` steps over `blocks` blocks, earlier blocks taking the remainder; at least 1 each.
pub(super) fn steps_per_block(total: usize, blocks: usize) -> Vec<usize> {
    (0..blocks)
        .map(|b| (total / blocks + usize::from(b < total % blocks)).max(1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_split_evenly_with_remainder_first() {
        assert_eq!(steps_per_block(10, 3), vec![4, 3, 3]);
        assert_eq!(steps_per_block(2, 4), vec![1, 1, 1, 1]);
    }
}
