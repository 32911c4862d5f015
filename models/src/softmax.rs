//! Softmax over the last dimension of f32 attention scores, with a vectorisable `exp`.
//!
//! candle-nn's softmax calls the scalar `expf` of the C library once per score. At 1,000 tokens
//! of context the scores are millions per layer (a 0.5B-shaped model: 15 M per layer, 24
//! layers), and profiles of a full pass show that call as one of its largest costs. Here `exp`
//! is a branch-free range reduction and polynomial the compiler turns into SIMD code, accurate to
//! a few units in the last place, and rows are spread over the threads of the global rayon pool.
//! Other dtypes go to candle-nn's softmax.

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
        let mut dst = vec![0f32; src.len()];
        // Rows in chunks, so a thread gets enough work to pay for its scheduling.
        let rows_per_task = (16_384 / width).max(1);
        src.par_chunks(width * rows_per_task)
            .zip(dst.par_chunks_mut(width * rows_per_task))
            .for_each(|(s, d)| {
                for (row, out) in s.chunks(width).zip(d.chunks_mut(width)) {
                    softmax_row(row, out);
                }
            });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

fn softmax_row(row: &[f32], out: &mut [f32]) {
    let max = max_of(row);
    if max == f32::NEG_INFINITY {
        // Every key masked: nothing to attend to (candle's softmax gives NaN here).
        out.fill(0.0);
        return;
    }
    for (o, &x) in out.iter_mut().zip(row) {
        *o = exp_nonpositive(x - max);
    }
    let sum = sum_of(out);
    let inv = 1.0 / sum;
    out.iter_mut().for_each(|o| *o *= inv);
}

/// Maximum in eight lanes (a plain fold over `f32::max` does not vectorise).
fn max_of(xs: &[f32]) -> f32 {
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
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so n * LN2_HI is exact for the n that occur here.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 * 2^23 rounds to the nearest integer, without a branch or a call.
    const ROUND: f32 = 12_582_912.0;
    let keep = x >= -87.3;
    let x = if keep { x } else { 0.0 };
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients of e^r to r^6: under 2e-7 relative error on |r| <= 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
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
