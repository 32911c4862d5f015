//! Rotary position angles: the cos / sin tables for a set of positions, and for one shift of
//! every position (rotations compose, so moving cached keys by `d` positions is one more
//! rotation by `d`). The rotation itself is [`crate::kernels::rope`].

use candle_core::{DType, Device, Tensor};

use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::rope::rope;

/// The model's rotary frequencies, in the dtype and on the device of its tensors.
pub(crate) struct RotaryEmbedding {
    inv_freq: Vec<f64>,
    dtype: DType,
    device: Device,
}

/// Rotary angles for a set of positions, `[positions, head_dim / 2]` each.
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl RotaryEmbedding {
    pub fn new(cfg: &ArchConfig, dtype: DType, device: &Device) -> Self {
        let half = cfg.head_dim / 2;
        let inv_freq = (0..half)
            .map(|j| 1.0 / cfg.rope_theta.powf((2 * j) as f64 / cfg.head_dim as f64))
            .collect();
        RotaryEmbedding {
            inv_freq,
            dtype,
            device: device.clone(),
        }
    }

    /// The angles of `positions`.
    pub fn at(&self, positions: &[usize]) -> Result<Rotary> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = p as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let shape = (positions.len(), half);
        Ok(Rotary {
            cos: Tensor::from_vec(cos, shape, &self.device)?.to_dtype(self.dtype)?,
            sin: Tensor::from_vec(sin, shape, &self.device)?.to_dtype(self.dtype)?,
        })
    }

    /// The angles of a shift by `delta` positions, for `rows` rows.
    pub fn shift(&self, delta: f64, rows: usize) -> Result<Rotary> {
        let half = self.inv_freq.len();
        let (mut cos, mut sin) = (Vec::with_capacity(half), Vec::with_capacity(half));
        for f in &self.inv_freq {
            cos.push((delta * f).cos() as f32);
            sin.push((delta * f).sin() as f32);
        }
        let row = |v: Vec<f32>| -> Result<Tensor> {
            Ok(Tensor::from_vec(v, (1, half), &self.device)?
                .to_dtype(self.dtype)?
                .repeat((rows, 1))?)
        };
        Ok(Rotary {
            cos: row(cos)?,
            sin: row(sin)?,
        })
    }
}

impl Rotary {
    /// `x` `[b, heads, positions, head_dim]`, contiguous, rotated.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(rope(x, &self.cos, &self.sin)?)
    }
}
