//! Reading weights from `*.safetensors`: one `model.safetensors`, or shards listed by
//! `model.safetensors.index.json`. Each tensor is checked for presence, dtype and shape before use,
//! so a damaged checkpoint fails with the file and tensor named rather than deep in a matmul.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype as StDtype, SafeTensors};
use serde_json::Value;

use crate::config::read_json;
use crate::error::{Error, Result};

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

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

    fn file_of(&self, name: &str) -> Option<&Path> {
        match (&self.index, &self.single) {
            (Some(index), _) => index.get(name).map(PathBuf::as_path),
            (None, Some(single)) => Some(single),
            (None, None) => None,
        }
    }

    /// A path to name in errors about tensors that no file holds.
    fn describe(&self) -> PathBuf {
        self.single
            .clone()
            .unwrap_or_else(|| PathBuf::from(INDEX_FILE))
    }
}

/// One tensor the model needs: its name and the shape the config implies.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

/// Loads the requested tensors, converted to `dtype`, checking dtype and shape of each.
pub fn load_tensors(
    files: &WeightFiles,
    specs: &[TensorSpec],
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
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
    let mut out = HashMap::with_capacity(specs.len());
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
            let src = match view.dtype() {
                StDtype::F32 => DType::F32,
                StDtype::BF16 => DType::BF16,
                StDtype::F16 => DType::F16,
                other => {
                    return Err(Error::TensorDtype {
                        path: path.to_path_buf(),
                        name: spec.name.clone(),
                        dtype: format!("{other:?}"),
                    })
                }
            };
            let tensor = Tensor::from_raw_buffer(view.data(), src, view.shape(), device)?;
            let tensor = if src == dtype {
                tensor
            } else {
                tensor.to_dtype(dtype)?
            };
            out.insert(spec.name.clone(), tensor);
        }
    }
    Ok(out)
}
