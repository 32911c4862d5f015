//! Matrix products against 8-bit and 4-bit weights ([`crate::quant`]) in panels.
//!
//! Like the bf16 panels ([`super::panels`]), the weights are stored in panels of 64 output
//! columns streamed in order, a few input rows at a time, so a denoising step's block of rows
//! reads each weight once per few rows rather than once per row. Inputs are quantized per row
//! in blocks of 32 (as llama.cpp's `q8_0`), and each block's product is summed in integers:
//! `vpdpbusd` on AVX-512 VNNI, `vpmaddubsw`/`vpmaddwd` on AVX2, plain code elsewhere. The
//! integer sums are exact, so the result is that of the dequantized weights and the rounded
//! inputs up to the order of the f32 sums over blocks.
//!
//! Inside a panel, block `b` (inputs `32b..32b+32`) holds its weights as 8 groups of 4
//! consecutive inputs, `[group][64 columns][4]` bytes, so one 64-byte load is 16 columns of
//! one group: what `vpdpbusd` multiplies by 4 broadcast input bytes. q8 weights are stored
//! plus 128 (as unsigned bytes, the operand `vpdpbusd` wants unsigned); q4 weights plus 8, two
//! groups to a byte (group `g` in the low nibble, `g + 4` in the high). Each sum is corrected by
//! the offset times the sum of the block's quantized inputs. Scales are f16, `[block][64]`.

use candle_core::Tensor;
use half::f16;

use super::panel_driver::{self as driver, PanelMatrix, Tiling, PARALLEL_FROM};
use super::quant_kernels::{self as qk, Acts, QIsa};
use crate::quant::{QuantKind, QuantizedMatrix, BLOCK};

/// Output columns per panel.
pub(crate) const QPANEL: usize = 64;

/// Input rows per kernel call: with 64 columns, 3 rows keep integer and float sums in the 32
/// AVX-512 registers beside the weights.
pub(crate) const QROWS: usize = 3;

/// A `[k, n]` matrix (k inputs, n outputs) of quantized weights in panels.
#[derive(Debug)]
pub(crate) struct QuantPanels {
    kind: QuantKind,
    /// Per panel, per block: [`block_bytes`] bytes.
    data: Vec<u8>,
    /// Per panel, per block: 64 scales.
    scales: Vec<f16>,
    k: usize,
    n: usize,
}

/// Bytes of one block of one panel.
pub(crate) fn block_bytes(kind: QuantKind) -> usize {
    match kind {
        QuantKind::Q8 => BLOCK * QPANEL,
        QuantKind::Q4 => BLOCK * QPANEL / 2,
    }
}

impl QuantPanels {
    /// From a `[n, k]` (`[out, in]`) quantized matrix.
    pub fn new(m: &QuantizedMatrix) -> Self {
        let (n, k) = m.dims();
        let (kind, kb, panels) = (m.kind(), k.div_ceil(BLOCK), n.div_ceil(QPANEL));
        let bb = block_bytes(kind);
        // Columns past `n` hold zero weights and scales.
        let fill = match kind {
            QuantKind::Q8 => 128u8,
            QuantKind::Q4 => 0x88,
        };
        let mut data = vec![fill; panels * kb * bb];
        let mut scales = vec![f16::ZERO; panels * kb * QPANEL];
        for col in 0..n {
            let (p, c) = (col / QPANEL, col % QPANEL);
            for b in 0..kb {
                let (q, d) = m.block(col, b);
                scales[(p * kb + b) * QPANEL + c] = f16::from_f32(d);
                let dst = &mut data[(p * kb + b) * bb..][..bb];
                for (i, &q) in q.iter().enumerate() {
                    let (g, t) = (i / 4, i % 4);
                    match kind {
                        QuantKind::Q8 => dst[(g * QPANEL + c) * 4 + t] = (q as i16 + 128) as u8,
                        QuantKind::Q4 => {
                            let byte = &mut dst[((g % 4) * QPANEL + c) * 4 + t];
                            let nib = (q + 8) as u8;
                            *byte = match g < 4 {
                                true => (*byte & 0xF0) | nib,
                                false => (*byte & 0x0F) | (nib << 4),
                            };
                        }
                    }
                }
            }
        }
        QuantPanels {
            kind,
            data,
            scales,
            k,
            n,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() + 2 * self.scales.len()
    }

    /// `x` `[m, k]`, row-major, times the matrix: `[m, n]`, with the best kernel this CPU runs.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        self.matmul_on(qk::best(), x)
    }

    /// [`matmul`](Self::matmul) with the kernel for `isa`, which this CPU must have.
    pub(crate) fn matmul_on(&self, isa: QIsa, x: &[f32]) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert!(k > 0 && x.len().is_multiple_of(k), "x is [m, {k}]");
        assert!(qk::has(isa), "{isa:?} is not on this CPU");
        let m = x.len() / k;
        let kb = k.div_ceil(BLOCK);
        let acts = Acts::quantize(isa, x, m, k, m * k >= PARALLEL_FROM / 16);
        let bb = block_bytes(self.kind);
        let tiling = Tiling {
            m,
            k,
            n,
            panel: QPANEL,
            rows: QROWS,
        };
        driver::product(tiling, |p, r, rows, tile| {
            let w = &self.data[p * kb * bb..][..kb * bb];
            let s = &self.scales[p * kb * QPANEL..][..kb * QPANEL];
            qk::panel_product(isa, self.kind, &acts.rows(r, rows), w, s, tile);
        })
    }

    /// `x` `[..., k]` (f32, CPU) times the matrix: `[..., n]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        driver::forward(self, x)
    }
}

impl PanelMatrix for QuantPanels {
    const NAME: &'static str = "quantized panel product";
    fn inputs(&self) -> usize {
        self.k
    }
    fn outputs(&self) -> usize {
        self.n
    }
    fn matmul(&self, x: &[f32]) -> Vec<f32> {
        QuantPanels::matmul(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    /// The product of the dequantized weights and the rounded inputs, in f64.
    fn reference(m: &QuantizedMatrix, x: &[f32], rows: usize) -> Vec<f64> {
        let (n, k) = m.dims();
        let w = m.dequantize();
        let acts = Acts::quantize(QIsa::Scalar, x, rows, k, false);
        let xr = acts.dequantize(k);
        let mut out = vec![0f64; rows * n];
        for r in 0..rows {
            for c in 0..n {
                out[r * n + c] = (0..k)
                    .map(|i| xr[r * k + i] as f64 * w[c * k + i] as f64)
                    .sum();
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_the_dequantized_product_for_any_rows_and_ragged_shapes() {
        let isas = qk::available();
        assert!(isas.contains(&QIsa::Scalar));
        eprintln!("kernels on this CPU: {isas:?}");
        for kind in [QuantKind::Q8, QuantKind::Q4] {
            // Widths: whole blocks, a ragged last block, ragged panels.
            for (n, k) in [(128, 64), (70, 96), (1, 33), (200, 256)] {
                let w = values(n * k, 5);
                let q = QuantizedMatrix::quantize(kind, &w, n, k);
                let panels = QuantPanels::new(&q);
                for rows in [1, 2, 3, 4, 7, 33] {
                    let x = values(rows * k, rows as u32 + 2);
                    let want = reference(&q, &x, rows);
                    for &isa in &isas {
                        let got = panels.matmul_on(isa, &x);
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            let err = (*g as f64 - w).abs();
                            assert!(
                                err < 1e-5 * (k as f64).sqrt() * (1.0 + w.abs()),
                                "{kind:?} {isa:?} n {n} k {k} rows {rows} at {i}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn inputs_are_quantized_alike_on_every_kernel() {
        let (m, k) = (5, 96);
        let x: Vec<f32> = values(m * k, 9).iter().map(|v| v * 3.0).collect();
        let want = Acts::quantize(QIsa::Scalar, &x, m, k, false);
        for isa in qk::available() {
            assert_eq!(Acts::quantize(isa, &x, m, k, false), want, "{isa:?}");
        }
    }
}
