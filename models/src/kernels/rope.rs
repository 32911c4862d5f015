//! Rotary position embedding (the "rotate half" form of Qwen2, Dream and LLaDA) for f32 on the
//! CPU, with the same arithmetic as candle-nn's `rope`, but run on the calling thread when the
//! tensor is small.
//!
//! candle-nn spreads every call over the thread pool, one task per head. A cached denoising step
//! rotates a few rows per head, and waking the pool costs more than the rotation.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Below this many elements a call stays on the calling thread (a full pass of the default
/// model rotates 264 K per call; a 33-column step 8 K).
const SERIAL_BELOW: usize = 1 << 16;

/// `x` `[b, heads, t, d]` rotated by `cos` / `sin` `[t, d / 2]`, as
/// `candle_nn::rotary_emb::rope`, which other dtypes and devices go to.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let f32_cpu = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu();
    if f32_cpu(x) && f32_cpu(cos) && f32_cpu(sin) && x.rank() == 4 && cos.rank() == 2 {
        let (_, _, t, d) = x.dims4()?;
        if d % 2 == 0 && cos.dims() == [t, d / 2] && sin.dims() == cos.dims() {
            return x
                .contiguous()?
                .apply_op3_no_bwd(&cos.contiguous()?, &sin.contiguous()?, &Rope);
        }
    }
    candle_nn::rotary_emb::rope(x, cos, sin)
}

struct Rope;

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "rope-f32"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        cos: &CpuStorage,
        cl: &Layout,
        sin: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
            match (s, l.contiguous_offsets()) {
                (CpuStorage::F32(all), Some((start, end))) => Ok(&all[start..end]),
                _ => candle_core::bail!("rope takes contiguous f32 tensors"),
            }
        }
        let (x, cos, sin) = (slice(x, xl)?, slice(cos, cl)?, slice(sin, sl)?);
        let (_, _, t, d) = xl.shape().dims4()?;
        let mut out = vec![0f32; x.len()];
        // One head's rows at a time: [t, d] against the [t, d / 2] tables.
        let head = |(src, dst): (&[f32], &mut [f32])| {
            for ((row, out), (c, s)) in src
                .chunks_exact(d)
                .zip(dst.chunks_exact_mut(d))
                .zip(cos.chunks_exact(d / 2).zip(sin.chunks_exact(d / 2)))
            {
                let (a, b) = row.split_at(d / 2);
                let (lo, hi) = out.split_at_mut(d / 2);
                for i in 0..d / 2 {
                    // The order of candle-nn's expression, so results agree bit for bit.
                    lo[i] = a[i] * c[i] - b[i] * s[i];
                    hi[i] = a[i] * s[i] + b[i] * c[i];
                }
            }
        };
        let per_head = t * d;
        if x.len() < SERIAL_BELOW {
            x.chunks(per_head.max(1))
                .zip(out.chunks_mut(per_head.max(1)))
                .for_each(head);
        } else {
            x.par_chunks(per_head)
                .zip(out.par_chunks_mut(per_head))
                .for_each(head);
        }
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn agrees_bit_for_bit_with_candle_nn_small_and_large() {
        let dev = Device::Cpu;
        for (b, h, t, d) in [(1, 4, 3, 8), (1, 2, 1, 64), (2, 3, 700, 64)] {
            let x = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev).unwrap();
            let cos = Tensor::randn(0f32, 1.0, (t, d / 2), &dev).unwrap();
            let sin = Tensor::randn(0f32, 1.0, (t, d / 2), &dev).unwrap();
            let ours: Vec<f32> = rope(&x, &cos, &sin)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let theirs: Vec<f32> = candle_nn::rotary_emb::rope(&x, &cos, &sin)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(ours, theirs, "{:?}", (b, h, t, d));
        }
    }
}
