//! The weights of a GGUF file: llama.cpp's tensor names mapped onto the engine's, every tensor
//! checked for presence, shape and type before any is read, then read and dequantized to the load
//! dtype. LLaDA's q and k rows are put back in the order the checkpoint had them: the converter
//! interleaves each head's rotary halves (llama.cpp's rope layout), Dream's it leaves alone.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use half::f16;

use super::container::GgufFile;
use crate::checkpoint::TensorSpec;
use crate::config::{ArchConfig, Family};
use crate::error::{Error, Result};
use crate::quant::{BlockQ4_0, BlockQ8_0, QuantKind, QuantizedMatrix, BLOCK};
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

/// What a tensor is to the model, which decides how a quantized load keeps it.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Embedding,
    Head,
    /// A norm or a bias.
    Vector,
    /// A layer's matrix.
    Matrix,
}

/// One tensor to load: where it is in the file, what the engine calls it and its shape.
pub(crate) struct GgufTensor {
    gguf: String,
    spec: TensorSpec,
    rows: Rows,
    role: Role,
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
            let role = match () {
                _ if spec.name == names.embed => Role::Embedding,
                _ if spec.name == names.head => Role::Head,
                _ if spec.shape.len() != 2 => Role::Vector,
                _ => Role::Matrix,
            };
            GgufTensor {
                gguf,
                spec,
                rows,
                role,
            }
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

/// How the engine keeps each tensor under `dtype` `q8` or `q4`, as it does for safetensors: the
/// embedding in bf16, norms and biases in f32, the head in `head` and the other matrices in `kind`.
#[derive(Clone, Copy)]
pub(crate) struct Quantization {
    pub kind: QuantKind,
    pub head: QuantKind,
}

/// Reads every tensor, keeping the matrices quantized: blocks already stored in the kind asked
/// for (Q8_0 for q8, Q4_0 for q4) are taken as they are; other types are dequantized and
/// quantized again. Only one tensor's f32 values are in memory at a time.
pub(crate) fn load_quantized(
    file: &mut GgufFile,
    tensors: Vec<GgufTensor>,
    q: Quantization,
    read: &mut dyn FnMut(u64),
) -> Result<(HashMap<String, Tensor>, HashMap<String, QuantizedMatrix>)> {
    let (mut dense, mut quantized) = (HashMap::new(), HashMap::new());
    for t in tensors {
        let stored = file.read_tensor(&t.gguf)?;
        let bytes = stored.storage_size_in_bytes() as u64;
        let keep = |dtype| -> Result<Tensor> { Ok(dequantized(&stored, t.rows)?.to_dtype(dtype)?) };
        let name = t.spec.name.clone();
        match t.role {
            Role::Embedding => dense.insert(name, keep(DType::BF16)?),
            Role::Vector => dense.insert(name, keep(DType::F32)?),
            Role::Head | Role::Matrix => {
                let kind = match t.role {
                    Role::Head => q.head,
                    _ => q.kind,
                };
                quantized.insert(name, quantized_matrix(&stored, t.rows, kind, file.path())?);
                None
            }
        };
        read(bytes);
    }
    Ok((dense, quantized))
}

/// A tensor's values in f32, rows in the checkpoint's order.
fn dequantized(stored: &QTensor, rows: Rows) -> Result<Tensor> {
    let w = stored.dequantize(&Device::Cpu)?;
    match rows {
        Rows::RotaryInterleaved(heads) => undo_rotary_interleave(&w, heads),
        Rows::AsStored => Ok(w),
    }
}

/// A matrix as `kind` blocks, taken from the file's own blocks where they are of that kind.
fn quantized_matrix(
    stored: &QTensor,
    rows: Rows,
    kind: QuantKind,
    path: &Path,
) -> Result<QuantizedMatrix> {
    let (n, cols) = stored.shape().dims2()?;
    let same = matches!(
        (stored.dtype(), kind),
        (GgmlDType::Q8_0, QuantKind::Q8) | (GgmlDType::Q4_0, QuantKind::Q4)
    );
    if !same {
        let w = dequantized(stored, rows)?;
        let values = w.flatten_all()?.to_vec1::<f32>()?;
        return Ok(QuantizedMatrix::quantize(kind, &values, n, cols));
    }
    let data = stored.data()?;
    let data = match rows {
        Rows::AsStored => data.into_owned(),
        Rows::RotaryInterleaved(heads) => undo_rotary_interleave_rows(&data, n, heads),
    };
    let bad = |e: Error| super::container::corrupt(path, e.to_string());
    match kind {
        QuantKind::Q8 => QuantizedMatrix::from_q8_0(q8_0_blocks(&data), n, cols).map_err(bad),
        QuantKind::Q4 => QuantizedMatrix::from_q4_0(q4_0_blocks(&data), n, cols).map_err(bad),
    }
}

/// [`undo_rotary_interleave`] on a matrix's stored rows (each row's blocks are contiguous).
fn undo_rotary_interleave_rows(data: &[u8], rows: usize, heads: usize) -> Vec<u8> {
    let row_bytes = data.len() / rows;
    let (head_dim, half) = (rows / heads, rows / heads / 2);
    let mut out = vec![0u8; data.len()];
    for r in 0..rows {
        // Stored row h*hd + 2i + j holds checkpoint row h*hd + j*hd/2 + i.
        let (h, within) = (r / head_dim, r % head_dim);
        let (i, j) = (within / 2, within % 2);
        let to = h * head_dim + j * half + i;
        out[to * row_bytes..(to + 1) * row_bytes]
            .copy_from_slice(&data[r * row_bytes..(r + 1) * row_bytes]);
    }
    out
}

/// llama.cpp's `block_q8_0` bytes: an f16 scale, then 32 signed weights.
fn q8_0_blocks(data: &[u8]) -> Vec<BlockQ8_0> {
    data.chunks_exact(2 + BLOCK)
        .map(|c| BlockQ8_0 {
            d: f16::from_le_bytes([c[0], c[1]]),
            qs: std::array::from_fn(|i| c[2 + i] as i8),
        })
        .collect()
}

/// llama.cpp's `block_q4_0` bytes: an f16 scale, then 32 weights in nibbles.
fn q4_0_blocks(data: &[u8]) -> Vec<BlockQ4_0> {
    data.chunks_exact(2 + BLOCK / 2)
        .map(|c| BlockQ4_0 {
            d: f16::from_le_bytes([c[0], c[1]]),
            qs: std::array::from_fn(|i| c[2 + i]),
        })
        .collect()
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
    fn stored_blocks_are_reordered_as_the_values_are() {
        let w = Tensor::randn(0f32, 1.0, (12, 64), &Device::Cpu).unwrap();
        let stored = QTensor::quantize(&permute(&w, 3), GgmlDType::Q8_0).unwrap();
        let path = Path::new("test.gguf");
        let m = quantized_matrix(&stored, Rows::RotaryInterleaved(3), QuantKind::Q8, path);
        let expected = undo_rotary_interleave(&stored.dequantize(&Device::Cpu).unwrap(), 3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(m.unwrap().dequantize(), expected);
    }

    #[test]
    fn layer_indices_read_only_digits() {
        assert_eq!(layer_index("blk.12.attn_q.weight"), Some(12));
        assert_eq!(layer_index("blk.+1.attn_q.weight"), None);
        assert_eq!(layer_index("token_embd.weight"), None);
    }
}
