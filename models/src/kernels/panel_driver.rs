//! What the bf16 and the quantized panel products share: walking the output's panels (on the
//! thread pool when the product is large), handing each kernel call a tile of a few rows by one
//! panel, and placing the tile in the output; and the candle op that runs a panel product on a
//! tensor. Each product supplies only its kernel call.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Spread a product over the threads only from this many multiply-adds: below it, waking the
/// pool costs more than it saves.
pub(crate) const PARALLEL_FROM: usize = 1 << 17;

/// The shape of one product: `[m, k]` inputs times `[k, n]` weights, in panels of `panel`
/// output columns, `rows` input rows per kernel call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tiling {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub panel: usize,
    pub rows: usize,
}

/// The `[m, n]` product, where `kernel(p, r, rows, tile)` writes rows `r..r + rows` of panel
/// `p`'s columns into `tile` (`rows` × `panel`, row-major; columns past `n` are ignored).
pub(crate) fn product(
    t: Tiling,
    kernel: impl Fn(usize, usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let Tiling {
        m,
        k,
        n,
        panel,
        rows: per_call,
    } = t;
    let mut out = vec![0f32; m * n];
    // Tasks write disjoint column ranges of `out`; the address travels as an integer because
    // raw pointers are not `Send`.
    let out_addr = out.as_mut_ptr() as usize;
    let run = |p: usize| {
        let mut tile = vec![0f32; per_call * panel];
        let (c0, width) = (p * panel, panel.min(n - p * panel));
        for r in (0..m).step_by(per_call) {
            let rows = (m - r).min(per_call);
            let tile = &mut tile[..rows * panel];
            kernel(p, r, rows, tile);
            for (i, row) in (r..r + rows).enumerate() {
                // SAFETY: columns c0..c0+width of each row of `out` belong to this panel alone,
                // and `out` outlives the loop.
                unsafe {
                    let dst = (out_addr as *mut f32).add(row * n + c0);
                    std::ptr::copy_nonoverlapping(tile[i * panel..].as_ptr(), dst, width);
                }
            }
        }
    };
    let panels = n.div_ceil(panel);
    if m * k * n >= PARALLEL_FROM {
        (0..panels).into_par_iter().for_each(run);
    } else {
        (0..panels).for_each(run);
    }
    out
}

/// A `[k, n]` weight matrix in panels that multiplies `[m, k]` f32 rows.
pub(crate) trait PanelMatrix: Sync {
    /// The op's name in candle's errors.
    const NAME: &'static str;
    fn inputs(&self) -> usize;
    fn outputs(&self) -> usize;
    fn matmul(&self, x: &[f32]) -> Vec<f32>;
}

/// `x` `[..., k]` (f32, CPU) times `matrix`: `[..., n]`.
pub(crate) fn forward<M: PanelMatrix>(matrix: &M, x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&Product(matrix))
}

struct Product<'a, M>(&'a M);

impl<M: PanelMatrix> CustomOp1 for Product<'_, M> {
    fn name(&self) -> &'static str {
        M::NAME
    }

    fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(all), Some((start, end))) = (x, l.contiguous_offsets()) else {
            candle_core::bail!("{} takes a contiguous f32 tensor", M::NAME)
        };
        let mut dims = l.dims().to_vec();
        let k = self.0.inputs();
        if dims.last() != Some(&k) {
            candle_core::bail!("{}: {dims:?} has not {k} inputs", M::NAME)
        }
        let out = self.0.matmul(&all[start..end]);
        *dims.last_mut().expect("checked above") = self.0.outputs();
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}
