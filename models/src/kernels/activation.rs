//! The MLP's gate: `silu(gate) * up` in one pass over f32 data.
//!
//! candle computes SiLU with the C library's scalar `expf`, writes it out, then multiplies in a
//! second pass. Here both are one loop over the vectorisable `exp` of the softmax module,
//! compiled for AVX2 where the CPU has it.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::kernels::softmax::exp_nonpositive;

/// `silu(gate) * up`, elementwise (same shapes).
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    if gate.dtype() == DType::F32 && gate.device().is_cpu() && gate.shape() == up.shape() {
        gate.contiguous()?
            .apply_op2_no_bwd(&up.contiguous()?, &SiluMulF32)
    } else {
        gate.silu()? * up
    }
}

struct SiluMulF32;

impl CustomOp2 for SiluMulF32 {
    fn name(&self) -> &'static str {
        "silu-mul-f32"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(g), CpuStorage::F32(u)) = (s1, s2) else {
            candle_core::bail!("silu-mul-f32 takes f32")
        };
        let (Some((g0, g1)), Some((u0, u1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("silu-mul-f32 takes contiguous tensors")
        };
        let mut out = g[g0..g1].to_vec();
        // Chunks big enough to pay for a thread's scheduling.
        out.par_chunks_mut(1 << 15)
            .zip(u[u0..u1].par_chunks(1 << 15))
            .for_each(|(o, u)| silu_mul_in_place(o, u));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `gate[i] = silu(gate[i]) * up[i]`.
fn silu_mul_in_place(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just found to have AVX2.
        return unsafe { silu_mul_avx2(gate, up) };
    }
    silu_mul_portable(gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn silu_mul_avx2(gate: &mut [f32], up: &[f32]) {
    silu_mul_portable(gate, up)
}

#[inline(always)]
fn silu_mul_portable(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        // silu(x) = x / (1 + e^-x), with e^-|x| so the exponential never overflows.
        let e = exp_nonpositive(-x.abs());
        let sig = if x >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        *g = x * sig * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::max_diff;
    use candle_core::Device;

    #[test]
    fn matches_candle_silu_times_up() {
        let dev = Device::Cpu;
        let gate = Tensor::randn(0f32, 6.0, (3, 70_001), &dev).unwrap();
        let up = Tensor::randn(0f32, 1.0, (3, 70_001), &dev).unwrap();
        let ours = silu_mul(&gate, &up).unwrap();
        let theirs = (gate.silu().unwrap() * &up).unwrap();
        let diff = max_diff(&ours, &theirs);
        assert!(diff < 1e-5, "max difference {diff}");
        // Extremes: large magnitudes saturate to x * up and 0, never NaN.
        let x = Tensor::new(&[-200f32, -30.0, 0.0, 30.0, 200.0], &dev).unwrap();
        let one = Tensor::ones(5, DType::F32, &dev).unwrap();
        let got: Vec<f32> = silu_mul(&x, &one).unwrap().to_vec1().unwrap();
        assert_eq!(got[0], 0.0);
        assert_eq!(got[2], 0.0);
        assert_eq!(got[4], 200.0);
        assert!((got[3] - 30.0).abs() < 1e-5 && got[1].abs() < 1e-11);
    }
}
