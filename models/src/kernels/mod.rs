//! CPU kernels for the f32 operations where candle's general ones are slow for the engine's
//! shapes: a denoising step runs a few dozen rows through every layer, so per-call overheads
//! (thread wake-ups, strided packing, scalar `expf`) cost as much as the arithmetic. Each
//! kernel takes the general path for other dtypes and devices.

pub(crate) mod activation;
pub(crate) mod attention;
pub(crate) mod panel_driver;
pub(crate) mod panels;
pub(crate) mod quant_kernels;
pub(crate) mod quant_panels;
pub(crate) mod rope;
pub(crate) mod softmax;
