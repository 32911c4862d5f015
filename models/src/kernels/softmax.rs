//! Softmax over the last dimension of f32 attention scores, with a vectorisable `exp`.
//!
//! candle-nn's softmax calls the scalar `expf` of the C library once per score, and at a
//! thousand tokens of context the scores are millions per layer. Here `exp` is a branch-free
//! range reduction and polynomial the compiler turns into SIMD code, accurate to a few units in
//! the last place, and rows are spread over the threads of the global rayon pool. Other dtypes
//! go to candle-nn's softmax.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// `softmax(x)` along the last dimension (as `candle_nn::ops::softmax_last_dim`).
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.dtype() == DType::F32 && x.device().is_cpu() {
        x.contiguous()?.apply_op1_no_bwd(&SoftmaxF32)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

struct SoftmaxF32;

impl CustomOp1 for SoftmaxF32 {
    fn name(&self) -> &'static str {
        "softmax-last-dim-f32"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(all) = storage else {
            candle_core::bail!("softmax-last-dim-f32 takes f32")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("softmax-last-dim-f32 takes a contiguous tensor")
        };
        let src = &all[start..end];
        let width = layout.dims().last().copied().unwrap_or(1).max(1);
        // A copy that each row's softmax then overwrites in place (no zero-filling first).
        let mut dst = src.to_vec();
        // Rows in chunks, so a thread gets enough work to pay for its scheduling.
        let rows_per_task = (16_384 / width).max(1);
        dst.par_chunks_mut(width * rows_per_task).for_each(|rows| {
            rows.chunks_mut(width).for_each(softmax_in_place);
        });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// The softmax of `row`, in place, with the same vectorised arithmetic as the attention's (the
/// sampler runs it over a vocabulary-wide row per masked position per step). A row of -inf only
/// gives zeros.
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just found to have AVX2.
        return unsafe { softmax_in_place_avx2(row) };
    }
    softmax_in_place_portable(row)
}

/// The same code compiled for AVX2: a release build targets baseline x86-64 (4-lane SSE2),
/// too narrow for a softmax over every score of a pass. The arithmetic is identical (no fused
/// multiply-adds are introduced), so both versions give the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_in_place_avx2(row: &mut [f32]) {
    softmax_in_place_portable(row)
}

#[inline(always)]
fn softmax_in_place_portable(row: &mut [f32]) {
    let max = max_of(row);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    row.iter_mut().for_each(|x| *x = exp_nonpositive(*x - max));
    let inv = 1.0 / sum_of(row);
    row.iter_mut().for_each(|x| *x *= inv);
}

/// Maximum in eight lanes (a plain fold over `f32::max` does not vectorise).
#[inline(always)]
pub(crate) fn max_of(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = if x > *l { x } else { *l };
        }
    }
    let tail = chunks.remainder().iter().copied();
    lanes
        .into_iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Sum in eight lanes (float addition is not reassociated for us).
#[inline(always)]
fn sum_of(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `e^x` for `x <= 0` (NaN and -inf give 0): x = n ln 2 + r with |r| <= ln 2 / 2, e^r by a
/// degree-6 polynomial, 2^n put into the exponent bits. Below -87.3 the result would be
/// subnormal and is flushed to 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so n * LN2_HI is exact for the n that occur here.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 * 2^23 rounds to the nearest integer, without a branch or a call.
    const ROUND: f32 = 12_582_912.0;
    let keep = x >= -87.3;
    let x = if keep { x } else { 0.0 };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients of e^r to r^6: under 2e-7 relative error on |r| <= 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // t's low mantissa bits hold n as an integer: taking it from there vectorises, where the
    // float-to-int cast (saturating in Rust) compiled to scalar code with NaN checks.
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    if keep {
        p * scale
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::max_diff;
    use candle_core::Device;

    #[test]
    fn exp_is_close_to_the_library_exp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let got = exp_nonpositive(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NAN), 0.0);
    }

    #[test]
    fn a_vocabulary_row_in_place_matches_a_double_precision_softmax() {
        // The sampler's use: one row of logits per masked position, the mask token forbidden.
        let mut row: Vec<f32> = (0..12_288)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.03)
            .collect();
        row[1] = f32::NEG_INFINITY;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let total: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        let want: Vec<f64> = row
            .iter()
            .map(|&x| (x as f64 - max).exp() / total)
            .collect();
        softmax_in_place(&mut row);
        let worst = row
            .iter()
            .zip(&want)
            .map(|(&g, &w)| (g as f64 - w).abs() / w.max(1e-30))
            .filter(|e| e.is_finite())
            .fold(0f64, f64::max);
        assert!(worst < 1e-5, "worst relative error {worst}");
        assert_eq!(row[1], 0.0);
        let mut masked = vec![f32::NEG_INFINITY; 5];
        softmax_in_place(&mut masked);
        assert_eq!(masked, vec![0.0; 5]);
    }

    #[test]
    fn the_simd_build_gives_the_portable_build_bit_for_bit() {
        let row: Vec<f32> = (0..1_000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.7)
            .collect();
        let mut a = row.clone();
        let mut b = row;
        softmax_in_place(&mut a);
        softmax_in_place_portable(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn matches_candle_softmax_with_masked_keys() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 4.0, (3, 5, 77), &dev).unwrap();
        // A masked key in every row, as the attention bias makes them.
        let mut bias = vec![0f32; 77];
        bias[10] = f32::NEG_INFINITY;
        let bias = Tensor::from_vec(bias, 77, &dev).unwrap();
        let x = x.broadcast_add(&bias).unwrap();
        let ours = softmax_last_dim(&x).unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&x).unwrap();
        let diff = max_diff(&ours, &theirs);
        assert!(diff < 1e-6, "max difference {diff}");
        let masked: Vec<f32> = ours
            .narrow(2, 10, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(masked.iter().all(|&p| p == 0.0));
        // A strided input goes through a contiguous copy.
        let t = x.transpose(0, 1).unwrap();
        let a = softmax_last_dim(&t).unwrap();
        let b = candle_nn::ops::softmax_last_dim(&t.contiguous().unwrap()).unwrap();
        let diff = max_diff(&a, &b);
        assert!(diff < 1e-6, "max difference {diff}");
    }
}
