//! Matrix products against weights held in bf16, in panels, for CPUs with AVX-512 or AVX2.
//!
//! A cached denoising step multiplies a few rows by every weight matrix of the model: it reads
//! all the weights for little arithmetic, so memory bandwidth sets its speed. Checkpoints ship
//! bf16 weights, which the engine widens to f32 when it loads them. Kept as bf16 they are half
//! the bytes to read, and widening them again in registers is exact, so the products are those
//! of the f32 weights, up to the order of the sums.
//!
//! The matrix is stored in panels of 64 output columns, each `[k, 64]` and contiguous, so a
//! product streams through memory in order. Four rows at a time, the kernel broadcasts each
//! input value and multiplies it into 64 columns (four AVX-512 registers). CPUs without AVX-512
//! run an AVX2 kernel over the same panels, a quarter of a panel at a time.

use candle_core::{DType, Tensor};

use super::panel_driver::{self as driver, PanelMatrix, Tiling, PARALLEL_FROM};
use half::bf16;
use rayon::prelude::*;

/// Output columns per panel: four AVX-512 registers of f32.
pub(crate) const PANEL: usize = 64;

/// Rows of the input per call of the kernel.
const ROWS: usize = 4;

/// The arithmetic of products against bf16 panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductPrecision {
    /// f32 inputs against the exactly widened weights: the products of the f32 weights.
    #[default]
    F32,
    /// On a CPU with AVX-512 BF16, inputs rounded to bf16 and multiplied in pairs with
    /// `vdpbf16ps` (f32 sums) at twice the rate of f32 arithmetic; results move in the third
    /// significant digit. Elsewhere the same as `F32`.
    Bf16,
}

/// A `[k, n]` matrix (k inputs, n outputs) of bf16 values in panels.
#[derive(Debug)]
pub(crate) struct Bf16Panels {
    /// Empty when `pairs` holds the values.
    bits: Vec<u16>,
    /// With [`ProductPrecision::Bf16`]: the same values as pairs of
    /// consecutive input rows, `[k / 2, 64]` u32 per panel, the even row in the low half.
    /// Empty otherwise.
    pairs: Vec<u32>,
    k: usize,
    n: usize,
}

impl Bf16Panels {
    /// From a checkpoint's `[n, k]` weight (`[out, in]`), row-major f32. `None` when a value is
    /// not exactly a bf16 (the weights did not come from a bf16 checkpoint: rounding them would
    /// change the model) or when this CPU has neither AVX-512 nor AVX2 with FMA.
    pub fn from_out_in(w: &[f32], n: usize, k: usize, precision: ProductPrecision) -> Option<Self> {
        assert_eq!(w.len(), n * k, "w is [n, k]");
        if !kernel::available() {
            return None;
        }
        let mut bits = vec![0u16; n.div_ceil(PANEL) * k * PANEL];
        for (out, row) in w.chunks_exact(k.max(1)).enumerate() {
            let panel = &mut bits[(out / PANEL) * k * PANEL..][..k * PANEL];
            for (i, &v) in row.iter().enumerate() {
                let b = bf16::from_f32(v);
                if b.to_f32().to_bits() != v.to_bits() {
                    return None;
                }
                panel[i * PANEL + out % PANEL] = b.to_bits();
            }
        }
        let pairs = if precision == ProductPrecision::Bf16 && kernel::has_bf16_dot() {
            let kp = k.div_ceil(2);
            let panels = n.div_ceil(PANEL);
            let mut pairs = vec![0u32; panels * kp * PANEL];
            for p in 0..panels {
                for i in 0..k {
                    for c in 0..PANEL {
                        let v = bits[(p * k + i) * PANEL + c] as u32;
                        pairs[(p * kp + i / 2) * PANEL + c] |= v << (16 * (i % 2));
                    }
                }
            }
            pairs
        } else {
            Vec::new()
        };
        // With pairs the products never read `bits`: keep one copy of the weights.
        let bits = if pairs.is_empty() { bits } else { Vec::new() };
        Some(Bf16Panels { bits, pairs, k, n })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        2 * self.bits.len() + 4 * self.pairs.len()
    }

    /// `x` `[m, k]`, row-major, times the matrix: `[m, n]`.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        let isa = kernel::isa().expect("panels are made only where a kernel runs");
        self.matmul_on(isa, x)
    }

    /// [`matmul`](Self::matmul) with the kernel for `isa`, which this CPU must have.
    fn matmul_on(&self, isa: kernel::Isa, x: &[f32]) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert!(k > 0 && x.len().is_multiple_of(k), "x is [m, {k}]");
        let m = x.len() / k;
        let kp = k.div_ceil(2);
        let xpairs: Vec<u32> = if self.pairs.is_empty() {
            Vec::new()
        } else {
            // The inputs as bf16 pairs, rounded to nearest even.
            let mut xp = vec![0u32; m * kp];
            if k % 32 == 0 {
                if m * k >= PARALLEL_FROM / 16 {
                    xp.par_chunks_mut(kp)
                        .zip(x.par_chunks(k))
                        .for_each(|(o, row)| kernel::to_pairs(row, o));
                } else {
                    xp.chunks_mut(kp)
                        .zip(x.chunks(k))
                        .for_each(|(o, row)| kernel::to_pairs(row, o));
                }
            } else {
                for r in 0..m {
                    for i in 0..k {
                        let b = bf16::from_f32(x[r * k + i]).to_bits() as u32;
                        xp[r * kp + i / 2] |= b << (16 * (i % 2));
                    }
                }
            }
            xp
        };
        let tiling = Tiling {
            m,
            k,
            n,
            panel: PANEL,
            rows: ROWS,
        };
        driver::product(tiling, |p, r, rows, tile| {
            if self.pairs.is_empty() {
                let panel = &self.bits[p * k * PANEL..][..k * PANEL];
                kernel::panel_product_on(isa, &x[r * k..][..rows * k], panel, tile);
            } else {
                let pp = &self.pairs[p * kp * PANEL..][..kp * PANEL];
                kernel::dot_product(&xpairs[r * kp..][..rows * kp], pp, tile);
            }
        })
    }

    /// `x` `[..., k]` (f32, CPU) times the matrix: `[..., n]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        driver::forward(self, x)
    }
}

impl PanelMatrix for Bf16Panels {
    const NAME: &'static str = "bf16 panel product";
    fn inputs(&self) -> usize {
        self.k
    }
    fn outputs(&self) -> usize {
        self.n
    }
    fn matmul(&self, x: &[f32]) -> Vec<f32> {
        Bf16Panels::matmul(self, x)
    }
}

/// Whether `t` can go through a panel product (f32 on the CPU).
pub(crate) fn accepts(t: &Tensor) -> bool {
    t.dtype() == DType::F32 && t.device().is_cpu()
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod kernel {
    use super::PANEL;
    use std::arch::x86_64::*;

    /// The instruction sets the kernels are written for, best first.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Isa {
        Avx512,
        Avx2,
    }

    /// The best kernel this CPU runs, if any.
    pub fn isa() -> Option<Isa> {
        [Isa::Avx512, Isa::Avx2].into_iter().find(|&isa| has(isa))
    }

    /// Whether this CPU runs the kernel for `isa`.
    pub fn has(isa: Isa) -> bool {
        match isa {
            Isa::Avx512 => avx512(),
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
        }
    }

    pub fn available() -> bool {
        isa().is_some()
    }

    pub fn avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    pub fn has_bf16_dot() -> bool {
        avx512() && std::arch::is_x86_feature_detected!("avx512bf16")
    }

    /// `row` (a multiple of 32 long) as bf16 pairs, rounded to nearest even.
    pub fn to_pairs(row: &[f32], out: &mut [u32]) {
        assert!(row.len().is_multiple_of(32) && out.len() == row.len() / 2 && has_bf16_dot());
        // SAFETY: the CPU has the instructions and the slices the lengths (checked above).
        unsafe { to_pairs_avx(row, out) }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn to_pairs_avx(row: &[f32], out: &mut [u32]) {
        for c in 0..row.len() / 32 {
            let lo = _mm512_loadu_ps(row.as_ptr().add(32 * c));
            let hi = _mm512_loadu_ps(row.as_ptr().add(32 * c + 16));
            // cvtne2ps_pbh(a, b): b's 16 values in the low half, a's in the high half.
            let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_storeu_si512(out.as_mut_ptr().add(16 * c) as *mut _, v);
        }
    }

    /// `out[r, 0..64] = sum_p x[r, p] . panel[p, 0..64]` over bf16 pairs, for 1-4 rows.
    pub fn dot_product(x: &[u32], panel: &[u32], out: &mut [f32]) {
        let kp = panel.len() / PANEL;
        assert!(x.len() == out.len() / PANEL * kp && has_bf16_dot());
        // SAFETY: the CPU has the instructions and the slices the lengths (checked above).
        unsafe {
            match out.len() / PANEL {
                1 => rows_dot::<1>(x, panel, out),
                2 => rows_dot::<2>(x, panel, out),
                3 => rows_dot::<3>(x, panel, out),
                4 => rows_dot::<4>(x, panel, out),
                r => unreachable!("{r} rows"),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn rows_dot<const R: usize>(x: &[u32], panel: &[u32], out: &mut [f32]) {
        let kp = panel.len() / PANEL;
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let (xp, wp) = (x.as_ptr(), panel.as_ptr());
        for p in 0..kp {
            let row = wp.add(p * PANEL);
            let mut w = [_mm512_setzero_si512(); 4];
            for (j, w) in w.iter_mut().enumerate() {
                *w = _mm512_loadu_si512(row.add(16 * j) as *const _);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let a: __m512bh =
                    std::mem::transmute(_mm512_set1_epi32(*xp.add(r * kp + p) as i32));
                for j in 0..4 {
                    acc[j] =
                        _mm512_dpbf16_ps(acc[j], a, std::mem::transmute::<__m512i, __m512bh>(w[j]));
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (j, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(r * PANEL + 16 * j), *a);
            }
        }
    }

    /// A panel's values: bf16 bits or f32.
    pub trait Lane: Copy {
        const BF16: bool;
    }
    impl Lane for u16 {
        const BF16: bool = true;
    }
    impl Lane for f32 {
        const BF16: bool = false;
    }

    /// `out[r, 0..64] = sum_i x[r, i] * panel[i, 0..64]` for 1-4 rows, summed in order of `i`,
    /// with the best kernel this CPU runs.
    pub fn panel_product<T: Lane>(x: &[f32], panel: &[T], out: &mut [f32]) {
        let isa = isa().expect("panel products run only where AVX2 or AVX-512 is");
        panel_product_on(isa, x, panel, out)
    }

    /// [`panel_product`] with the kernel for `isa`, which this CPU must have.
    pub fn panel_product_on<T: Lane>(isa: Isa, x: &[f32], panel: &[T], out: &mut [f32]) {
        let k = panel.len() / PANEL;
        assert!(x.len() == out.len() / PANEL * k && panel.len() == k * PANEL);
        assert!(has(isa), "{isa:?} is not on this CPU");
        // SAFETY: the CPU has the instructions (checked above); the slices have the lengths
        // the kernels read and write (checked above).
        unsafe {
            match (isa, out.len() / PANEL) {
                (Isa::Avx512, 1) => rows::<1, T>(x, panel, out),
                (Isa::Avx512, 2) => rows::<2, T>(x, panel, out),
                (Isa::Avx512, 3) => rows::<3, T>(x, panel, out),
                (Isa::Avx512, 4) => rows::<4, T>(x, panel, out),
                (Isa::Avx2, 1) => rows_avx2::<1, T>(x, panel, out),
                (Isa::Avx2, 2) => rows_avx2::<2, T>(x, panel, out),
                (Isa::Avx2, 3) => rows_avx2::<3, T>(x, panel, out),
                (Isa::Avx2, 4) => rows_avx2::<4, T>(x, panel, out),
                (_, r) => unreachable!("{r} rows"),
            }
        }
    }

    /// The AVX2 kernel: 16 registers hold 4 rows of 16 columns at a time, so it goes over the
    /// panel in four quarters (the panel's rows stay in L1 and L2 between them).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows_avx2<const R: usize, T: Lane>(x: &[f32], panel: &[T], out: &mut [f32]) {
        let k = panel.len() / PANEL;
        let (xp, wp) = (x.as_ptr(), panel.as_ptr());
        for quarter in 0..PANEL / 16 {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for i in 0..k {
                let row = wp.add(i * PANEL + 16 * quarter);
                let mut w = [_mm256_setzero_ps(); 2];
                for (j, w) in w.iter_mut().enumerate() {
                    *w = if T::BF16 {
                        let half = _mm_loadu_si128(row.add(8 * j) as *const __m128i);
                        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(half)))
                    } else {
                        _mm256_loadu_ps(row.add(8 * j) as *const f32)
                    };
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let b = _mm256_broadcast_ss(&*xp.add(r * k + i));
                    acc[0] = _mm256_fmadd_ps(b, w[0], acc[0]);
                    acc[1] = _mm256_fmadd_ps(b, w[1], acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (j, a) in acc.iter().enumerate() {
                    _mm256_storeu_ps(out.as_mut_ptr().add(r * PANEL + 16 * quarter + 8 * j), *a);
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize, T: Lane>(x: &[f32], panel: &[T], out: &mut [f32]) {
        let k = panel.len() / PANEL;
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let (xp, wp) = (x.as_ptr(), panel.as_ptr());
        for i in 0..k {
            let row = wp.add(i * PANEL);
            let mut w = [_mm512_setzero_ps(); 4];
            for (j, w) in w.iter_mut().enumerate() {
                *w = if T::BF16 {
                    // bf16 to f32: the 16 bits become the high half of the f32.
                    let half = _mm256_loadu_si256(row.add(16 * j) as *const __m256i);
                    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(half)))
                } else {
                    _mm512_loadu_ps(row.add(16 * j) as *const f32)
                };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let b = _mm512_set1_ps(*xp.add(r * k + i));
                for j in 0..4 {
                    acc[j] = _mm512_fmadd_ps(b, w[j], acc[j]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (j, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(r * PANEL + 16 * j), *a);
            }
        }
    }
}

/// Elsewhere there are no panels: every product takes candle's f32 path.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) mod kernel {
    pub trait Lane: Copy {}
    impl Lane for u16 {}
    impl Lane for f32 {}

    /// No kernels here: no value of this type exists.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Isa {}

    pub fn isa() -> Option<Isa> {
        None
    }

    pub fn panel_product_on<T: Lane>(isa: Isa, _: &[f32], _: &[T], _: &mut [f32]) {
        match isa {}
    }

    pub fn available() -> bool {
        false
    }

    pub fn avx512() -> bool {
        false
    }

    pub fn has_bf16_dot() -> bool {
        false
    }

    pub fn to_pairs(_: &[f32], _: &mut [u32]) {
        unreachable!("bf16 products run only on x86-64")
    }

    pub fn dot_product(_: &[u32], _: &[u32], _: &mut [f32]) {
        unreachable!("bf16 products run only on x86-64")
    }

    pub fn panel_product<T: Lane>(_: &[f32], _: &[T], _: &mut [f32]) {
        unreachable!("panel products run only on x86-64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    fn bf16_exact(v: Vec<f32>) -> Vec<f32> {
        v.into_iter().map(|x| bf16::from_f32(x).to_f32()).collect()
    }

    /// Every kernel this CPU runs.
    #[cfg(target_arch = "x86_64")]
    fn kernels() -> Vec<kernel::Isa> {
        [kernel::Isa::Avx512, kernel::Isa::Avx2]
            .into_iter()
            .filter(|&isa| kernel::has(isa))
            .collect()
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn kernels() -> Vec<kernel::Isa> {
        Vec::new()
    }

    #[test]
    fn matches_a_plain_product_for_any_rows_and_ragged_widths() {
        if !kernel::available() {
            eprintln!("no AVX2 or AVX-512 here: no panels are made, nothing to test");
            return;
        }
        for (n, k, isa) in [(512, 256), (70, 7), (1, 33), (256, 768), (600, 64)]
            .into_iter()
            .flat_map(|(n, k)| kernels().into_iter().map(move |isa| (n, k, isa)))
        {
            let w = bf16_exact(values(n * k, 1));
            let panels =
                Bf16Panels::from_out_in(&w, n, k, ProductPrecision::F32).expect("bf16 values");
            for m in [1, 2, 3, 4, 5, 8, 9, 33] {
                let x = values(m * k, m as u32 + 2);
                let got = panels.matmul_on(isa, &x);
                for r in 0..m {
                    for c in 0..n {
                        let want: f64 = (0..k)
                            .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                            .sum();
                        let err = (got[r * n + c] as f64 - want).abs();
                        assert!(
                            err < 1e-4 * (k as f64).sqrt(),
                            "{isa:?} n {n} k {k} m {m}: {err}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn weights_that_are_not_bf16_get_no_panels() {
        let w = vec![0.1f32; 64];
        assert!(Bf16Panels::from_out_in(&w, 8, 8, ProductPrecision::F32).is_none());
    }

    #[test]
    fn bf16_products_are_the_product_of_the_rounded_inputs() {
        if !kernel::has_bf16_dot() {
            eprintln!("no AVX-512 BF16 here: bf16 products are off, nothing to test");
            return;
        }
        // Input widths that take the vector conversion (64, 256) and the scalar one (7, 33).
        for (n, k) in [(512, 256), (70, 7), (1, 33), (130, 64)] {
            let w = bf16_exact(values(n * k, 1));
            let panels =
                Bf16Panels::from_out_in(&w, n, k, ProductPrecision::Bf16).expect("bf16 values");
            assert!(!panels.pairs.is_empty());
            for m in [1, 3, 4, 9] {
                let x = values(m * k, m as u32 + 2);
                let rounded = bf16_exact(x.clone());
                let got = panels.matmul(&x);
                for r in 0..m {
                    for c in 0..n {
                        let want: f64 = (0..k)
                            .map(|i| rounded[r * k + i] as f64 * w[c * k + i] as f64)
                            .sum();
                        let err = (got[r * n + c] as f64 - want).abs();
                        assert!(err < 1e-4 * (k as f64).sqrt(), "n {n} k {k} m {m}: {err}");
                    }
                }
            }
        }
    }
}
