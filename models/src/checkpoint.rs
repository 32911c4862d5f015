//! Reading weights from `*.safetensors`: one `model.safetensors`, or shards listed by
//! `model.safetensors.index.json`. Each tensor is checked for presence, dtype and shape before use,
//! so a damaged checkpoint fails with the file and tensor named rather than deep in a matmul.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype as StDtype, SafeTensors};
use serde_json::Value;

use crate::config::read_json;
use crate::error::{Error, Result};
use crate::quant::{QuantKind, QuantizedMatrix};

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The safetensors crate's own limit on a header: a longer one is refused before it is read.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Where each tensor of a checkpoint lives.
#[derive(Debug, Clone)]
pub struct WeightFiles {
    /// tensor name → file holding it; `None` for a single-file checkpoint (every name is there).
    index: Option<HashMap<String, PathBuf>>,
    single: Option<PathBuf>,
}

impl WeightFiles {
    /// Finds the weight files of a checkpoint directory.
    pub fn locate(dir: &Path) -> Result<Self> {
        let index_path = dir.join(INDEX_FILE);
        if index_path.is_file() {
            let json = read_json(&index_path)?;
            let map = json
                .get("weight_map")
                .and_then(Value::as_object)
                .ok_or_else(|| Error::MissingConfigField {
                    path: index_path.clone(),
                    field: "weight_map".into(),
                })?;
            let mut index = HashMap::new();
            for (name, file) in map {
                let file = file.as_str().ok_or_else(|| Error::UnsupportedConfig {
                    path: index_path.clone(),
                    field: format!("weight_map.{name}"),
                    value: file.to_string(),
                    reason: "expected a file name".into(),
                })?;
                // Shard names come from a file we did not write: keep them inside the directory.
                if file.contains('/') || file.contains('\\') || file.starts_with('.') {
                    return Err(Error::UnsupportedConfig {
                        path: index_path.clone(),
                        field: format!("weight_map.{name}"),
                        value: file.to_string(),
                        reason: "shard files must be plain names inside the checkpoint directory"
                            .into(),
                    });
                }
                index.insert(name.clone(), dir.join(file));
            }
            return Ok(WeightFiles {
                index: Some(index),
                single: None,
            });
        }
        let single = dir.join(SINGLE_FILE);
        if single.is_file() {
            return Ok(WeightFiles {
                index: None,
                single: Some(single),
            });
        }
        Err(Error::MissingFile { path: single })
    }

    /// Every weight file, each once.
    fn paths(&self) -> BTreeSet<&Path> {
        match (&self.index, &self.single) {
            (Some(index), _) => index.values().map(PathBuf::as_path).collect(),
            (None, single) => single.iter().map(PathBuf::as_path).collect(),
        }
    }

    fn file_of(&self, name: &str) -> Option<&Path> {
        match (&self.index, &self.single) {
            (Some(index), _) => index.get(name).map(PathBuf::as_path),
            (None, Some(single)) => Some(single),
            (None, None) => None,
        }
    }

    /// A path to name in errors about tensors that no file holds.
    pub(crate) fn describe(&self) -> PathBuf {
        self.single
            .clone()
            .unwrap_or_else(|| PathBuf::from(INDEX_FILE))
    }
}

/// What the headers of a checkpoint's weight files say: every tensor's name, dtype and shape,
/// learnt without reading or mapping any tensor data, so `config.json` can be checked against
/// the weights before anything is allocated from its numbers.
#[derive(Debug)]
pub struct Inventory {
    files: WeightFiles,
    headers: BTreeMap<PathBuf, Metadata>,
}

impl Inventory {
    /// Reads the header of every weight file, checking it describes exactly the file's bytes.
    pub fn read(files: WeightFiles) -> Result<Self> {
        let mut headers = BTreeMap::new();
        for path in files.paths() {
            headers.insert(path.to_path_buf(), read_header(path)?);
        }
        Ok(Inventory { files, headers })
    }

    pub fn files(&self) -> &WeightFiles {
        &self.files
    }

    /// Every tensor name in the files' headers.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.headers.values().flat_map(Metadata::offset_keys)
    }

    /// The file a tensor is in and what its header says of it.
    pub(crate) fn info(&self, name: &str) -> Result<(&Path, &TensorInfo)> {
        let missing = |path: PathBuf| Error::MissingTensor {
            path,
            name: name.to_string(),
        };
        let path = self
            .files
            .file_of(name)
            .ok_or_else(|| missing(self.files.describe()))?;
        self.headers
            .get(path)
            .and_then(|header| header.info(name))
            .map(|info| (path, info))
            .ok_or_else(|| missing(path.to_path_buf()))
    }

    /// The stored bytes of the given tensors (those the headers know of), for progress totals.
    pub fn stored_bytes(&self, specs: &[TensorSpec]) -> u64 {
        specs
            .iter()
            .filter_map(|spec| self.info(&spec.name).ok())
            .map(|(_, info)| (info.data_offsets.1 - info.data_offsets.0) as u64)
            .sum()
    }

    /// Checks a tensor the model needs is present, of the expected shape and a loadable dtype.
    pub fn check(&self, spec: &TensorSpec) -> Result<()> {
        let (path, info) = self.info(&spec.name)?;
        if info.shape != spec.shape {
            return Err(Error::TensorShape {
                path: path.to_path_buf(),
                name: spec.name.clone(),
                actual: info.shape.clone(),
                expected: spec.shape.clone(),
            });
        }
        compute_dtype(info.dtype)
            .map(|_| ())
            .ok_or_else(|| Error::TensorDtype {
                path: path.to_path_buf(),
                name: spec.name.clone(),
                dtype: format!("{:?}", info.dtype),
            })
    }
}

/// The quantization a dtype name asks for (`"q8"`, `"q4"`); see [`parse_dtype`] for the others.
pub fn parse_quantization(name: &str) -> Option<QuantKind> {
    match name {
        "q8" | "q8_0" => Some(QuantKind::Q8),
        "q4" | "q4_0" => Some(QuantKind::Q4),
        _ => None,
    }
}

/// The dtype in which tensors are computed, by the name a user gives it (`"f32"`, `"bf16"`).
pub fn parse_dtype(name: &str) -> Option<DType> {
    match name {
        "f32" | "float32" => Some(DType::F32),
        "bf16" | "bfloat16" => Some(DType::BF16),
        _ => None,
    }
}

/// The dtype a stored tensor loads as, for the dtypes that load.
fn compute_dtype(dtype: StDtype) -> Option<DType> {
    match dtype {
        StDtype::F32 => Some(DType::F32),
        StDtype::BF16 => Some(DType::BF16),
        StDtype::F16 => Some(DType::F16),
        _ => None,
    }
}

/// Reads one safetensors header. Its length is checked against the file before a buffer is
/// sized from it, and the tensors it describes must fill the rest of the file exactly.
fn read_header(path: &Path) -> Result<Metadata> {
    let corrupt = |reason: String| Error::CorruptSafetensors {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = [0u8; 8];
    if len < 8 {
        return Err(corrupt(format!(
            "{len} bytes, shorter than the 8-byte header length"
        )));
    }
    file.read_exact(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    let n = u64::from_le_bytes(prefix);
    if n > len - 8 || n > MAX_HEADER_BYTES {
        return Err(corrupt(format!(
            "the header claims {n} bytes; the file has {} after the length",
            len - 8
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(path, e))?;
    let metadata: Metadata =
        serde_json::from_slice(&header).map_err(|e| corrupt(format!("invalid header: {e}")))?;
    let data = len - 8 - n;
    let described = metadata.data_len() as u64;
    if described != data {
        return Err(corrupt(format!(
            "the header describes {described} bytes of tensor data; the file holds {data}"
        )));
    }
    Ok(metadata)
}

/// One tensor the model needs: its name and the shape the config implies.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

/// Loads the requested tensors, converted to `dtype`, checking dtype and shape of each.
/// `read` is told the stored bytes of each tensor once it is in memory, for progress displays.
pub fn load_tensors(
    files: &WeightFiles,
    specs: &[TensorSpec],
    dtype: DType,
    device: &Device,
    read: &mut dyn FnMut(u64),
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(specs.len());
    for_each_tensor(files, specs, device, read, &mut |spec, stored| {
        let tensor = stored.tensor()?;
        let tensor = match tensor.dtype() == dtype {
            true => tensor,
            false => tensor.to_dtype(dtype)?,
        };
        out.insert(spec.name.clone(), tensor);
        Ok(())
    })?;
    Ok(out)
}

/// What [`load_quantized`] does with each tensor, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Quantized as it is read; only the blocks are kept.
    Quantized(QuantKind),
    /// Converted to this dtype.
    As(DType),
}

/// Loads the requested tensors, quantizing the matrices `keep` says to as each is read, so
/// the f32 or bf16 original of only one tensor is ever in memory beside the blocks.
pub(crate) fn load_quantized(
    files: &WeightFiles,
    specs: &[TensorSpec],
    keep: &dyn Fn(&TensorSpec) -> Keep,
    device: &Device,
    read: &mut dyn FnMut(u64),
) -> Result<(HashMap<String, Tensor>, HashMap<String, QuantizedMatrix>)> {
    let (mut tensors, mut quantized) = (HashMap::new(), HashMap::new());
    for_each_tensor(files, specs, device, read, &mut |spec, stored| {
        match (keep(spec), stored.shape) {
            (Keep::Quantized(kind), &[rows, cols]) => {
                let q = QuantizedMatrix::quantize_by_rows(kind, rows, cols, &mut |start, n| {
                    let part = stored.rows(start, n, cols)?.to_dtype(DType::F32)?;
                    Ok(part.flatten_all()?.to_vec1::<f32>()?)
                })?;
                quantized.insert(spec.name.clone(), q);
            }
            (Keep::As(dtype), _) => {
                tensors.insert(spec.name.clone(), stored.tensor()?.to_dtype(dtype)?);
            }
            (Keep::Quantized(_), dims) => {
                return Err(Error::InvalidRequest(format!(
                    "{}: only matrices are quantized, not {dims:?}",
                    spec.name
                )))
            }
        }
        Ok(())
    })?;
    Ok((tensors, quantized))
}

/// A tensor's bytes in a mapped file, checked against its spec.
struct Stored<'a> {
    data: &'a [u8],
    dtype: DType,
    shape: &'a [usize],
    device: &'a Device,
}

impl Stored<'_> {
    /// The whole tensor, copied out of the map.
    fn tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_raw_buffer(
            self.data,
            self.dtype,
            self.shape,
            self.device,
        )?)
    }

    /// Rows `start..start + n` of a matrix of `cols` columns, copied out of the map.
    fn rows(&self, start: usize, n: usize, cols: usize) -> Result<Tensor> {
        let size = self.dtype.size_in_bytes();
        let bytes = &self.data[start * cols * size..][..n * cols * size];
        Ok(Tensor::from_raw_buffer(
            bytes,
            self.dtype,
            &[n, cols],
            self.device,
        )?)
    }
}

/// Hands each requested tensor, checked, to `take` as it lies in the mapped file. Each
/// tensor's mapped pages are released once it is read, so a checkpoint's file is never
/// resident beside what was made from it.
fn for_each_tensor(
    files: &WeightFiles,
    specs: &[TensorSpec],
    device: &Device,
    read: &mut dyn FnMut(u64),
    take: &mut dyn FnMut(&TensorSpec, &Stored) -> Result<()>,
) -> Result<()> {
    // Group by file so each shard is mapped and its header parsed once.
    let mut by_file: BTreeMap<&Path, Vec<&TensorSpec>> = BTreeMap::new();
    for spec in specs {
        let file = files
            .file_of(&spec.name)
            .ok_or_else(|| Error::MissingTensor {
                path: files.describe(),
                name: spec.name.clone(),
            })?;
        by_file.entry(file).or_default().push(spec);
    }
    for (path, specs) in by_file {
        let handle = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only and lives only inside this loop iteration; a checkpoint
        // changed on disk while it loads is outside what we can defend against.
        let mmap = unsafe { memmap2::Mmap::map(&handle) }.map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&mmap).map_err(|e| Error::CorruptSafetensors {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        for spec in specs {
            let view = st.tensor(&spec.name).map_err(|_| Error::MissingTensor {
                path: path.to_path_buf(),
                name: spec.name.clone(),
            })?;
            if view.shape() != spec.shape.as_slice() {
                return Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    name: spec.name.clone(),
                    actual: view.shape().to_vec(),
                    expected: spec.shape.clone(),
                });
            }
            let src = compute_dtype(view.dtype()).ok_or_else(|| Error::TensorDtype {
                path: path.to_path_buf(),
                name: spec.name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            let stored = Stored {
                data: view.data(),
                dtype: src,
                shape: view.shape(),
                device,
            };
            take(spec, &stored)?;
            read(view.data().len() as u64);
            release(&mmap, view.data());
        }
    }
    Ok(())
}

/// Drops the mapped pages of `data` (a slice of `mmap`) from this process's memory.
#[cfg(unix)]
fn release(mmap: &memmap2::Mmap, data: &[u8]) {
    let offset = data.as_ptr() as usize - mmap.as_ptr() as usize;
    // SAFETY: the map is read-only and backed by a file: pages dropped are read again from
    // the file if touched, with the same contents. The advice is only a hint; a failure
    // leaves the pages mapped and changes nothing else.
    let _ = unsafe {
        mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, data.len())
    };
}

#[cfg(not(unix))]
fn release(_: &memmap2::Mmap, _: &[u8]) {}
