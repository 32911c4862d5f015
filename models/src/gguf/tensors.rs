//! The weights of a GGUF file: llama.cpp's tensor names mapped onto the engine's, every tensor
//! checked for presence, shape and type before any is read, then read and dequantized to the load
//! dtype. LLaDA's q and k rows are put back in the order the checkpoint had them: the converter
//! interleaves each head's rotary halves (llama.cpp's rope layout), Dream's it leaves alone.

use std::collections::{BTreeSet, HashMap};

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};

use super::container::GgufFile;
use crate::checkpoint::TensorSpec;
use crate::config::{ArchConfig, Family};
use crate::error::{Error, Result};
use crate::transformer::{tensor_specs, LayerTensor, WeightNames};

pub(crate) const EMBED: &str = "token_embd.weight";
const FINAL_NORM: &str = "output_norm.weight";
const HEAD: &str = "output.weight";

/// The tensor types that load; the rest are refused by name. Beyond F32/F16/BF16, Q8_0, Q4_0
/// and Q4_K, the block types llama-quantize mixes into its files (a Q4_0 file's head is Q6_K,
/// Q4_K_M's has Q6_K layers, Q4_K_S Q5_K ones) so that the files people download load; Q8_1 and
/// Q8_K are llama.cpp's activation types, never weights.
const SUPPORTED: &[GgmlDType] = &[
    GgmlDType::F32,
    GgmlDType::F16,
    GgmlDType::BF16,
    GgmlDType::Q8_0,
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
    GgmlDType::Q2K,
    GgmlDType::Q3K,
    GgmlDType::Q4K,
    GgmlDType::Q5K,
    GgmlDType::Q6K,
];

/// llama.cpp's name for a layer tensor.
fn layer_name(i: usize, t: LayerTensor) -> String {
    use LayerTensor::*;
    let name = match t {
        AttnNorm => "attn_norm.weight",
        Q => "attn_q.weight",
        K => "attn_k.weight",
        V => "attn_v.weight",
        QBias => "attn_q.bias",
        KBias => "attn_k.bias",
        VBias => "attn_v.bias",
        O => "attn_output.weight",
        MlpNorm => "ffn_norm.weight",
        Gate => "ffn_gate.weight",
        Up => "ffn_up.weight",
        Down => "ffn_down.weight",
    };
    format!("blk.{i}.{name}")
}

/// How a tensor's rows were reordered by the converter.
#[derive(Clone, Copy, PartialEq)]
enum Rows {
    AsStored,
    /// LLaDAModel.permute with this many heads.
    RotaryInterleaved(usize),
}

/// One tensor to load: where it is in the file, what the engine calls it and its shape.
pub(crate) struct GgufTensor {
    gguf: String,
    spec: TensorSpec,
    rows: Rows,
}

/// The embedding's shape `[rows, columns]`, checked to be a matrix.
pub(crate) fn embedding_shape(file: &GgufFile) -> Result<(usize, usize)> {
    let info = file
        .tensor_info(EMBED)
        .ok_or_else(|| Error::MissingTensor {
            path: file.path().to_path_buf(),
            name: EMBED.into(),
        })?;
    match *info.shape.dims() {
        [rows, cols] => Ok((rows, cols)),
        ref dims => Err(Error::TensorShape {
            path: file.path().to_path_buf(),
            name: EMBED.into(),
            actual: dims.to_vec(),
            expected: vec![0, 0],
        }),
    }
}

pub(crate) fn has_output_head(file: &GgufFile) -> bool {
    file.tensor_info(HEAD).is_some()
}

/// Every tensor the config implies, checked against the file: the embedding against the sizes,
/// the layer count against the layers the file holds, each tensor's shape and type.
pub(crate) fn checked_tensors(
    file: &GgufFile,
    cfg: &ArchConfig,
    arch: &str,
) -> Result<Vec<GgufTensor>> {
    check_sizes(file, cfg, arch)?;
    let tensors = plan(cfg);
    for t in &tensors {
        check(file, t)?;
    }
    Ok(tensors)
}

fn check_sizes(file: &GgufFile, cfg: &ArchConfig, arch: &str) -> Result<()> {
    let (rows, cols) = embedding_shape(file)?;
    let mismatch =
        |field: String, config: usize, actual: usize, what: String| Error::ConfigMismatch {
            path: file.path().to_path_buf(),
            field,
            config,
            actual,
            what,
        };
    if cols != cfg.hidden_size {
        let what = format!("columns of `{EMBED}`");
        return Err(mismatch(
            format!("{arch}.embedding_length"),
            cfg.hidden_size,
            cols,
            what,
        ));
    }
    if rows != cfg.vocab_size {
        let what = format!("rows of `{EMBED}`");
        return Err(mismatch(
            format!("{arch}.vocab_size"),
            cfg.vocab_size,
            rows,
            what,
        ));
    }
    let held: BTreeSet<usize> = file.tensor_names().filter_map(layer_index).collect();
    if cfg.num_layers > held.len() {
        let what = "layers with tensors in the file".to_string();
        return Err(mismatch(
            format!("{arch}.block_count"),
            cfg.num_layers,
            held.len(),
            what,
        ));
    }
    Ok(())
}

/// The layer a llama.cpp tensor name (`blk.N.…`) belongs to.
fn layer_index(name: &str) -> Option<usize> {
    let (index, _) = name.strip_prefix("blk.")?.split_once('.')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

/// The engine's tensor specs, each with its GGUF name and row order.
fn plan(cfg: &ArchConfig) -> Vec<GgufTensor> {
    let names = WeightNames::of(cfg.family);
    let mut by_engine_name: HashMap<String, (String, Rows)> = HashMap::from([
        (names.embed.clone(), (EMBED.to_string(), Rows::AsStored)),
        (
            names.final_norm.clone(),
            (FINAL_NORM.to_string(), Rows::AsStored),
        ),
        (names.head.clone(), (HEAD.to_string(), Rows::AsStored)),
    ]);
    for i in 0..cfg.num_layers {
        for t in LayerTensor::ALL {
            let rows = match (cfg.family, t) {
                (Family::Llada, LayerTensor::Q) => Rows::RotaryInterleaved(cfg.num_heads),
                (Family::Llada, LayerTensor::K) => Rows::RotaryInterleaved(cfg.num_kv_heads),
                _ => Rows::AsStored,
            };
            by_engine_name.insert(names.layer(i, t), (layer_name(i, t), rows));
        }
    }
    tensor_specs(cfg)
        .into_iter()
        .map(|spec| {
            let (gguf, rows) = by_engine_name
                .remove(&spec.name)
                .expect("every engine tensor has a GGUF name");
            GgufTensor { gguf, spec, rows }
        })
        .collect()
}

fn check(file: &GgufFile, t: &GgufTensor) -> Result<()> {
    let path = || file.path().to_path_buf();
    let info = file
        .tensor_info(&t.gguf)
        .ok_or_else(|| Error::MissingTensor {
            path: path(),
            name: t.gguf.clone(),
        })?;
    if info.shape.dims() != t.spec.shape.as_slice() {
        return Err(Error::TensorShape {
            path: path(),
            name: t.gguf.clone(),
            actual: info.shape.dims().to_vec(),
            expected: t.spec.shape.clone(),
        });
    }
    if !SUPPORTED.contains(&info.ggml_dtype) {
        return Err(Error::GgufTensorType {
            path: path(),
            name: t.gguf.clone(),
            dtype: format!("{:?}", info.ggml_dtype),
        });
    }
    if let Rows::RotaryInterleaved(heads) = t.rows {
        // Checked by the config's validation: heads divide the rows into even head sizes.
        debug_assert!(t.spec.shape[0].is_multiple_of(2 * heads));
    }
    Ok(())
}

/// The stored bytes of the tensors to load, for progress totals.
pub(crate) fn stored_bytes(file: &GgufFile, tensors: &[GgufTensor]) -> u64 {
    tensors
        .iter()
        .filter_map(|t| file.tensor_info(&t.gguf))
        .map(|info| file.stored_bytes(info))
        .sum()
}

/// Reads and dequantizes every tensor to `dtype`, under the engine's names.
pub(crate) fn load(
    file: &mut GgufFile,
    tensors: Vec<GgufTensor>,
    dtype: DType,
    read: &mut dyn FnMut(u64),
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(tensors.len());
    for t in tensors {
        let q = file.read_tensor(&t.gguf)?;
        let bytes = q.storage_size_in_bytes() as u64;
        let mut w = q.dequantize(&Device::Cpu)?;
        drop(q);
        if let Rows::RotaryInterleaved(heads) = t.rows {
            w = undo_rotary_interleave(&w, heads)?;
        }
        if w.dtype() != dtype {
            w = w.to_dtype(dtype)?;
        }
        out.insert(t.spec.name, w);
        read(bytes);
    }
    Ok(out)
}

/// Inverts LLaDAModel.permute: within each head, stored row `2i + j` is checkpoint row
/// `j * head_dim / 2 + i` (the halves rotary embeddings pair, interleaved).
fn undo_rotary_interleave(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / heads / 2;
    Ok(w.reshape((heads, half, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LLaDAModel.permute, as the converter applies it.
    fn permute(w: &Tensor, heads: usize) -> Tensor {
        let (rows, cols) = w.dims2().unwrap();
        w.reshape((heads, 2, rows / heads / 2, cols))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((rows, cols))
            .unwrap()
    }

    #[test]
    fn the_rotary_interleave_is_undone() {
        let w = Tensor::arange(0f32, 48.0, &Device::Cpu)
            .unwrap()
            .reshape((12, 4))
            .unwrap();
        for heads in [1, 2, 3] {
            let back = undo_rotary_interleave(&permute(&w, heads), heads).unwrap();
            let diff = (back - &w).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{heads} heads");
        }
        // And the interleave is real: head 0's rows 0..2 and 2..4 alternate.
        let p = permute(&w, 1).to_vec2::<f32>().unwrap();
        assert_eq!(p[1], w.to_vec2::<f32>().unwrap()[6]);
    }

    #[test]
    fn layer_indices_read_only_digits() {
        assert_eq!(layer_index("blk.12.attn_q.weight"), Some(12));
        assert_eq!(layer_index("blk.+1.attn_q.weight"), None);
        assert_eq!(layer_index("token_embd.weight"), None);
    }
}
