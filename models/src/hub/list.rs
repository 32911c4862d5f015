//! What the hub cache holds: each model repository with its snapshots, what they take on disk,
//! the family their config names and what their weights will take in memory, for
//! `dllm-ls models`.

use std::path::Path;

use super::cache::{id_of_folder, RepoCache};
use super::error::HubError;
use crate::config::detect_family;
use crate::model::CONFIG_FILE;
use crate::resident::{expected_resident_sizes, ResidentSizes};

/// One snapshot of a model repository in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// `owner/name`.
    pub id: String,
    /// The branches and tags that point at this commit (`main`, ...), maybe none.
    pub refs: Vec<String>,
    pub commit: String,
    /// Bytes of the repository's blobs (shared by its snapshots, so counted per repository).
    pub repo_bytes: u64,
    /// `Dream`, `LLaDA`, or what the config says when dllm-ls cannot run it.
    pub family: String,
    /// The weights' expected bytes in memory by dtype; `None` when the snapshot's config or
    /// weight headers do not describe a model dllm-ls loads.
    pub resident: Option<ResidentSizes>,
}

/// Every model snapshot in the cache at `cache`, sorted by id; an absent cache holds none.
pub fn cached_models(cache: &Path) -> Result<Vec<CachedModel>, HubError> {
    let entries = match std::fs::read_dir(cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HubError::io(cache, e)),
    };
    let mut models = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().and_then(id_of_folder) else {
            continue;
        };
        let repo = RepoCache::new(cache, &id);
        let repo_bytes = dir_bytes(&repo.root().join("blobs"));
        let refs = refs_of(repo.root());
        for commit in subdirs(&repo.root().join("snapshots")) {
            let snapshot = repo.snapshot_dir(&commit);
            models.push(CachedModel {
                id: id.clone(),
                refs: refs
                    .iter()
                    .filter(|(_, c)| *c == commit)
                    .map(|(r, _)| r.clone())
                    .collect(),
                family: family_of(&snapshot.join(CONFIG_FILE)),
                resident: expected_resident_sizes(&snapshot).ok(),
                commit,
                repo_bytes,
            });
        }
    }
    models.sort_by(|a, b| (&a.id, &a.refs, &a.commit).cmp(&(&b.id, &b.refs, &b.commit)));
    Ok(models)
}

/// The family a snapshot's config names, in words.
fn family_of(config: &Path) -> String {
    let Some(json) = std::fs::read_to_string(config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return "no config.json".into();
    };
    match detect_family(config, &json) {
        Ok(family) => format!("{family:?}"),
        Err(_) => {
            let model_type = json.get("model_type").and_then(|v| v.as_str());
            format!("unsupported ({})", model_type.unwrap_or("no model_type"))
        }
    }
}

/// `refs/` as (name, commit) pairs; branch names may hold slashes (`refs/pr/1`).
fn refs_of(root: &Path) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let base = root.join("refs");
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(commit) = std::fs::read_to_string(&path) {
                let name = path.strip_prefix(&base).unwrap_or(&path);
                refs.push((
                    name.to_string_lossy().into_owned(),
                    commit.trim().to_string(),
                ));
            }
        }
    }
    refs.sort();
    refs
}

fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// The bytes of the files directly in `dir` (blobs, and partial downloads).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
