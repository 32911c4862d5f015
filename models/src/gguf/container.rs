//! The GGUF container: header, metadata and tensor infos, parsed by candle's `gguf_file` (which
//! checks every count and length in the header against the bytes the file really has before it
//! allocates from them), with typed reads of the metadata that name the key a user would look up.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};
use candle_core::quantized::QTensor;
use candle_core::Device;

use crate::error::{Error, Result};

/// An open GGUF file and what its header says.
pub(crate) struct GgufFile {
    path: PathBuf,
    reader: BufReader<File>,
    content: Content,
    len: u64,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| unreadable(path, &e))?;
        if content.tensor_data_offset > len {
            return Err(corrupt(
                path,
                "the tensor data starts past the end of the file".into(),
            ));
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            reader,
            content,
            len,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A required non-negative integer of any width.
    pub fn uint(&self, key: &str) -> Result<u64> {
        let v = self.get(key).ok_or_else(|| self.missing(key))?;
        as_uint(v).ok_or_else(|| self.unsupported(key, v, "expected a non-negative integer"))
    }

    pub fn uint_opt(&self, key: &str) -> Result<Option<u64>> {
        self.get(key).map(|_| self.uint(key)).transpose()
    }

    /// A positive integer no larger than `limit`, as a size.
    pub fn size(&self, key: &str, limit: usize) -> Result<usize> {
        let n = self.uint(key)?;
        if n == 0 {
            return Err(self.unsupported(key, &Value::U64(0), "expected a positive integer"));
        }
        if n > limit as u64 {
            return Err(Error::ConfigOutOfRange {
                path: self.path.clone(),
                field: key.to_string(),
                value: n,
                limit: limit as u64,
            });
        }
        Ok(n as usize)
    }

    /// An optional positive finite float no larger than `limit`.
    pub fn float_or(&self, key: &str, default: f64, limit: f64) -> Result<f64> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let x = match v {
            // The converter rounded the config's number to f32; its shortest decimal form is
            // the number the config had (1e-6, not 9.99999997e-7).
            Value::F32(x) => x.to_string().parse().unwrap_or(f64::NAN),
            Value::F64(x) => *x,
            v => as_uint(v).map(|n| n as f64).unwrap_or(f64::NAN),
        };
        match x.is_finite() && x > 0.0 && x <= limit {
            true => Ok(x),
            false => Err(self.unsupported(
                key,
                v,
                &format!("expected a positive number up to {limit:e}"),
            )),
        }
    }

    pub fn bool_opt(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.unsupported(key, v, "expected true or false")),
        }
    }

    pub fn string(&self, key: &str) -> Result<&str> {
        match self.get(key).ok_or_else(|| self.missing(key))? {
            Value::String(s) => Ok(s),
            v => Err(self.unsupported(key, v, "expected a string")),
        }
    }

    pub fn array(&self, key: &str) -> Result<&[Value]> {
        match self.get(key).ok_or_else(|| self.missing(key))? {
            Value::Array(a) => Ok(a),
            v => Err(self.unsupported(key, v, "expected an array")),
        }
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.content.tensor_infos.get(name)
    }

    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.content.tensor_infos.keys().map(String::as_str)
    }

    /// The stored bytes of a tensor, from its type and shape (already checked against the config).
    pub fn stored_bytes(&self, info: &TensorInfo) -> u64 {
        let dtype = info.ggml_dtype;
        (info.shape.elem_count() / dtype.block_size() * dtype.type_size()) as u64
    }

    /// Reads one tensor's blocks; the caller has checked its type and shape.
    pub fn read_tensor(&mut self, name: &str) -> Result<QTensor> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        let end = self
            .content
            .tensor_data_offset
            .checked_add(info.offset)
            .and_then(|start| start.checked_add(self.stored_bytes(info)));
        if end.is_none_or(|end| end > self.len) {
            return Err(corrupt(
                &self.path,
                format!("tensor `{name}` lies past the end of the file"),
            ));
        }
        info.read(
            &mut self.reader,
            self.content.tensor_data_offset,
            &Device::Cpu,
        )
        .map_err(|e| corrupt(&self.path, format!("tensor `{name}`: {}", message(&e))))
    }

    pub fn missing(&self, key: &str) -> Error {
        Error::MissingConfigField {
            path: self.path.clone(),
            field: key.to_string(),
        }
    }

    pub fn unsupported(&self, key: &str, v: &Value, reason: &str) -> Error {
        Error::UnsupportedConfig {
            path: self.path.clone(),
            field: key.to_string(),
            value: describe(v),
            reason: reason.to_string(),
        }
    }
}

pub(crate) fn corrupt(path: &Path, reason: String) -> Error {
    Error::CorruptGguf {
        path: path.to_path_buf(),
        reason,
    }
}

/// Why candle could not read a header: a tensor type it does not know (the i-quants, ternary
/// and FP4 types) is named as such, the rest is damage.
fn unreadable(path: &Path, e: &candle_core::Error) -> Error {
    let m = message(e);
    match m
        .strip_prefix("unknown dtype for tensor ")
        .and_then(|n| n.parse().ok())
    {
        Some(n) => Error::GgufTensorType {
            path: path.to_path_buf(),
            name: "(one of the file's tensors)".into(),
            dtype: format!("{} (ggml type {n})", ggml_type_name(n)),
        },
        None => corrupt(path, m),
    }
}

/// llama.cpp's names for the tensor types candle does not read (`ggml_type` in ggml.h).
fn ggml_type_name(n: u32) -> &'static str {
    match n {
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        _ => "an unknown type",
    }
}

/// candle's message without the backtrace it appends when `RUST_BACKTRACE` is set.
fn message(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// An integer value of any width, if it is one and not negative.
pub(crate) fn as_uint(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(n) => Some(n as u64),
        Value::U16(n) => Some(n as u64),
        Value::U32(n) => Some(n as u64),
        Value::U64(n) => Some(n),
        Value::I8(n) => u64::try_from(n).ok(),
        Value::I16(n) => u64::try_from(n).ok(),
        Value::I32(n) => u64::try_from(n).ok(),
        Value::I64(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// A metadata value for an error message (arrays by length: a vocabulary is 150k strings).
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("an array of {} values", a.len()),
        v => format!("{v:?}"),
    }
}
