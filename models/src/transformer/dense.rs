//! A linear layer, with its weight in the layout its product reads fastest.
//!
//! Checkpoints store a projection as `[out, in]`. Where the weights are exactly bf16 (as
//! shipped checkpoints are) and the CPU has AVX-512 or AVX2, they are kept as bf16 panels
//! ([`crate::kernels::panels`]): half the bytes to read, and a product that streams them in
//! order. Otherwise the weight is kept transposed, `[in, out]`: multiplying by the transposed
//! view, as candle-nn's `Linear` does, makes the product pack that strided view on every call,
//! one element at a time, which costs as much as the arithmetic when only a few rows go through
//! (a cached denoising step sends a few dozen columns).

use candle_core::Tensor;

use super::weights::Matrix;
use crate::error::{Error, Result};
use crate::kernels::panels::{self, Bf16Panels, ProductPrecision};
use crate::kernels::quant_panels::QuantPanels;
use crate::quant::QuantizedMatrix;

pub(crate) struct Dense {
    weight: Weight,
    /// `[out]`.
    bias: Option<Tensor>,
}

enum Weight {
    /// bf16 panels (see [`crate::kernels::panels`]): f32 weights that are exactly bf16, on a CPU with AVX-512
    /// or AVX2.
    Panels(Bf16Panels),
    /// `[in, out]`, contiguous: every other case.
    Transposed(Tensor),
    /// 8- or 4-bit weights in panels (see [`crate::kernels::quant_panels`]).
    Quantized(QuantPanels),
}

impl Dense {
    /// From a checkpoint's `[out, in]` weight.
    pub fn new(weight: &Tensor, bias: Option<Tensor>, precision: ProductPrecision) -> Result<Self> {
        let panels = if panels::accepts(weight) {
            let (out, inputs) = weight.dims2()?;
            let values = weight.flatten_all()?.to_vec1::<f32>()?;
            Bf16Panels::from_out_in(&values, out, inputs, precision)
        } else {
            None
        };
        let weight = match panels {
            Some(p) => Weight::Panels(p),
            None => Weight::Transposed(weight.t()?.contiguous()?),
        };
        Ok(Dense { weight, bias })
    }

    /// From quantized `[out, in]` blocks.
    pub fn quantized(weight: &QuantizedMatrix, bias: Option<Tensor>) -> Self {
        Dense {
            weight: Weight::Quantized(QuantPanels::new(weight)),
            bias,
        }
    }

    /// From a loaded matrix, quantized or not.
    pub fn from_matrix(
        weight: Matrix,
        bias: Option<Tensor>,
        precision: ProductPrecision,
    ) -> Result<Self> {
        match weight {
            Matrix::Plain(w) => Dense::new(&w, bias, precision),
            Matrix::Quantized(q) => Ok(Dense::quantized(&q, bias)),
        }
    }

    /// [`fused`](Self::fused) for loaded matrices: all quantized or all plain.
    pub fn fused_matrices(
        weights: Vec<Matrix>,
        biases: &[Option<Tensor>],
        precision: ProductPrecision,
    ) -> Result<Self> {
        let (mut plain, mut quantized) = (Vec::new(), Vec::new());
        for w in weights {
            match w {
                Matrix::Plain(t) => plain.push(t),
                Matrix::Quantized(q) => quantized.push(q),
            }
        }
        match (plain.is_empty(), quantized.is_empty()) {
            (false, true) => Dense::fused(&plain, biases, precision),
            (true, false) => {
                let bias: Option<Vec<&Tensor>> = biases.iter().map(Option::as_ref).collect();
                let bias = bias.map(|b| Tensor::cat(&b, 0)).transpose()?;
                Ok(Dense::quantized(
                    &QuantizedMatrix::cat_rows(quantized)?,
                    bias,
                ))
            }
            _ => Err(Error::InvalidRequest(
                "fused projections must all be quantized or none".into(),
            )),
        }
    }

    /// Bytes the weight and bias hold.
    pub fn bytes(&self) -> usize {
        let weight = match &self.weight {
            Weight::Panels(p) => p.bytes(),
            Weight::Transposed(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Weight::Quantized(q) => q.bytes(),
        };
        let bias = self
            .bias
            .as_ref()
            .map_or(0, |b| b.elem_count() * b.dtype().size_in_bytes());
        weight + bias
    }

    /// One layer whose outputs are those of the `[out, in]` `weights`, in order (and their
    /// biases, when they all have one).
    pub fn fused(
        weights: &[Tensor],
        biases: &[Option<Tensor>],
        precision: ProductPrecision,
    ) -> Result<Self> {
        let bias: Option<Vec<&Tensor>> = biases.iter().map(Option::as_ref).collect();
        Dense::new(
            &Tensor::cat(weights, 0)?,
            bias.map(|b| Tensor::cat(&b, 0)).transpose()?,
            precision,
        )
    }

    /// Whether the product runs on bf16 panels.
    pub fn on_panels(&self) -> bool {
        matches!(self.weight, Weight::Panels(_))
    }

    /// `x` `[..., in]` to `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.weight {
            Weight::Panels(p) if panels::accepts(x) => p.forward(x)?,
            Weight::Quantized(q) if panels::accepts(x) => q.forward(x)?,
            Weight::Panels(_) | Weight::Quantized(_) => {
                return Err(Error::InvalidRequest(format!(
                    "a {:?} input for f32 weights",
                    x.dtype()
                )))
            }
            Weight::Transposed(w) => x.broadcast_matmul(w)?,
        };
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
    use candle_core::{DType, Device, Module};

    /// Random f32 weights holding values of the `stored` dtype (as loaded from a checkpoint).
    fn weight(out: usize, inputs: usize, stored: DType) -> Tensor {
        let w = Tensor::randn(0f32, 1.0, (out, inputs), &Device::Cpu).unwrap();
        w.to_dtype(stored).unwrap().to_dtype(DType::F32).unwrap()
    }

    #[test]
    fn matches_candle_linear_and_fuses_by_output_on_either_layout() {
        let dev = Device::Cpu;
        // bf16-exact weights take the panels where the CPU has AVX-512 or AVX2; others never do.
        for stored in [DType::F32, DType::BF16] {
            let (w1, w2) = (weight(70, 4, stored), weight(3, 4, stored));
            let b1 = Tensor::randn(0f32, 1.0, 70, &dev).unwrap();
            let b2 = Tensor::randn(0f32, 1.0, 3, &dev).unwrap();
            let x = Tensor::randn(0f32, 1.0, (2, 5, 4), &dev).unwrap();
            let ours = Dense::new(&w1, Some(b1.clone()), ProductPrecision::F32).unwrap();
            if stored == DType::F32 {
                assert!(!ours.on_panels(), "f32 weights are never rounded to bf16");
            }
            let theirs = candle_nn::Linear::new(w1.clone(), Some(b1.clone()));
            let diff = max_diff(&ours.forward(&x).unwrap(), &theirs.forward(&x).unwrap());
            assert!(diff < 1e-5, "max difference {diff}");
            let fused = Dense::fused(
                &[w1.clone(), w2.clone()],
                &[Some(b1), Some(b2.clone())],
                ProductPrecision::F32,
            )
            .unwrap();
            let second = candle_nn::Linear::new(w2, Some(b2));
            let want = Tensor::cat(
                &[theirs.forward(&x).unwrap(), second.forward(&x).unwrap()],
                2,
            )
            .unwrap();
            let diff = max_diff(&fused.forward(&x).unwrap(), &want);
            assert!(diff < 1e-5, "max difference {diff}");
            // Without biases.
            let plain = Dense::new(&w1, None, ProductPrecision::F32).unwrap();
            let diff = max_diff(
                &plain.forward(&x).unwrap(),
                &candle_nn::Linear::new(w1, None).forward(&x).unwrap(),
            );
            assert!(diff < 1e-5, "max difference {diff}");
        }
    }
}
