//! Grouped-query attention for one f32 sequence on the CPU, fused per block of query rows.
//!
//! The tensor path (`scores = q @ k.t()`, softmax, `probs @ v`, then a transpose back to
//! `[t, heads * d]`) runs three products and a softmax as separate operations, each split over
//! the threads on its own. For a cached denoising step (a few dozen query rows against a
//! thousand keys) the products are small enough that the split costs more than it saves: the
//! attention took a third of a 33-column step. Here every task takes one key/value head and a
//! block of its query rows, and does scores, softmax and weighted sum in one go, single-threaded,
//! with its scores in a buffer that stays in cache; the tasks are spread over the threads.
//! The output is written straight into its `[t, heads * d]` place.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use crate::softmax::softmax_in_place;

/// Shapes of one attention call. Query heads `h * group .. (h + 1) * group` share key/value
/// head `h`, where `group = heads / kv_heads`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    /// Query rows per head.
    pub rows: usize,
    /// Key/value columns.
    pub keys: usize,
    pub head_dim: usize,
}

/// Attention of one sequence: `q` `[1, heads, t, d]`, `k` and `v` `[1, kv_heads, keys, d]`,
/// all f32 on the CPU. Returns `[1, t, heads * d]`. `None` when the tensors are of another kind
/// (the caller then takes the general path).
pub(crate) fn attend_cpu_f32(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
) -> Option<candle_core::Result<Tensor>> {
    let cpu = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu();
    let ([1, heads, rows, d], [1, kv_heads, keys, kd]) = (q.dims(), k.dims()) else {
        return None;
    };
    if !(cpu(q) && cpu(k) && cpu(v)) || v.dims() != k.dims() || kd != d || heads % kv_heads != 0 {
        return None;
    }
    let shape = AttentionShape {
        heads: *heads,
        kv_heads: *kv_heads,
        rows: *rows,
        keys: *keys,
        head_dim: *d,
    };
    Some(q.apply_op3_no_bwd(k, v, &FusedAttention(shape)))
}

struct FusedAttention(AttentionShape);

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-attention-f32"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        ql: &Layout,
        k: &CpuStorage,
        kl: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
            match (s, l.contiguous_offsets()) {
                (CpuStorage::F32(all), Some((start, end))) => Ok(&all[start..end]),
                _ => candle_core::bail!("fused attention takes contiguous f32 tensors"),
            }
        }
        let s = self.0;
        let out = attend_f32(slice(q, ql)?, slice(k, kl)?, slice(v, vl)?, s);
        Ok((
            CpuStorage::F32(out),
            Shape::from((1, s.rows, s.heads * s.head_dim)),
        ))
    }
}

/// Scores buffer per task at most this many floats (512 KB: half of this CPU's L2 per core).
const SCORE_FLOATS: usize = 1 << 17;

/// `softmax(q kᵀ / √d) v` for every head. `q`: `[heads, rows, d]`, `k` and `v`:
/// `[kv_heads, keys, d]`, all contiguous. Returns `[rows, heads * d]`.
pub(crate) fn attend_f32(q: &[f32], k: &[f32], v: &[f32], s: AttentionShape) -> Vec<f32> {
    let AttentionShape {
        heads,
        kv_heads,
        rows,
        keys,
        head_dim: d,
    } = s;
    assert!(
        kv_heads > 0 && heads % kv_heads == 0,
        "heads must group evenly"
    );
    assert_eq!(q.len(), heads * rows * d, "q is [heads, rows, d]");
    assert_eq!(k.len(), kv_heads * keys * d, "k is [kv_heads, keys, d]");
    assert_eq!(v.len(), k.len(), "v is shaped like k");
    let group = heads / kv_heads;
    // The query rows of a group's heads are adjacent in `q`: one matrix per key/value head.
    let group_rows = group * rows;
    // Blocks of rows, balanced so that every thread has work and no scores buffer spills out
    // of cache.
    let threads = rayon::current_num_threads().max(1);
    let max_block = (SCORE_FLOATS / keys.max(1)).clamp(4, 256);
    let per_head = group_rows
        .div_ceil(max_block)
        .max(threads.div_ceil(kv_heads))
        .min(group_rows.max(1));
    let block = group_rows.div_ceil(per_head).max(1);
    let tasks: Vec<(usize, usize)> = (0..kv_heads)
        .flat_map(|h| (0..group_rows).step_by(block).map(move |r| (h, r)))
        .collect();
    let scale = 1.0 / (d as f32).sqrt();
    let width = heads * d;
    let mut out = vec![0f32; rows * width];
    // Tasks write disjoint (row, head) blocks of `out`; the address travels as an integer
    // because raw pointers are not `Send`.
    let out_addr = out.as_mut_ptr() as usize;
    tasks.par_iter().for_each(|&(h, first)| {
        let n = block.min(group_rows - first);
        let mut scores = vec![0f32; n * keys];
        let q_block = &q[(h * group_rows + first) * d..][..n * d];
        let k_head = &k[h * keys * d..][..keys * d];
        let v_head = &v[h * keys * d..][..keys * d];
        // SAFETY: every slice holds the extent gemm reads or writes with these strides
        // (row-major [n, d] · [d, keys] -> [n, keys]), checked by the asserts above.
        unsafe {
            gemm(
                n,
                keys,
                d,
                scores.as_mut_ptr(),
                1,
                keys as isize,
                false,
                q_block.as_ptr(),
                1,
                d as isize,
                // kᵀ: column j of the product is row j of k.
                k_head.as_ptr(),
                d as isize,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
        scores.chunks_mut(keys).for_each(softmax_in_place);
        // Row r of the block is row `(first + r) % rows` of query head
        // `h * group + (first + r) / rows`; it lands in out[row, head * d ..].
        let mut r = 0;
        while r < n {
            let head = h * group + (first + r) / rows;
            let row = (first + r) % rows;
            // Rows of one query head are contiguous in both the block and the output column.
            let run = (rows - row).min(n - r);
            // SAFETY: `out` is [rows, width]; this run covers rows row..row+run, columns
            // head*d..head*d+d, which no other task writes (tasks split distinct (head, row)
            // pairs), and `out` outlives the parallel loop.
            unsafe {
                let dst = (out_addr as *mut f32).add(row * width + head * d);
                gemm(
                    run,
                    d,
                    keys,
                    dst,
                    1,
                    width as isize,
                    false,
                    scores.as_ptr().add(r * keys),
                    1,
                    keys as isize,
                    v_head.as_ptr(),
                    1,
                    d as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            r += run;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook computation, one score at a time.
    fn naive(q: &[f32], k: &[f32], v: &[f32], s: AttentionShape) -> Vec<f32> {
        let d = s.head_dim;
        let group = s.heads / s.kv_heads;
        let mut out = vec![0f32; s.rows * s.heads * d];
        for head in 0..s.heads {
            let h = head / group;
            for r in 0..s.rows {
                let qr = &q[(head * s.rows + r) * d..][..d];
                let scores: Vec<f64> = (0..s.keys)
                    .map(|j| {
                        let kj = &k[(h * s.keys + j) * d..][..d];
                        qr.iter().zip(kj).map(|(a, b)| (a * b) as f64).sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..d {
                    let acc: f64 = (0..s.keys)
                        .map(|j| e[j] / sum * v[(h * s.keys + j) * d + c] as f64)
                        .sum();
                    out[r * s.heads * d + head * d + c] = acc as f32;
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small deterministic generator: no RNG state to thread through.
        (0..n as u32)
            .map(|i| {
                let x = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(97));
                (x >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_the_textbook_computation_for_many_shapes() {
        // Blocks that split a head's rows, runs that cross from one query head to the next,
        // a single row, more keys than one block's buffer holds per row budget.
        for (heads, kv_heads, rows, keys, d) in [
            (4, 2, 33, 1032, 16),
            (4, 2, 1, 7, 8),
            (2, 2, 5, 3, 4),
            (8, 1, 70, 40, 8),
            (4, 4, 300, 600, 8),
            (6, 2, 17, 2000, 4),
        ] {
            let s = AttentionShape {
                heads,
                kv_heads,
                rows,
                keys,
                head_dim: d,
            };
            let q = values(heads * rows * d, 1);
            let k = values(kv_heads * keys * d, 2);
            let v = values(kv_heads * keys * d, 3);
            let got = attend_f32(&q, &k, &v, s);
            let want = naive(&q, &k, &v, s);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{s:?}: off by {worst}");
        }
    }
}
