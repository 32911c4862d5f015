//! The checkpoint's tokenizer and its special tokens.
//!
//! Special ids come from the checkpoint's own files, in this order: `config.json`,
//! `generation_config.json`, then the token strings named in `tokenizer_config.json`, then the
//! tokenizer's own vocabulary (for a mask token spelled the way diffusion checkpoints spell it).
//! Nothing is hard-coded for one model.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{read_json, token_ids_in, ConfigTokenIds};
use crate::error::{Error, Result};

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// Spellings of the mask token in released diffusion checkpoints, tried when no file names an id.
pub(crate) const MASK_SPELLINGS: &[&str] = &["<|mask|>", "<|mdm_mask|>", "[MASK]", "<mask>"];

#[derive(Debug, Clone, PartialEq)]
pub struct SpecialTokens {
    pub mask: u32,
    /// Tokens that end a span when predicted inside it (EOS, pad and any extra end ids).
    pub end: Vec<u32>,
    /// The token written into the rest of a span after it ends.
    pub pad: u32,
    pub bos: Option<u32>,
    /// Whether the tokenizer config asks for BOS in front of the text.
    pub add_bos: bool,
}

impl SpecialTokens {
    pub fn is_end(&self, token: u32) -> bool {
        self.end.contains(&token)
    }
}

#[derive(Clone)]
pub struct CodeTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl CodeTokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        // User code is text: a literal "<|mask|>" or "<|endoftext|>" in a file must not turn
        // into the special token (a mask on the canvas, or an end of span).
        inner.set_encode_special_tokens(true);
        Ok(CodeTokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// A tokenizer built in memory (from a GGUF file's vocabulary); `path` names its source.
    pub(crate) fn from_tokenizer(mut inner: tokenizers::Tokenizer, path: &Path) -> Self {
        inner.set_encode_special_tokens(true);
        CodeTokenizer {
            inner,
            path: path.to_path_buf(),
        }
    }

    /// Token ids of `text`, without any special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::Tokenize(e.to_string()))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `"<|mask|>"` or `{"content": "<|mask|>", ...}` in `tokenizer_config.json`.
fn token_string(json: &Value, key: &str) -> Option<String> {
    match json.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Resolves the special tokens of a checkpoint directory.
pub(crate) fn resolve_special_tokens(
    dir: &Path,
    config: &ConfigTokenIds,
    tokenizer: &CodeTokenizer,
    vocab_rows: usize,
) -> Result<SpecialTokens> {
    let files = TokenFiles::read(dir, config, tokenizer)?;
    let mask = files.mask()?;
    let (end, pad) = files.end_and_pad(mask)?;
    let bos = config
        .bos
        .or(files.generation.bos)
        .or_else(|| files.named("bos_token"));
    let add_bos = files
        .tokenizer_config
        .get("add_bos_token")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        && bos.is_some();
    let special = SpecialTokens {
        mask,
        end,
        pad,
        bos,
        add_bos,
    };
    special.check_in_vocabulary(&dir.join("config.json"), vocab_rows)?;
    Ok(special)
}

/// The files that name special tokens, read once, in the order they are consulted.
struct TokenFiles<'a> {
    dir: &'a Path,
    config: &'a ConfigTokenIds,
    generation: ConfigTokenIds,
    /// `tokenizer_config.json`, or null where there is none.
    tokenizer_config: Value,
    tokenizer: &'a CodeTokenizer,
}

impl<'a> TokenFiles<'a> {
    fn read(
        dir: &'a Path,
        config: &'a ConfigTokenIds,
        tokenizer: &'a CodeTokenizer,
    ) -> Result<Self> {
        let gen_path = dir.join(GENERATION_CONFIG_FILE);
        let generation = if gen_path.is_file() {
            token_ids_in(&gen_path, &read_json(&gen_path)?)
        } else {
            ConfigTokenIds::default()
        };
        let tc_path = dir.join(TOKENIZER_CONFIG_FILE);
        let tokenizer_config = if tc_path.is_file() {
            read_json(&tc_path)?
        } else {
            Value::Null
        };
        Ok(TokenFiles {
            dir,
            config,
            generation,
            tokenizer_config,
            tokenizer,
        })
    }

    /// The id of the token `tokenizer_config.json` names under `key`.
    fn named(&self, key: &str) -> Option<u32> {
        token_string(&self.tokenizer_config, key).and_then(|s| self.tokenizer.token_to_id(&s))
    }

    fn mask(&self) -> Result<u32> {
        let no_mask = || Error::NoMaskToken {
            path: self.tokenizer.path().to_path_buf(),
        };
        let mask = self
            .config
            .mask
            .or(self.generation.mask)
            .or_else(|| self.named("mask_token"))
            .or_else(|| {
                MASK_SPELLINGS
                    .iter()
                    .find_map(|s| self.tokenizer.token_to_id(s))
            })
            .ok_or_else(no_mask)?;
        // A mask id the tokenizer does not know means config and tokenizer disagree.
        match self.tokenizer.id_to_token(mask) {
            Some(_) => Ok(mask),
            None => Err(no_mask()),
        }
    }

    /// The tokens that end a span (never the mask), and the one written after an end.
    fn end_and_pad(&self, mask: u32) -> Result<(Vec<u32>, u32)> {
        let (config, generation) = (self.config, &self.generation);
        let mut end: Vec<u32> = config.eos.iter().chain(&generation.eos).copied().collect();
        end.extend(self.named("eos_token"));
        let pad = config
            .pad
            .or(generation.pad)
            .or_else(|| self.named("pad_token"))
            .or_else(|| end.first().copied());
        end.extend(pad);
        end.sort_unstable();
        end.dedup();
        end.retain(|&t| t != mask);
        let pad = pad.ok_or_else(|| Error::MissingConfigField {
            path: self.dir.join("config.json"),
            field: "eos_token_id (or pad_token_id): needed to end a span early".into(),
        })?;
        Ok((end, pad))
    }
}

impl SpecialTokens {
    /// Every id is a row of the embedding; `path` is the file an error names.
    pub(crate) fn check_in_vocabulary(&self, path: &Path, vocab_rows: usize) -> Result<()> {
        let check = |name: &str, id: u32| {
            if id as usize >= vocab_rows {
                Err(Error::SpecialTokenOutOfRange {
                    path: path.to_path_buf(),
                    name: name.to_string(),
                    id,
                    vocab: vocab_rows,
                })
            } else {
                Ok(())
            }
        };
        check("mask", self.mask)?;
        check("pad", self.pad)?;
        for &e in &self.end {
            check("eos", e)?;
        }
        if let Some(b) = self.bos {
            check("bos", b)?;
        }
        Ok(())
    }
}
