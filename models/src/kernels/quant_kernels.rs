//! The kernels of [`super::quant_panels`]: inputs quantized per row in blocks of 32, and the
//! integer products of up to [`QROWS`] rows with one panel, for each instruction set.

use rayon::prelude::*;

use super::quant_panels::{block_bytes, QPANEL, QROWS};
use crate::quant::{QuantKind, BLOCK};

/// The kernels, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QIsa {
    /// AVX-512 with VNNI (`vpdpbusd`).
    Vnni,
    /// AVX2 (`vpmaddubsw`, `vpmaddwd`), with FMA and F16C.
    Avx2,
    /// Plain code, on any CPU.
    Scalar,
}

/// Whether this CPU runs the kernel for `isa`.
pub(crate) fn has(isa: QIsa) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        match isa {
            QIsa::Vnni => has!("avx512f") && has!("avx512bw") && has!("avx512vnni"),
            QIsa::Avx2 => has!("avx2") && has!("fma") && has!("f16c"),
            QIsa::Scalar => true,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        isa == QIsa::Scalar
    }
}

/// Every kernel this CPU runs, best first.
pub(crate) fn available() -> Vec<QIsa> {
    [QIsa::Vnni, QIsa::Avx2, QIsa::Scalar]
        .into_iter()
        .filter(|&i| has(i))
        .collect()
}

/// The best kernel this CPU runs.
pub(crate) fn best() -> QIsa {
    available()[0]
}

/// Rows of inputs quantized in blocks of 32 (a last partial block padded with zeros): input
/// `i` of block `b` of row `r` is `d[r, b] * qs[r, b, i]`, `qs` in `-127..=127`.
#[derive(Debug, PartialEq)]
pub(crate) struct Acts {
    qs: Vec<i8>,
    d: Vec<f32>,
    /// The sum of each block's `qs`, for the weights' offsets.
    sum: Vec<i32>,
    kb: usize,
}

/// Some consecutive rows of [`Acts`].
pub(crate) struct ActRows<'a> {
    qs: &'a [i8],
    d: &'a [f32],
    sum: &'a [i32],
    kb: usize,
}

impl Acts {
    /// `x` `[m, k]`, with `isa`'s quantizer (all give the same values).
    pub fn quantize(isa: QIsa, x: &[f32], m: usize, k: usize, parallel: bool) -> Self {
        let kb = k.div_ceil(BLOCK);
        let mut qs = vec![0i8; m * kb * BLOCK];
        let mut d = vec![0f32; m * kb];
        let mut sum = vec![0i32; m * kb];
        let row = |((qs, d), (sum, x)): ((&mut [i8], &mut [f32]), (&mut [i32], &[f32]))| {
            for b in 0..kb {
                let mut v = [0f32; BLOCK];
                let part = &x[b * BLOCK..k.min((b + 1) * BLOCK)];
                v[..part.len()].copy_from_slice(part);
                let q: &mut [i8; BLOCK] = (&mut qs[b * BLOCK..][..BLOCK]).try_into().unwrap();
                (d[b], sum[b]) = quantize_block(isa, &v, q);
            }
        };
        let chunks = qs
            .chunks_mut(kb * BLOCK)
            .zip(d.chunks_mut(kb))
            .zip(sum.chunks_mut(kb).zip(x.chunks(k)));
        if parallel {
            let chunks: Vec<_> = chunks.collect();
            chunks.into_par_iter().for_each(row);
        } else {
            chunks.for_each(row);
        }
        Acts { qs, d, sum, kb }
    }

    /// Rows `r..r + rows`.
    pub fn rows(&self, r: usize, rows: usize) -> ActRows<'_> {
        let kb = self.kb;
        ActRows {
            qs: &self.qs[r * kb * BLOCK..][..rows * kb * BLOCK],
            d: &self.d[r * kb..][..rows * kb],
            sum: &self.sum[r * kb..][..rows * kb],
            kb,
        }
    }

    /// The values the blocks stand for, `[m, k]`.
    #[cfg(test)]
    pub fn dequantize(&self, k: usize) -> Vec<f32> {
        let kb = self.kb;
        let m = self.d.len() / kb.max(1);
        let mut out = Vec::with_capacity(m * k);
        for r in 0..m {
            for i in 0..k {
                let b = r * kb + i / BLOCK;
                out.push(self.qs[b * BLOCK + i % BLOCK] as f32 * self.d[b]);
            }
        }
        out
    }
}

/// One block: its scale and the sum of its quantized values. As llama.cpp's q8_0 (scale
/// `amax / 127`, values `x / scale` rounded), but ties round to even, as the vector
/// instructions do.
fn quantize_block(isa: QIsa, v: &[f32; BLOCK], q: &mut [i8; BLOCK]) -> (f32, i32) {
    let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    #[cfg(target_arch = "x86_64")]
    if isa == QIsa::Vnni {
        // SAFETY: the CPU has AVX-512 (the caller's `isa` is checked by `has`).
        return (d, unsafe { x86::quantize_block_avx512(v, id, q) });
    }
    let _ = isa;
    let mut sum = 0;
    for (q, &x) in q.iter_mut().zip(v) {
        *q = (x * id).round_ties_even() as i8;
        sum += *q as i32;
    }
    (d, sum)
}

/// `out[r, 0..64]` = the product of rows `x` (1 to [`QROWS`]) with panel `w` (scales `s`).
pub(crate) fn panel_product(
    isa: QIsa,
    kind: QuantKind,
    x: &ActRows,
    w: &[u8],
    s: &[half::f16],
    out: &mut [f32],
) {
    let rows = out.len() / QPANEL;
    assert!((1..=QROWS).contains(&rows) && x.d.len() == rows * x.kb);
    assert!(w.len() == x.kb * block_bytes(kind) && s.len() == x.kb * QPANEL);
    assert!(has(isa), "{isa:?} is not on this CPU");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions and the slices the lengths (checked above).
    unsafe {
        match (isa, kind) {
            (QIsa::Vnni, QuantKind::Q8) => return x86::vnni::<false>(x, w, s, out),
            (QIsa::Vnni, QuantKind::Q4) => return x86::vnni::<true>(x, w, s, out),
            (QIsa::Avx2, QuantKind::Q8) => return x86::avx2::<false>(x, w, s, out),
            (QIsa::Avx2, QuantKind::Q4) => return x86::avx2::<true>(x, w, s, out),
            (QIsa::Scalar, _) => {}
        }
    }
    scalar(kind, x, w, s, out)
}

/// The weight at input `i` (within its block) of column `c`, from one block of a panel.
fn weight_at(kind: QuantKind, block: &[u8], i: usize, c: usize) -> i32 {
    let (g, t) = (i / 4, i % 4);
    match kind {
        QuantKind::Q8 => block[(g * QPANEL + c) * 4 + t] as i32 - 128,
        QuantKind::Q4 => {
            let byte = block[((g % 4) * QPANEL + c) * 4 + t];
            let nib = if g < 4 { byte & 15 } else { byte >> 4 };
            nib as i32 - 8
        }
    }
}

fn scalar(kind: QuantKind, x: &ActRows, w: &[u8], s: &[half::f16], out: &mut [f32]) {
    let (kb, bb) = (x.kb, block_bytes(kind));
    for (r, out) in out.chunks_mut(QPANEL).enumerate() {
        out.fill(0.0);
        for b in 0..kb {
            let block = &w[b * bb..][..bb];
            let xq = &x.qs[(r * kb + b) * BLOCK..][..BLOCK];
            for (c, o) in out.iter_mut().enumerate() {
                let dot: i32 = (0..BLOCK)
                    .map(|i| weight_at(kind, block, i, c) * xq[i] as i32)
                    .sum();
                *o += dot as f32 * (s[b * QPANEL + c].to_f32() * x.d[r * kb + b]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ActRows, BLOCK, QPANEL};
    use half::f16;
    use std::arch::x86_64::*;

    /// Quantizes one block with `id` (1 / scale); returns the sum of the values.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn quantize_block_avx512(v: &[f32; BLOCK], id: f32, q: &mut [i8; BLOCK]) -> i32 {
        let id = _mm512_set1_ps(id);
        let mut sum = 0;
        for h in 0..2 {
            let x = _mm512_mul_ps(_mm512_loadu_ps(v.as_ptr().add(16 * h)), id);
            // Rounds to nearest even (the default rounding mode).
            let i = _mm512_cvtps_epi32(x);
            sum += _mm512_reduce_add_epi32(i);
            _mm_storeu_si128(
                q.as_mut_ptr().add(16 * h) as *mut __m128i,
                _mm512_cvtsepi32_epi8(i),
            );
        }
        sum
    }

    /// The scales of columns `16j..16j + 16` of block `b`, as f32.
    #[inline(always)]
    unsafe fn scales16(s: &[f16], b: usize, j: usize) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(
            s.as_ptr().add(b * QPANEL + 16 * j) as *const _
        ))
    }

    /// Four consecutive quantized inputs of row `r` (block `b`, group `g`), broadcast.
    #[inline(always)]
    unsafe fn x4(x: &ActRows, r: usize, b: usize, g: usize) -> i32 {
        std::ptr::read_unaligned(x.qs.as_ptr().add((r * x.kb + b) * BLOCK + 4 * g) as *const i32)
    }

    macro_rules! rows_dispatch {
        ($f:ident, $q4:expr, $x:expr, $w:expr, $s:expr, $out:expr) => {
            match $out.len() / QPANEL {
                1 => $f::<1, $q4>($x, $w, $s, $out),
                2 => $f::<2, $q4>($x, $w, $s, $out),
                3 => $f::<3, $q4>($x, $w, $s, $out),
                r => unreachable!("{r} rows"),
            }
        };
    }

    pub unsafe fn vnni<const Q4: bool>(x: &ActRows, w: &[u8], s: &[f16], out: &mut [f32]) {
        rows_dispatch!(vnni_rows, Q4, x, w, s, out)
    }

    pub unsafe fn avx2<const Q4: bool>(x: &ActRows, w: &[u8], s: &[f16], out: &mut [f32]) {
        rows_dispatch!(avx2_rows, Q4, x, w, s, out)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_rows<const R: usize, const Q4: bool>(
        x: &ActRows,
        w: &[u8],
        s: &[f16],
        out: &mut [f32],
    ) {
        let (bb, offset) = if Q4 {
            (BLOCK * QPANEL / 2, 8)
        } else {
            (BLOCK * QPANEL, 128)
        };
        let nibble = _mm512_set1_epi8(0x0F);
        let mut f = [[_mm512_setzero_ps(); 4]; R];
        for b in 0..x.kb {
            let wb = w.as_ptr().add(b * bb);
            let mut acc = [[_mm512_setzero_si512(); 4]; R];
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = [_mm512_set1_epi32(-offset * x.sum[r * x.kb + b]); 4];
            }
            if Q4 {
                for g in 0..4 {
                    let mut lo = [_mm512_setzero_si512(); 4];
                    let mut hi = [_mm512_setzero_si512(); 4];
                    for j in 0..4 {
                        let raw = _mm512_loadu_si512(wb.add((g * QPANEL + 16 * j) * 4) as *const _);
                        lo[j] = _mm512_and_si512(raw, nibble);
                        hi[j] = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), nibble);
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let xl = _mm512_set1_epi32(x4(x, r, b, g));
                        let xh = _mm512_set1_epi32(x4(x, r, b, g + 4));
                        for j in 0..4 {
                            acc[j] = _mm512_dpbusd_epi32(acc[j], lo[j], xl);
                            acc[j] = _mm512_dpbusd_epi32(acc[j], hi[j], xh);
                        }
                    }
                }
            } else {
                for g in 0..8 {
                    let mut wv = [_mm512_setzero_si512(); 4];
                    for (j, wv) in wv.iter_mut().enumerate() {
                        *wv = _mm512_loadu_si512(wb.add((g * QPANEL + 16 * j) * 4) as *const _);
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let xv = _mm512_set1_epi32(x4(x, r, b, g));
                        for j in 0..4 {
                            acc[j] = _mm512_dpbusd_epi32(acc[j], wv[j], xv);
                        }
                    }
                }
            }
            for j in 0..4 {
                let sc = scales16(s, b, j);
                for r in 0..R {
                    let scale = _mm512_mul_ps(sc, _mm512_set1_ps(x.d[r * x.kb + b]));
                    f[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][j]), scale, f[r][j]);
                }
            }
        }
        for (r, f) in f.iter().enumerate() {
            for (j, v) in f.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(r * QPANEL + 16 * j), *v);
            }
        }
    }

    /// 16 registers: eight columns at a time over the panel (its blocks stay in L1/L2
    /// between the passes). q8 multiplies |x| by the weight carrying x's sign, so the pairwise
    /// sums of `vpmaddubsw` (at most 2 * 127 * 127) cannot saturate; q4's are at most
    /// 2 * 15 * 127.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn avx2_rows<const R: usize, const Q4: bool>(
        x: &ActRows,
        w: &[u8],
        s: &[f16],
        out: &mut [f32],
    ) {
        let bb = if Q4 {
            BLOCK * QPANEL / 2
        } else {
            BLOCK * QPANEL
        };
        let ones = _mm256_set1_epi16(1);
        let flip = _mm256_set1_epi8(-128);
        let nibble = _mm256_set1_epi8(0x0F);
        for e in 0..QPANEL / 8 {
            let mut f = [_mm256_setzero_ps(); R];
            for b in 0..x.kb {
                let wb = w.as_ptr().add(b * bb + 32 * e);
                let mut acc = [_mm256_setzero_si256(); R];
                if Q4 {
                    for (r, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm256_set1_epi32(-8 * x.sum[r * x.kb + b]);
                    }
                    for g in 0..4 {
                        let raw = _mm256_loadu_si256(wb.add(g * QPANEL * 4) as *const _);
                        let lo = _mm256_and_si256(raw, nibble);
                        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), nibble);
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let xl = _mm256_set1_epi32(x4(x, r, b, g));
                            let xh = _mm256_set1_epi32(x4(x, r, b, g + 4));
                            let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), ones);
                            let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), ones);
                            *acc = _mm256_add_epi32(*acc, _mm256_add_epi32(pl, ph));
                        }
                    }
                } else {
                    for g in 0..8 {
                        let raw = _mm256_loadu_si256(wb.add(g * QPANEL * 4) as *const _);
                        let wi = _mm256_xor_si256(raw, flip);
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let xv = _mm256_set1_epi32(x4(x, r, b, g));
                            let p =
                                _mm256_maddubs_epi16(_mm256_abs_epi8(xv), _mm256_sign_epi8(wi, xv));
                            *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(p, ones));
                        }
                    }
                }
                let sc = _mm256_cvtph_ps(_mm_loadu_si128(
                    s.as_ptr().add(b * QPANEL + 8 * e) as *const _
                ));
                for r in 0..R {
                    let scale = _mm256_mul_ps(sc, _mm256_set1_ps(x.d[r * x.kb + b]));
                    f[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r]), scale, f[r]);
                }
            }
            for (r, v) in f.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(r * QPANEL + 8 * e), *v);
            }
        }
    }
}
