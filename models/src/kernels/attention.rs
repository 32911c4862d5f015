//! Grouped-query attention for one f32 sequence on the CPU, fused per block of query rows.
//!
//! The tensor path (`scores = q @ k.t()`, softmax, `probs @ v`, then a transpose back to
//! `[t, heads * d]`) runs three products and a softmax as separate operations, each split over
//! the threads on its own. For a cached denoising step (a few dozen query rows against a
//! thousand keys) the products are so small that the splitting costs more than it saves. Here
//! every task takes one key/value head and a block of its query rows, and does scores, softmax
//! and weighted sum in one go, single-threaded, with its scores in a buffer that stays in
//! cache; the tasks are spread over the threads. The output is written straight into its
//! `[t, heads * d]` place.

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

impl AttentionShape {
    /// Query heads per key/value head.
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Query rows of one key/value head's group: adjacent in `q`, one matrix per head.
    fn group_rows(&self) -> usize {
        self.group() * self.rows
    }

    /// Floats in one output row, `[heads * d]`.
    fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    fn check(&self, q: &[f32], k: &[f32], v: &[f32]) {
        let (heads, kv_heads, d) = (self.heads, self.kv_heads, self.head_dim);
        assert!(
            kv_heads > 0 && heads % kv_heads == 0,
            "heads must group evenly"
        );
        assert_eq!(q.len(), heads * self.rows * d, "q is [heads, rows, d]");
        assert_eq!(
            k.len(),
            kv_heads * self.keys * d,
            "k is [kv_heads, keys, d]"
        );
        assert_eq!(v.len(), k.len(), "v is shaped like k");
    }
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

/// Blocks of fewer query rows than this take the AVX-512 kernels (heads of 64); from about 100
/// rows gemm is as fast.
const FAST_BELOW_ROWS: usize = 96;

/// Scores buffer per task at most this many floats (512 KB, half a typical L2 per core), so a
/// task's scores stay in cache.
const SCORE_FLOATS: usize = 1 << 17;

/// Which products a block of query rows runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Products {
    /// Dot products 16 keys at a time and the f32 panel kernel: heads of 64, AVX-512, few rows.
    Avx512,
    /// gemm, single-threaded: every other case.
    Gemm,
}

/// One task: rows `first..first + n` of key/value head `h`'s group of query rows.
#[derive(Debug, Clone, Copy)]
struct Block {
    h: usize,
    first: usize,
    n: usize,
}

/// `softmax(q kᵀ / √d) v` for every head. `q`: `[heads, rows, d]`, `k` and `v`:
/// `[kv_heads, keys, d]`, all contiguous. Returns `[rows, heads * d]`.
pub(crate) fn attend_f32(q: &[f32], k: &[f32], v: &[f32], s: AttentionShape) -> Vec<f32> {
    s.check(q, k, v);
    let d = s.head_dim;
    let mut out = vec![0f32; s.rows * s.width()];
    // Tasks write disjoint (row, head) blocks of `out`; the address travels as an integer
    // because raw pointers are not `Send`.
    let rows_out = Output(out.as_mut_ptr() as usize);
    // Heads of 64 on an AVX-512 CPU take this module's kernels; others go through gemm.
    let fast = d == PANEL && kernel::avx512();
    blocks(s).par_iter().for_each(|&b| {
        let products = match fast && b.n < FAST_BELOW_ROWS {
            true => Products::Avx512,
            false => Products::Gemm,
        };
        let k_head = &k[b.h * s.keys * d..][..s.keys * d];
        let v_head = &v[b.h * s.keys * d..][..s.keys * d];
        let scores = block_scores(q, k_head, s, b, products);
        // SAFETY: `out` is [rows, heads * d] and outlives the loop; the block's (row, head)
        // pairs are its own (`blocks` splits distinct pairs).
        unsafe { rows_out.weighted_values(&scores, v_head, s, b, products) };
    });
    out
}

/// The tasks: blocks of rows, balanced so that every thread has work and no scores buffer
/// spills out of cache.
fn blocks(s: AttentionShape) -> Vec<Block> {
    let group_rows = s.group_rows();
    let threads = rayon::current_num_threads().max(1);
    let max_block = (SCORE_FLOATS / s.keys.max(1)).clamp(4, 256);
    let per_head = group_rows
        .div_ceil(max_block)
        .max(threads.div_ceil(s.kv_heads))
        .min(group_rows.max(1));
    let block = group_rows.div_ceil(per_head).max(1);
    (0..s.kv_heads)
        .flat_map(|h| {
            (0..group_rows).step_by(block).map(move |first| Block {
                h,
                first,
                n: block.min(group_rows - first),
            })
        })
        .collect()
}

/// The softmax of the block's scores against `k_head` `[keys, d]`: `[n, keys]`.
fn block_scores(
    q: &[f32],
    k_head: &[f32],
    s: AttentionShape,
    b: Block,
    products: Products,
) -> Vec<f32> {
    let (d, keys) = (s.head_dim, s.keys);
    let scale = 1.0 / (d as f32).sqrt();
    let q_block = &q[(b.h * s.group_rows() + b.first) * d..][..b.n * d];
    let mut scores = vec![0f32; b.n * keys];
    match products {
        Products::Avx512 => dot::scores(q_block, k_head, scale, &mut scores),
        // SAFETY: every slice holds the extent gemm reads or writes with these strides
        // (row-major [n, d] · [d, keys] -> [n, keys]), checked by `AttentionShape::check`.
        Products::Gemm => unsafe {
            gemm(
                b.n,
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
        },
    }
    scores.chunks_mut(keys).for_each(softmax_in_place);
    scores
}

/// The address of the `[rows, heads * d]` output the tasks write into, each its own rows and
/// heads.
#[derive(Clone, Copy)]
struct Output(usize);

impl Output {
    /// Writes `scores · v_head` for the block's rows into their places.
    ///
    /// # Safety
    /// The output holds `rows * heads * d` floats, and no other task writes the block's
    /// (row, head) pairs at the same time.
    unsafe fn weighted_values(
        &self,
        scores: &[f32],
        v_head: &[f32],
        s: AttentionShape,
        b: Block,
        products: Products,
    ) {
        let (rows, keys, d) = (s.rows, s.keys, s.head_dim);
        // Row r of the block is row `(first + r) % rows` of query head
        // `h * group + (first + r) / rows`; it lands in out[row, head * d ..].
        let mut r = 0;
        while r < b.n {
            let head = b.h * s.group() + (b.first + r) / rows;
            let row = (b.first + r) % rows;
            // Rows of one query head are contiguous in both the block and the output column.
            let run = (rows - row).min(b.n - r);
            let scores = &scores[r * keys..][..run * keys];
            let dst = (self.0 as *mut f32).add(row * s.width() + head * d);
            match products {
                Products::Avx512 => panel_run(scores, run, v_head, dst, s),
                Products::Gemm => gemm_run(scores, run, v_head, dst, s),
            }
            r += run;
        }
    }
}

/// `run` rows of one query head's scores times `v_head` through the panel kernel, four rows
/// at a time: `v_head` is one `[keys, 64]` panel.
///
/// # Safety
/// `dst` starts `run` rows of `d` floats, `heads * d` apart, that this task alone writes.
unsafe fn panel_run(scores: &[f32], run: usize, v_head: &[f32], dst: *mut f32, s: AttentionShape) {
    let keys = s.keys;
    let mut tile = [0f32; 4 * PANEL];
    for g in (0..run).step_by(4) {
        let m = (run - g).min(4);
        kernel::panel_product(
            &scores[g * keys..][..m * keys],
            v_head,
            &mut tile[..m * PANEL],
        );
        for i in 0..m {
            let row = dst.add((g + i) * s.width());
            std::ptr::copy_nonoverlapping(tile[i * PANEL..].as_ptr(), row, s.head_dim);
        }
    }
}

/// [`panel_run`] through gemm.
///
/// # Safety
/// As [`panel_run`].
unsafe fn gemm_run(scores: &[f32], run: usize, v_head: &[f32], dst: *mut f32, s: AttentionShape) {
    let (keys, d) = (s.keys, s.head_dim);
    gemm(
        run,
        d,
        keys,
        dst,
        1,
        s.width() as isize,
        false,
        scores.as_ptr(),
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

/// Scores of a few query rows against every key, for heads of 64.
///
/// gemm runs `q kᵀ` over a handful of rows at a fraction of its speed (it is built for large
/// blocks). Here each score is a dot product of two 64-float rows, 16 keys at a time, and the
/// 16 partial sums are folded into one register of 16 scores by a tree of shuffles and adds.
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

/// Elsewhere `Products::Avx512` is never chosen.
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
