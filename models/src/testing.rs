//! Helpers shared by the crate's unit tests.

use candle_core::Tensor;

/// max |a - b| over all elements (f32 tensors of one shape).
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
