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

use crate::kernels::panels::{kernel, PANEL};
use crate::kernels::softmax::softmax_in_place;

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

/// Blocks of fewer query rows than this take the AVX-512 kernels below (heads of 64); gemm is
/// faster from about 100 rows (a full pass: 122-row blocks, 80-84 ms against 82-89).
const FAST_BELOW_ROWS: usize = 96;

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
    // Heads of 64 on an AVX-512 CPU take this module's kernels; others go through gemm.
    let fast = d == PANEL && kernel::avx512();
    tasks.par_iter().for_each(|&(h, first)| {
        let n = block.min(group_rows - first);
        let mut scores = vec![0f32; n * keys];
        let q_block = &q[(h * group_rows + first) * d..][..n * d];
        let k_head = &k[h * keys * d..][..keys * d];
        let v_head = &v[h * keys * d..][..keys * d];
        // Blocks of many rows (a full pass) run faster through gemm.
        let fast = fast && n < FAST_BELOW_ROWS;
        if fast {
            dot::scores(q_block, k_head, scale, &mut scores);
        } else {
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
            if fast {
                // Four rows at a time through the panel kernel: `v_head` is one [keys, 64] panel.
                let mut tile = [0f32; 4 * PANEL];
                for g in (0..run).step_by(4) {
                    let m = (run - g).min(4);
                    let x = &scores[(r + g) * keys..][..m * keys];
                    kernel::panel_product(x, v_head, &mut tile[..m * PANEL]);
                    for i in 0..m {
                        // SAFETY: as below, for row `row + g + i` alone.
                        unsafe {
                            let dst = (out_addr as *mut f32).add((row + g + i) * width + head * d);
                            std::ptr::copy_nonoverlapping(tile[i * PANEL..].as_ptr(), dst, d);
                        }
                    }
                }
            } else {
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
            }
            r += run;
        }
    });
    out
}

/// Scores of a few query rows against every key, for heads of 64.
///
/// gemm runs `q kᵀ` over a handful of rows at a fraction of its speed (a 4-row block against
/// 1,032 keys: 13 GFLOP/s). Here each score is a dot product of two 64-float rows, 16 keys at a
/// time, and the 16 partial sums are folded into one register of 16 scores by a tree of
/// shuffles and adds.
#[cfg(target_arch = "x86_64")]
mod dot {
    use std::arch::x86_64::*;

    /// `out[r, j] = scale * (q[r] . k[j])`: `q` is `[n, 64]`, `k` `[keys, 64]`, `out`
    /// `[n, keys]`.
    pub fn scores(q: &[f32], k: &[f32], scale: f32, out: &mut [f32]) {
        let (n, keys) = (q.len() / 64, k.len() / 64);
        assert!(q.len() == n * 64 && k.len() == keys * 64 && out.len() == n * keys);
        assert!(super::kernel::avx512(), "AVX-512 only");
        // SAFETY: AVX-512 is present and the slices have the lengths read and written (both
        // checked above).
        unsafe { scores_avx512(q, k, scale, out) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn scores_avx512(q: &[f32], k: &[f32], scale: f32, out: &mut [f32]) {
        let (n, keys) = (q.len() / 64, k.len() / 64);
        let scale = _mm512_set1_ps(scale);
        let (qp, kp, op) = (q.as_ptr(), k.as_ptr(), out.as_mut_ptr());
        for first in (0..keys).step_by(16) {
            let count = (keys - first).min(16);
            // The block's keys stay in L1 while every row goes past them.
            for r in 0..n {
                let q_row = qp.add(r * 64);
                let qv = [
                    _mm512_loadu_ps(q_row),
                    _mm512_loadu_ps(q_row.add(16)),
                    _mm512_loadu_ps(q_row.add(32)),
                    _mm512_loadu_ps(q_row.add(48)),
                ];
                let dot = |j: usize| {
                    let key = kp.add((first + j) * 64);
                    let mut a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(key));
                    a = _mm512_fmadd_ps(qv[1], _mm512_loadu_ps(key.add(16)), a);
                    a = _mm512_fmadd_ps(qv[2], _mm512_loadu_ps(key.add(32)), a);
                    _mm512_fmadd_ps(qv[3], _mm512_loadu_ps(key.add(48)), a)
                };
                let mut acc = [_mm512_setzero_ps(); 16];
                if count == 16 {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = dot(j);
                    }
                } else {
                    for (j, a) in acc.iter_mut().enumerate().take(count) {
                        *a = dot(j);
                    }
                }
                let v = _mm512_mul_ps(fold16(&acc), scale);
                let mask: __mmask16 = if count == 16 { !0 } else { (1 << count) - 1 };
                _mm512_mask_storeu_ps(op.add(r * keys + first), mask, v);
            }
        }
    }

    /// Lane `i` of the result is the sum of the 16 lanes of `a[i]`.
    #[inline(always)]
    unsafe fn fold16(a: &[__m512; 16]) -> __m512 {
        // Pairs: per 128-bit lane, [x0+x2, y0+y2, x1+x3, y1+y3] for x = a[2i], y = a[2i+1].
        let mut t = [_mm512_setzero_ps(); 8];
        for (i, t) in t.iter_mut().enumerate() {
            let (x, y) = (a[2 * i], a[2 * i + 1]);
            *t = _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y));
        }
        // Quads: per 128-bit lane, that lane's sums of a[4i], a[4i+1], a[4i+2], a[4i+3].
        let mut u = [_mm512_setzero_ps(); 4];
        for (i, u) in u.iter_mut().enumerate() {
            let (x, y) = (t[2 * i], t[2 * i + 1]);
            *u = _mm512_add_ps(
                _mm512_shuffle_ps::<0x44>(x, y),
                _mm512_shuffle_ps::<0xEE>(x, y),
            );
        }
        // Across the four 128-bit lanes: lane block i of the result is u[i]'s total.
        let s01 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(u[0], u[1]),
            _mm512_shuffle_f32x4::<0xEE>(u[0], u[1]),
        );
        let s23 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(u[2], u[3]),
            _mm512_shuffle_f32x4::<0xEE>(u[2], u[3]),
        );
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(s01, s23),
            _mm512_shuffle_f32x4::<0xDD>(s01, s23),
        )
    }
}

/// Elsewhere `fast` is never set.
#[cfg(not(target_arch = "x86_64"))]
mod dot {
    pub fn scores(_: &[f32], _: &[f32], _: f32, _: &mut [f32]) {
        unreachable!("AVX-512 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

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

    #[test]
    fn matches_the_textbook_computation_for_many_shapes() {
        // Blocks that split a head's rows, runs that cross from one query head to the next,
        // a single row, more keys than one block's buffer holds per row budget.
        // Heads of 64 take the AVX-512 kernels where the CPU has them: key counts that are and
        // are not multiples of 16, row counts that are and are not multiples of 4.
        for (heads, kv_heads, rows, keys, d) in [
            (4, 2, 33, 1032, 64),
            (4, 2, 2, 17, 64),
            (2, 1, 7, 5, 64),
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
