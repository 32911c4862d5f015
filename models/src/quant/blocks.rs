//! The blocks (byte for byte llama.cpp's `block_q8_0` and `block_q4_0`) and a matrix of them.

use candle_core::{DType, Tensor};
use half::f16;

use crate::error::{Error, Result};

/// Weights per block.
pub const BLOCK: usize = 32;

/// llama.cpp's `block_q8_0`: weight `i` is `d * qs[i]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; BLOCK],
}

/// llama.cpp's `block_q4_0`: weight `i < 16` is `d * ((qs[i] & 15) - 8)`, weight `i + 16` is
/// `d * ((qs[i] >> 4) - 8)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; BLOCK / 2],
}

/// How weights are quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantKind {
    /// 8-bit, as `q8_0`.
    Q8,
    /// 4-bit, as `q4_0`.
    Q4,
}

/// A `[rows, cols]` matrix, each row in `cols.div_ceil(32)` blocks (a last partial block is
/// padded with zero weights).
#[derive(Debug, Clone, PartialEq)]
pub enum QuantizedMatrix {
    Q8 {
        blocks: Vec<BlockQ8_0>,
        rows: usize,
        cols: usize,
    },
    Q4 {
        blocks: Vec<BlockQ4_0>,
        rows: usize,
        cols: usize,
    },
}

fn check_blocks(have: usize, rows: usize, cols: usize) -> Result<()> {
    let want = rows * cols.div_ceil(BLOCK);
    if have != want {
        return Err(Error::InvalidRequest(format!(
            "a [{rows}, {cols}] quantized matrix has {want} blocks, not {have}"
        )));
    }
    Ok(())
}

impl QuantizedMatrix {
    /// From `q8_0` blocks as stored (a GGUF tensor's data), row by row.
    pub fn from_q8_0(blocks: Vec<BlockQ8_0>, rows: usize, cols: usize) -> Result<Self> {
        check_blocks(blocks.len(), rows, cols)?;
        Ok(QuantizedMatrix::Q8 { blocks, rows, cols })
    }

    /// From `q4_0` blocks as stored, row by row.
    pub fn from_q4_0(blocks: Vec<BlockQ4_0>, rows: usize, cols: usize) -> Result<Self> {
        check_blocks(blocks.len(), rows, cols)?;
        Ok(QuantizedMatrix::Q4 { blocks, rows, cols })
    }

    /// Quantizes a row-major `[rows, cols]` f32 matrix, as llama.cpp's reference quantizers do.
    pub fn quantize(kind: QuantKind, w: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(w.len(), rows * cols, "w is [rows, cols]");
        let padded = |row: &[f32], b: usize| -> [f32; BLOCK] {
            let mut v = [0f32; BLOCK];
            let part = &row[b * BLOCK..cols.min((b + 1) * BLOCK)];
            v[..part.len()].copy_from_slice(part);
            v
        };
        let per_row = cols.div_ceil(BLOCK);
        let each = |f: &mut dyn FnMut([f32; BLOCK])| {
            for row in w.chunks_exact(cols.max(1)).take(rows) {
                (0..per_row).for_each(|b| f(padded(row, b)));
            }
        };
        match kind {
            QuantKind::Q8 => {
                let mut blocks = Vec::with_capacity(rows * per_row);
                each(&mut |v| blocks.push(quantize_q8_0(&v)));
                QuantizedMatrix::Q8 { blocks, rows, cols }
            }
            QuantKind::Q4 => {
                let mut blocks = Vec::with_capacity(rows * per_row);
                each(&mut |v| blocks.push(quantize_q4_0(&v)));
                QuantizedMatrix::Q4 { blocks, rows, cols }
            }
        }
    }

    /// Quantizes a `[rows, cols]` tensor of any float dtype a few rows at a time, so no f32
    /// copy of the whole of it (a 7B model's head: 2 GB) is ever made.
    pub fn quantize_tensor(kind: QuantKind, t: &Tensor) -> Result<Self> {
        let (rows, cols) = t.dims2()?;
        Self::quantize_by_rows(kind, rows, cols, &mut |start, n| {
            let part = t.narrow(0, start, n)?.to_dtype(DType::F32)?;
            Ok(part.flatten_all()?.to_vec1::<f32>()?)
        })
    }

    /// Quantizes a `[rows, cols]` matrix whose rows `start..start + n` `rows_at` gives as f32,
    /// about a million values at a time, into blocks allocated once.
    pub fn quantize_by_rows(
        kind: QuantKind,
        rows: usize,
        cols: usize,
        rows_at: &mut dyn FnMut(usize, usize) -> Result<Vec<f32>>,
    ) -> Result<Self> {
        let step = ((1 << 20) / cols.max(1)).max(1);
        let per_row = cols.div_ceil(BLOCK);
        let mut all = match kind {
            QuantKind::Q8 => QuantizedMatrix::Q8 {
                blocks: Vec::with_capacity(rows * per_row),
                rows: 0,
                cols,
            },
            QuantKind::Q4 => QuantizedMatrix::Q4 {
                blocks: Vec::with_capacity(rows * per_row),
                rows: 0,
                cols,
            },
        };
        for start in (0..rows).step_by(step) {
            let n = step.min(rows - start);
            all.append(Self::quantize(kind, &rows_at(start, n)?, n, cols));
        }
        Ok(all)
    }

    /// Adds the rows of `part`, of the same kind and width.
    fn append(&mut self, part: QuantizedMatrix) {
        match (self, part) {
            (
                QuantizedMatrix::Q8 { blocks, rows, .. },
                QuantizedMatrix::Q8 {
                    blocks: b, rows: n, ..
                },
            ) => {
                blocks.extend(b);
                *rows += n;
            }
            (
                QuantizedMatrix::Q4 { blocks, rows, .. },
                QuantizedMatrix::Q4 {
                    blocks: b, rows: n, ..
                },
            ) => {
                blocks.extend(b);
                *rows += n;
            }
            _ => unreachable!("parts of one kind"),
        }
    }

    pub fn kind(&self) -> QuantKind {
        match self {
            QuantizedMatrix::Q8 { .. } => QuantKind::Q8,
            QuantizedMatrix::Q4 { .. } => QuantKind::Q4,
        }
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            QuantizedMatrix::Q8 { rows, cols, .. } | QuantizedMatrix::Q4 { rows, cols, .. } => {
                (*rows, *cols)
            }
        }
    }

    /// The integer weights (`-127..=127` for q8, `-8..=7` for q4) and scale of block `b` of
    /// row `r`.
    pub fn block(&self, r: usize, b: usize) -> ([i8; BLOCK], f32) {
        let (_, cols) = self.dims();
        let at = r * cols.div_ceil(BLOCK) + b;
        match self {
            QuantizedMatrix::Q8 { blocks, .. } => (blocks[at].qs, blocks[at].d.to_f32()),
            QuantizedMatrix::Q4 { blocks, .. } => {
                let blk = &blocks[at];
                let mut q = [0i8; BLOCK];
                for (i, &byte) in blk.qs.iter().enumerate() {
                    q[i] = (byte & 15) as i8 - 8;
                    q[i + BLOCK / 2] = (byte >> 4) as i8 - 8;
                }
                (q, blk.d.to_f32())
            }
        }
    }

    /// The weights the blocks stand for, row-major `[rows, cols]`.
    pub fn dequantize(&self) -> Vec<f32> {
        let (rows, cols) = self.dims();
        let mut out = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for b in 0..cols.div_ceil(BLOCK) {
                let (q, d) = self.block(r, b);
                let n = BLOCK.min(cols - b * BLOCK);
                out.extend(q[..n].iter().map(|&q| q as f32 * d));
            }
        }
        out
    }

    /// The matrix whose rows are those of `parts` in order (fusing projections by output).
    pub fn cat_rows(parts: Vec<QuantizedMatrix>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::InvalidRequest("no matrices to join".into()));
        };
        let (kind, cols) = (first.kind(), first.dims().1);
        if parts.iter().any(|p| p.kind() != kind || p.dims().1 != cols) {
            return Err(Error::InvalidRequest(
                "joined matrices differ in quantization or width".into(),
            ));
        }
        let rows = parts.iter().map(|p| p.dims().0).sum();
        Ok(match kind {
            QuantKind::Q8 => {
                let mut all = Vec::new();
                for p in parts {
                    if let QuantizedMatrix::Q8 { blocks, .. } = p {
                        all.extend(blocks);
                    }
                }
                QuantizedMatrix::Q8 {
                    blocks: all,
                    rows,
                    cols,
                }
            }
            QuantKind::Q4 => {
                let mut all = Vec::new();
                for p in parts {
                    if let QuantizedMatrix::Q4 { blocks, .. } = p {
                        all.extend(blocks);
                    }
                }
                QuantizedMatrix::Q4 {
                    blocks: all,
                    rows,
                    cols,
                }
            }
        })
    }

    /// Bytes the blocks take.
    pub fn bytes(&self) -> usize {
        match self {
            QuantizedMatrix::Q8 { blocks, .. } => std::mem::size_of_val(blocks.as_slice()),
            QuantizedMatrix::Q4 { blocks, .. } => std::mem::size_of_val(blocks.as_slice()),
        }
    }
}

/// llama.cpp's `quantize_row_q8_0_ref` for one block.
fn quantize_q8_0(v: &[f32; BLOCK]) -> BlockQ8_0 {
    let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    BlockQ8_0 {
        d: f16::from_f32(d),
        qs: v.map(|x| (x * id).round() as i8),
    }
}

/// llama.cpp's `quantize_row_q4_0_ref` for one block: the value of largest magnitude maps to -8.
fn quantize_q4_0(v: &[f32; BLOCK]) -> BlockQ4_0 {
    let max = v
        .iter()
        .fold(0f32, |m, &x| if x.abs() > m.abs() { x } else { m });
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let q = |x: f32| ((x * id + 8.5) as i32).min(15) as u8;
    let mut qs = [0u8; BLOCK / 2];
    for (i, byte) in qs.iter_mut().enumerate() {
        *byte = q(v[i]) | (q(v[i + BLOCK / 2]) << 4);
    }
    BlockQ4_0 {
        d: f16::from_f32(d),
        qs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    #[test]
    fn blocks_have_llama_cpp_sizes() {
        assert_eq!(std::mem::size_of::<BlockQ8_0>(), 34);
        assert_eq!(std::mem::size_of::<BlockQ4_0>(), 18);
    }

    #[test]
    fn quantized_weights_are_within_a_step_of_the_originals() {
        // 70 columns: two whole blocks and a padded one.
        let (rows, cols) = (5, 70);
        let w = values(rows * cols, 3);
        // q4_0 maps the extreme to -8, so the other side clamps at 7 steps: up to a whole step.
        for (kind, step) in [(QuantKind::Q8, 0.5 / 127.0), (QuantKind::Q4, 1.0 / 8.0)] {
            let q = QuantizedMatrix::quantize(kind, &w, rows, cols);
            let back = q.dequantize();
            assert_eq!(back.len(), w.len());
            for (r, (row, orig)) in back.chunks(cols).zip(w.chunks(cols)).enumerate() {
                for b in 0..cols.div_ceil(BLOCK) {
                    let span = b * BLOCK..cols.min((b + 1) * BLOCK);
                    let amax = orig[span.clone()].iter().fold(0f32, |m, x| m.max(x.abs()));
                    // Plus the f16 rounding of the scale over the range.
                    let tol = amax * step + amax * 2e-3;
                    for i in span {
                        let err = (row[i] - orig[i]).abs();
                        assert!(err <= tol, "{kind:?} row {r} col {i}: {err} > {tol}");
                    }
                }
            }
        }
    }

    #[test]
    fn joins_by_rows_and_checks_block_counts() {
        let w = values(4 * 64, 1);
        let a = QuantizedMatrix::quantize(QuantKind::Q4, &w[..128], 2, 64);
        let b = QuantizedMatrix::quantize(QuantKind::Q4, &w[128..], 2, 64);
        let all = QuantizedMatrix::quantize(QuantKind::Q4, &w, 4, 64);
        assert_eq!(QuantizedMatrix::cat_rows(vec![a, b]).unwrap(), all);
        let QuantizedMatrix::Q4 { blocks, .. } = all else {
            unreachable!()
        };
        assert!(QuantizedMatrix::from_q4_0(blocks.clone(), 4, 64).is_ok());
        assert!(QuantizedMatrix::from_q4_0(blocks, 3, 64).is_err());
    }
}
