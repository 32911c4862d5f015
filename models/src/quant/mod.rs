//! Weights held as 8-bit or 4-bit integers in blocks of 32 with one scale each, in the byte
//! layouts of llama.cpp's `q8_0` and `q4_0`, so GGUF tensors of those types are taken as they
//! are stored and weights read from safetensors are quantized into the same blocks.
//!
//! A [`QuantizedMatrix`] is a `[rows, cols]` weight (`[out, in]`, as checkpoints store it) held
//! row by row in blocks; [`crate::kernels::quant_panels`] repacks it into panels for products.

mod blocks;

pub use blocks::{BlockQ4_0, BlockQ8_0, QuantKind, QuantizedMatrix, BLOCK};
