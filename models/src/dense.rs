//! A linear layer whose weight is kept transposed, `[in, out]`, as the matrix product reads it.
//!
//! Checkpoints store a projection as `[out, in]`, and candle-nn's `Linear` multiplies by its
//! transposed view. The product then packs that strided view into panels on every call, one
//! element at a time, which costs as much as the arithmetic when only a few rows go through: a
//! cached denoising step sends 2-40 columns. Transposing once at load time made the layer
//! products of a step over 8 columns 1.5-2x faster (`x @ W.t()` against `x @ Wt`, 33 columns: 1.5-1.7x)
//! and left the 1,032-token pass unchanged.

use candle_core::Tensor;

use crate::error::Result;

pub(crate) struct Dense {
    /// `[in, out]`, contiguous.
    weight_t: Tensor,
    /// `[out]`.
    bias: Option<Tensor>,
}

impl Dense {
    /// From a checkpoint's `[out, in]` weight.
    pub fn new(weight: &Tensor, bias: Option<Tensor>) -> Result<Self> {
        Ok(Dense {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }

    /// One layer whose outputs are those of `parts`, in order (their weights side by side,
    /// their biases too when they all have one).
    pub fn fuse(parts: &[Dense]) -> Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight_t).collect();
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|p| p.bias.as_ref()).collect();
        Ok(Dense {
            weight_t: Tensor::cat(&weights, 1)?,
            bias: biases.map(|b| Tensor::cat(&b, 0)).transpose()?,
        })
    }

    /// `x` `[..., in]` to `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.weight_t)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::max_diff;
    use candle_core::{Device, Module};

    #[test]
    fn matches_candle_linear_and_fuses_by_output() {
        let dev = Device::Cpu;
        let w1 = Tensor::randn(0f32, 1.0, (6, 4), &dev).unwrap();
        let w2 = Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap();
        let b1 = Tensor::randn(0f32, 1.0, 6, &dev).unwrap();
        let b2 = Tensor::randn(0f32, 1.0, 3, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 5, 4), &dev).unwrap();
        let ours = Dense::new(&w1, Some(b1.clone())).unwrap();
        let theirs = candle_nn::Linear::new(w1.clone(), Some(b1.clone()));
        let diff = max_diff(&ours.forward(&x).unwrap(), &theirs.forward(&x).unwrap());
        assert!(diff < 1e-5, "max difference {diff}");
        let fused = Dense::fuse(&[ours, Dense::new(&w2, Some(b2.clone())).unwrap()]).unwrap();
        let second = candle_nn::Linear::new(w2, Some(b2));
        let want = Tensor::cat(
            &[theirs.forward(&x).unwrap(), second.forward(&x).unwrap()],
            2,
        )
        .unwrap();
        let diff = max_diff(&fused.forward(&x).unwrap(), &want);
        assert!(diff < 1e-5, "max difference {diff}");
        // Without biases.
        let plain = Dense::new(&w1, None).unwrap();
        let diff = max_diff(
            &plain.forward(&x).unwrap(),
            &candle_nn::Linear::new(w1, None).forward(&x).unwrap(),
        );
        assert!(diff < 1e-5, "max difference {diff}");
    }
}
