//! The model used when none is configured: the project's own small model, embedded in the binary
//! at build time (see `build.rs`) and unpacked once into a cache directory, because the engine
//! loads checkpoints from a directory like any other.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/default_model.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum DefaultModelError {
    #[error(
        "no model configured and this build embeds no default model: set `model` \
         (initializationOptions) or pass --model DIR|ID (a Dream- or LLaDA-family checkpoint directory)"
    )]
    NotEmbedded,
    #[error("cannot unpack the embedded default model into {path}: {source}")]
    Unpack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub fn is_embedded() -> bool {
    !embedded::FILES.is_empty()
}

/// The directory holding the embedded model, unpacked on first use.
pub fn directory() -> Result<PathBuf, DefaultModelError> {
    if !is_embedded() {
        return Err(DefaultModelError::NotEmbedded);
    }
    unpack(embedded::FILES, &cache_root())
}

/// `$DLLM_CACHE_DIR`, else `$XDG_CACHE_HOME/dllm-ls`, else `~/.cache/dllm-ls`, else the temp dir.
fn cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("DLLM_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("dllm-ls")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/dllm-ls")))
        .unwrap_or_else(|| std::env::temp_dir().join("dllm-ls"))
}

/// FNV-1a over names and contents: a stable name per model, so a new build never reads an old
/// unpacked copy.
fn fingerprint(files: &[(&str, &[u8])]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, bytes) in files {
        for b in name
            .bytes()
            .chain((bytes.len() as u64).to_le_bytes())
            .chain(bytes.iter().copied())
        {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Writes `files` under `root/default-<fingerprint>/` unless a complete copy is there already.
/// Written into a temporary directory first and renamed, so a crash never leaves half a model.
pub(crate) fn unpack(files: &[(&str, &[u8])], root: &Path) -> Result<PathBuf, DefaultModelError> {
    let dir = root.join(format!("default-{:016x}", fingerprint(files)));
    let complete = |d: &Path| {
        files.iter().all(|(name, bytes)| {
            std::fs::metadata(d.join(name)).is_ok_and(|m| m.len() == bytes.len() as u64)
        })
    };
    if complete(&dir) {
        return Ok(dir);
    }
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DefaultModelError::Unpack { path, source }
    };
    std::fs::create_dir_all(root).map_err(err(root))?;
    let staging = root.join(format!(
        ".staging-{}-{:016x}",
        std::process::id(),
        fingerprint(files)
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(err(&staging))?;
    for (name, bytes) in files {
        std::fs::write(staging.join(name), bytes).map_err(err(&staging.join(name)))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::rename(&staging, &dir) {
        // Another process may have finished the same copy first.
        let _ = std::fs::remove_dir_all(&staging);
        if !complete(&dir) {
            return Err(err(&dir)(e));
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_once_and_repairs_a_damaged_copy() {
        let root = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8])] =
            &[("config.json", b"{}"), ("model.safetensors", b"0123456789")];
        let dir = unpack(files, root.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.join("model.safetensors")).unwrap(),
            b"0123456789"
        );
        let again = unpack(files, root.path()).unwrap();
        assert_eq!(dir, again);
        // A truncated file is noticed and the copy redone.
        std::fs::write(dir.join("model.safetensors"), b"01").unwrap();
        let fixed = unpack(files, root.path()).unwrap();
        assert_eq!(
            std::fs::read(fixed.join("model.safetensors")).unwrap(),
            b"0123456789"
        );
        // Other contents, other directory.
        let other = unpack(&[("config.json", b"{ }")], root.path()).unwrap();
        assert_ne!(other, dir);
    }
}
