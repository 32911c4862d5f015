//! The hub cache's layout, the one huggingface_hub writes, so Python and dllm-ls share downloads:
//!
//! ```text
//! {cache}/models--{owner}--{name}/
//!     blobs/{etag}                  file contents, named by the hub's etag (sha256 for LFS files)
//!     blobs/{etag}.incomplete       a download under way or cut off, resumed from its length
//!     refs/{revision}               the commit a branch or tag last resolved to
//!     snapshots/{commit}/{file}     symlinks to ../../blobs/{etag}
//! {cache}/.locks/models--{owner}--{name}/{etag}.lock   held while a blob downloads
//! ```

use std::path::{Path, PathBuf};

use super::error::HubError;

/// One repository's part of the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    root: PathBuf,
}

impl RepoCache {
    pub fn new(cache: &Path, id: &str) -> Self {
        RepoCache {
            root: cache.join(folder_name(id)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.root.join("blobs").join(etag)
    }

    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.root.join("blobs").join(format!("{etag}.incomplete"))
    }

    /// The lock huggingface_hub takes while it downloads a blob (`{cache}/.locks/{folder}/{etag}.lock`).
    pub fn lock_path(&self, etag: &str) -> PathBuf {
        let (cache, folder) = (self.root.parent(), self.root.file_name());
        let locks = cache.unwrap_or(Path::new(".")).join(".locks");
        locks
            .join(folder.unwrap_or_default())
            .join(format!("{etag}.lock"))
    }

    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    /// A file of a snapshot, if the cache holds it whole (a link to a missing blob does not count).
    pub fn snapshot_file(&self, commit: &str, file: &str) -> Option<PathBuf> {
        let path = self.snapshot_dir(commit).join(file);
        path.is_file().then_some(path)
    }

    /// The commit a revision names in the cache: a commit hash names itself, a branch or tag is
    /// looked up in `refs/`.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) && self.snapshot_dir(revision).is_dir() {
            return Some(revision.to_string());
        }
        let commit = std::fs::read_to_string(self.root.join("refs").join(revision)).ok()?;
        let commit = commit.trim();
        (!commit.is_empty()).then(|| commit.to_string())
    }

    /// Records that `revision` (a branch or tag) is at `commit` now.
    pub fn set_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        if revision == commit {
            return Ok(());
        }
        let path = self.root.join("refs").join(revision);
        create_parent(&path)?;
        std::fs::write(&path, commit).map_err(|e| HubError::io(&path, e))
    }

    /// Puts `file` of `commit` into the snapshot as a link to its blob.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf, HubError> {
        let path = self.snapshot_dir(commit).join(file);
        create_parent(&path)?;
        let _ = std::fs::remove_file(&path);
        // Relative, as huggingface_hub makes them, so the cache can move.
        let up = "../".repeat(file.matches('/').count() + 2);
        let target = PathBuf::from(format!("{up}blobs/{etag}"));
        link_or_copy(&target, &self.blob(etag), &path)?;
        Ok(path)
    }
}

/// `owner/name` → `models--owner--name`.
pub fn folder_name(id: &str) -> String {
    format!("models--{}", id.replace('/', "--"))
}

/// `models--owner--name` → `owner/name`, for other folders `None`.
pub fn id_of_folder(folder: &str) -> Option<String> {
    folder
        .strip_prefix("models--")
        .map(|rest| rest.replace("--", "/"))
}

pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn create_parent(path: &Path) -> Result<(), HubError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))
}

#[cfg(unix)]
fn link_or_copy(target: &Path, blob: &Path, path: &Path) -> Result<(), HubError> {
    let _ = blob;
    std::os::unix::fs::symlink(target, path).map_err(|e| HubError::io(path, e))
}

/// Where symlinks need privileges, huggingface_hub copies; so do we.
#[cfg(not(unix))]
fn link_or_copy(_target: &Path, blob: &Path, path: &Path) -> Result<(), HubError> {
    std::fs::copy(blob, path)
        .map(|_| ())
        .map_err(|e| HubError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_round_trip() {
        assert_eq!(
            folder_name("Dream-org/Dream-v0-Base-7B"),
            "models--Dream-org--Dream-v0-Base-7B"
        );
        assert_eq!(
            id_of_folder("models--Dream-org--Dream-v0-Base-7B").as_deref(),
            Some("Dream-org/Dream-v0-Base-7B")
        );
        assert_eq!(id_of_folder("datasets--a--b"), None);
    }

    #[test]
    fn links_point_into_blobs_and_refs_name_commits() {
        let dir = tempfile::tempdir().unwrap();
        let repo = RepoCache::new(dir.path(), "o/n");
        let commit = "a".repeat(40);
        create_parent(&repo.blob("e1")).unwrap();
        std::fs::write(repo.blob("e1"), "{}").unwrap();
        let linked = repo.link(&commit, "sub/config.json", "e1").unwrap();
        assert_eq!(std::fs::read_to_string(&linked).unwrap(), "{}");
        assert_eq!(repo.snapshot_file(&commit, "sub/config.json"), Some(linked));
        assert_eq!(repo.snapshot_file(&commit, "other.json"), None);
        assert_eq!(repo.commit_of("main"), None);
        repo.set_ref("main", &commit).unwrap();
        assert_eq!(repo.commit_of("main"), Some(commit.clone()));
        assert_eq!(repo.commit_of(&commit), Some(commit));
    }
}
