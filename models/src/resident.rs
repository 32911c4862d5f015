//! The bytes a checkpoint's weights will hold in memory once loaded, worked out from its config
//! and safetensors headers without loading it (for `dllm-ls models`), by the rules the loader
//! follows (docs/engine.md, "Quantized weights"): at `f32` the embedding, norms and biases are
//! f32 and the matrices bf16 panels where the checkpoint is bf16 and the CPU has the kernels
//! (f32 otherwise); at `q8`/`q4` the embedding stays bf16, norms and biases f32, the head is q8
//! and the layers' matrices are blocks of 32 weights with an f16 scale (34 or 18 bytes).
//! Panels pad their outputs to 64 columns, which this leaves out: real shapes are multiples.

use std::path::Path;

use safetensors::Dtype;

use crate::checkpoint::{Inventory, TensorSpec, WeightFiles};
use crate::config::ArchConfig;
use crate::error::Result;
use crate::kernels::panels;
use crate::model::CONFIG_FILE;
use crate::quant::QuantKind;
use crate::transformer::WeightNames;

/// How the loader stores the weights, which sets their resident size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `dtype` `f32`, every matrix kept as f32.
    F32,
    /// `dtype` `f32` with a bf16 checkpoint on a CPU with the panel kernels: matrices as bf16.
    F32Bf16Panels,
    /// `dtype` `q8` or `q4`.
    Quantized(QuantKind),
}

/// Bytes of one `[rows, cols]` matrix stored quantized: blocks of 32 inputs per row.
fn quantized_matrix_bytes(kind: QuantKind, rows: usize, cols: usize) -> u64 {
    let block = match kind {
        QuantKind::Q8 => 34,
        QuantKind::Q4 => 18,
    };
    (rows * cols.div_ceil(32) * block) as u64
}

/// Which product a matrix is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Head,
    Layer,
}

/// Bytes of a product's matrix in `format`; quantized, the head is q8 whatever the layers are.
fn matrix_bytes(format: WeightFormat, shape: &[usize], role: Role) -> u64 {
    let (rows, cols) = (shape[0], shape[1]);
    match format {
        WeightFormat::F32 => (rows * cols * 4) as u64,
        WeightFormat::F32Bf16Panels => (rows * cols * 2) as u64,
        WeightFormat::Quantized(_) if role == Role::Head => {
            quantized_matrix_bytes(QuantKind::Q8, rows, cols)
        }
        WeightFormat::Quantized(kind) => quantized_matrix_bytes(kind, rows, cols),
    }
}

/// Expected resident bytes of the weights `specs` (as `tensor_specs` names them) in `format`.
pub(crate) fn expected_resident_bytes(
    cfg: &ArchConfig,
    specs: &[TensorSpec],
    format: WeightFormat,
) -> u64 {
    let names = WeightNames::of(cfg.family);
    let elems = |s: &TensorSpec| s.shape.iter().product::<usize>() as u64;
    let mut total = 0;
    for spec in specs {
        total += if spec.name == names.embed {
            let embed = match format {
                WeightFormat::Quantized(_) => elems(spec) * 2,
                _ => elems(spec) * 4,
            };
            // A tied head multiplies by the embedding, kept beside it in its own layout.
            let tied = match cfg.tie_word_embeddings {
                true => matrix_bytes(format, &spec.shape, Role::Head),
                false => 0,
            };
            embed + tied
        } else if spec.name == names.head {
            // Unquantized, the head's f32 tensor is kept beside its product's weights.
            let stored = match format {
                WeightFormat::Quantized(_) => 0,
                _ => elems(spec) * 4,
            };
            matrix_bytes(format, &spec.shape, Role::Head) + stored
        } else if spec.shape.len() == 2 {
            matrix_bytes(format, &spec.shape, Role::Layer)
        } else {
            elems(spec) * 4
        };
    }
    total
}

/// Expected resident bytes of the checkpoint in `dir` at the default dtype (`f32`, as bf16
/// panels where they apply) and at `q8` and `q4`, from its config and headers alone.
pub fn expected_resident_sizes(dir: &Path) -> Result<ResidentSizes> {
    let config_path = dir.join(CONFIG_FILE);
    let json = crate::config::read_json(&config_path)?;
    let cfg = ArchConfig::from_json(&config_path, &json)?;
    let weights = Inventory::read(WeightFiles::locate(dir)?)?;
    let specs = crate::preflight::checked_specs(&cfg, &config_path, &json, &weights)?;
    let bf16 = specs
        .iter()
        .filter(|s| s.shape.len() == 2)
        .all(|s| matches!(weights.info(&s.name), Ok((_, info)) if info.dtype == Dtype::BF16));
    let default = match bf16 && panels::kernel::available() {
        true => WeightFormat::F32Bf16Panels,
        false => WeightFormat::F32,
    };
    let of = |format| expected_resident_bytes(&cfg, &specs, format);
    Ok(ResidentSizes {
        default: of(default),
        q8: of(WeightFormat::Quantized(QuantKind::Q8)),
        q4: of(WeightFormat::Quantized(QuantKind::Q4)),
    })
}

/// A checkpoint's expected resident bytes by dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentSizes {
    /// At the default dtype, `f32`.
    pub default: u64,
    pub q8: u64,
    pub q4: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiffusionModel, LoadOptions};

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// The loaded model's resident bytes, within 1% of the estimate (the fixtures' shapes are
    /// multiples of the panels' 64 columns, so the two should agree to the byte).
    fn assert_close(expected: u64, dir: &Path, dtype: &str) {
        let options = LoadOptions::for_dtype(dtype, false).unwrap();
        let model = DiffusionModel::load_dir(dir, &options).unwrap();
        let actual = model.resident_bytes() as u64;
        let diff = expected.abs_diff(actual) as f64 / actual as f64;
        assert!(
            diff <= 0.01,
            "{} at {dtype}: expected {expected}, loaded {actual}",
            dir.display()
        );
    }

    #[test]
    fn estimates_match_loaded_models() {
        for name in ["dream-tiny", "dream-tiny-bf16", "llada-tiny"] {
            let dir = fixture(name);
            let sizes = expected_resident_sizes(&dir).unwrap();
            assert_close(sizes.default, &dir, "f32");
            assert_close(sizes.q8, &dir, "q8");
            assert_close(sizes.q4, &dir, "q4");
            assert!(
                sizes.q4 < sizes.q8 && sizes.q8 < sizes.default,
                "{name}: {sizes:?}"
            );
        }
    }
}
