//! The tokenizer and special tokens of a GGUF file, from its `tokenizer.ggml.*` metadata: a
//! `gpt2` (byte-level BPE) vocabulary becomes a `tokenizers::Tokenizer` built as the equivalent
//! `tokenizer.json`, splitting text with the pattern `tokenizer.ggml.pre` names; the special ids
//! are the file's own. Other tokenizer models and pre-tokenizers are refused by name.

use std::str::FromStr;

use candle_core::quantized::gguf_file::Value;
use serde_json::{json, Value as Json};

use super::container::{as_uint, GgufFile};
use crate::error::{Error, Result};
use crate::tokenizer::{CodeTokenizer, SpecialTokens, MASK_SPELLINGS};

const MODEL: &str = "tokenizer.ggml.model";
const PRE: &str = "tokenizer.ggml.pre";
const TOKENS: &str = "tokenizer.ggml.tokens";
const TYPES: &str = "tokenizer.ggml.token_type";
const MERGES: &str = "tokenizer.ggml.merges";

/// llama.cpp's token types (`llama_token_type`).
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;
const UNUSED: u64 = 5;

/// Qwen2's split pattern (llama.cpp's `qwen2` pre-tokenizer): digits one at a time.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split pattern (llama.cpp's `llama-bpe`): digits in threes.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer a GGUF file describes.
pub(crate) fn tokenizer(file: &GgufFile) -> Result<CodeTokenizer> {
    let model = file.string(MODEL)?;
    if model != "gpt2" {
        let v = Value::String(model.to_string());
        return Err(file.unsupported(MODEL, &v, "only byte-level BPE (`gpt2`) vocabularies load"));
    }
    let pre = pre_tokenizer(file)?;
    let tokens = strings(file, TOKENS)?;
    let types = match file.get(TYPES) {
        Some(_) => file.array(TYPES)?.iter().map(as_uint).collect(),
        None => vec![],
    };
    let mut vocab = serde_json::Map::new();
    let mut added = vec![];
    for (id, token) in tokens.iter().enumerate() {
        match types.get(id).copied().flatten() {
            Some(UNUSED) => continue,
            Some(t @ (CONTROL | USER_DEFINED)) => added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": t == CONTROL,
            })),
            _ => {}
        }
        vocab.insert(token.to_string(), json!(id));
    }
    let merges: Vec<Json> = match file.get(MERGES) {
        Some(_) => strings(file, MERGES)?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok(json!([a, b])),
                None => Err(file.unsupported(
                    MERGES,
                    &Value::String(m.into()),
                    "a merge is two tokens and a space",
                )),
            })
            .collect::<Result<_>>()?,
        None => vec![],
    };
    let spec = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added, "normalizer": null, "pre_tokenizer": pre, "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    });
    let inner =
        tokenizers::Tokenizer::from_str(&spec.to_string()).map_err(|e| Error::Tokenizer {
            path: file.path().to_path_buf(),
            reason: format!("the GGUF vocabulary does not make a BPE tokenizer: {e}"),
        })?;
    Ok(CodeTokenizer::from_tokenizer(inner, file.path()))
}

/// The pre-tokenizer `tokenizer.ggml.pre` names, as `tokenizer.json` spells it.
fn pre_tokenizer(file: &GgufFile) -> Result<Json> {
    let name = match file.get(PRE) {
        Some(_) => file.string(PRE)?,
        None => "default",
    };
    let split = |pattern: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        ]})
    };
    match name {
        "default" | "gpt-2" | "gpt2" => Ok(json!(
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        )),
        "qwen2" => Ok(split(QWEN2_PATTERN)),
        "llama-bpe" | "llama3" => Ok(split(LLAMA3_PATTERN)),
        other => Err(file.unsupported(
            PRE,
            &Value::String(other.to_string()),
            "supported pre-tokenizers: gpt-2, qwen2, llama-bpe",
        )),
    }
}

fn strings<'a>(file: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    file.array(key)?
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.as_str()),
            v => Err(file.unsupported(key, v, "expected an array of strings")),
        })
        .collect()
}

/// The special tokens the file names; the mask, when it names none, by its usual spellings.
pub(crate) fn special_tokens(
    file: &GgufFile,
    tokenizer: &CodeTokenizer,
    vocab_rows: usize,
) -> Result<SpecialTokens> {
    let id = |key: &str| -> Result<Option<u32>> {
        let key = format!("tokenizer.ggml.{key}");
        match file.uint_opt(&key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| file.unsupported(&key, &Value::U64(n), "not a token id")),
        }
    };
    let no_mask = || Error::NoMaskToken {
        path: file.path().to_path_buf(),
    };
    let mask = match id("mask_token_id")? {
        Some(m) => m,
        None => MASK_SPELLINGS
            .iter()
            .find_map(|s| tokenizer.token_to_id(s))
            .ok_or_else(no_mask)?,
    };
    let mut end: Vec<u32> = [id("eos_token_id")?, id("eot_token_id")?]
        .into_iter()
        .flatten()
        .collect();
    let pad = id("padding_token_id")?
        .or_else(|| end.first().copied())
        .ok_or_else(|| {
            file.missing(
                "tokenizer.ggml.eos_token_id (or padding_token_id): needed to end a span early",
            )
        })?;
    end.push(pad);
    end.sort_unstable();
    end.dedup();
    end.retain(|&t| t != mask);
    let bos = id("bos_token_id")?;
    let special = SpecialTokens {
        mask,
        end,
        pad,
        bos,
        add_bos: file
            .bool_opt("tokenizer.ggml.add_bos_token")?
            .unwrap_or(false)
            && bos.is_some(),
    };
    special.check_in_vocabulary(file.path(), vocab_rows)?;
    Ok(special)
}
