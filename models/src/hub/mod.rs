//! Hugging Face model ids → a local snapshot directory, the way huggingface_hub does it: the
//! same environment variables ([`settings`]), the same cache layout ([`cache`]), downloads
//! resumed from a partial file ([`download`]), and errors that say what to do ([`error`]).
//! Only the files the loader reads are fetched: config, tokenizer files, and the safetensors
//! weights (one file, or the index and its shards).

mod cache;
mod download;
mod error;
mod list;
mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{HubError, TokenSent};
pub use list::{cached_models, CachedModel};
pub use settings::{HubSettings, Network};

use crate::checkpoint::{INDEX_FILE, SINGLE_FILE};
use crate::model::CONFIG_FILE;
use crate::progress::{LoadProgress, ProgressFn, Throttle};
use crate::tokenizer::{GENERATION_CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE};
use cache::RepoCache;
use download::{Client, FileMeta};

/// Files every checkpoint has; the loader refuses one without them.
const REQUIRED: [&str; 2] = [CONFIG_FILE, TOKENIZER_FILE];
/// Files the loader reads when they are there.
const OPTIONAL: [&str; 2] = [TOKENIZER_CONFIG_FILE, GENERATION_CONFIG_FILE];
/// Tries of one file's download before giving up; each resumes where the last stopped.
const ATTEMPTS: u32 = 3;

/// The snapshot directory of `id` at `revision` (default `main`), downloading what the cache
/// lacks. Offline, or online with the hub unreachable and the cache whole, it is the cache's.
pub fn snapshot(
    settings: &HubSettings,
    id: &str,
    revision: Option<&str>,
    progress: ProgressFn<'_>,
) -> Result<PathBuf, HubError> {
    let revision = revision.unwrap_or("main");
    let repo = RepoCache::new(&settings.cache, id);
    if settings.network == Network::Offline {
        return cached_snapshot(&repo, id, revision);
    }
    let client = Client::new(settings, id, revision)?;
    match fetch(&client, &repo, revision, progress) {
        Err(e) if e.is_network() => match cached_snapshot(&repo, id, revision) {
            Ok(dir) => {
                tracing::warn!(%id, %revision, error = %e, "the hub is unreachable; using the cache");
                Ok(dir)
            }
            Err(_) => Err(e),
        },
        other => other,
    }
}

/// The cached snapshot of `revision`, if every file the loader needs is in it.
fn cached_snapshot(repo: &RepoCache, id: &str, revision: &str) -> Result<PathBuf, HubError> {
    let not_cached = |what: String| HubError::NotCached {
        cache: repo.root().to_path_buf(),
        what,
    };
    let commit = repo
        .commit_of(revision)
        .ok_or_else(|| not_cached(format!("no snapshot of {id}@{revision}")))?;
    let dir = repo.snapshot_dir(&commit);
    let mut need: Vec<String> = REQUIRED.iter().map(|f| f.to_string()).collect();
    match repo.snapshot_file(&commit, INDEX_FILE) {
        Some(index) => need.extend(shards_in(&index)?),
        None => need.push(SINGLE_FILE.into()),
    }
    match need
        .iter()
        .find(|f| repo.snapshot_file(&commit, f).is_none())
    {
        Some(missing) => Err(not_cached(format!("{missing} of {id}@{revision}"))),
        None => Ok(dir),
    }
}

/// Asks the hub for the commit and files of `revision`, downloads those the cache lacks, and
/// links them all into the snapshot.
fn fetch(
    client: &Client,
    repo: &RepoCache,
    revision: &str,
    progress: ProgressFn<'_>,
) -> Result<PathBuf, HubError> {
    let config = client.metadata(CONFIG_FILE)?;
    let commit = config.commit.clone();
    // Every later file from the commit the config came from, even if the branch moves meanwhile.
    let client = client.at(&commit);
    let mut files = vec![(CONFIG_FILE.to_string(), config)];
    files.push((TOKENIZER_FILE.into(), client.metadata(TOKENIZER_FILE)?));
    for file in OPTIONAL {
        if let Some(meta) = optional(client.metadata(file))? {
            files.push((file.into(), meta));
        }
    }
    match optional(client.metadata(INDEX_FILE))? {
        Some(meta) => {
            // Small, and it names the shards: fetched before the rest is sized.
            download_all(&client, repo, &[(INDEX_FILE.into(), meta.clone())], &|_| {})?;
            let index = repo.link(&commit, INDEX_FILE, &meta.etag)?;
            for shard in shards_in(&index)? {
                let meta = client.metadata(&shard)?;
                files.push((shard, meta));
            }
        }
        None => files.push((SINGLE_FILE.into(), client.metadata(SINGLE_FILE)?)),
    }
    download_all(&client, repo, &files, progress)?;
    for (file, meta) in &files {
        repo.link(&commit, file, &meta.etag)?;
    }
    repo.set_ref(revision, &commit)?;
    Ok(repo.snapshot_dir(&commit))
}

/// A file's metadata, `None` if the repository has no such file.
fn optional(meta: Result<FileMeta, HubError>) -> Result<Option<FileMeta>, HubError> {
    match meta {
        Ok(meta) => Ok(Some(meta)),
        Err(HubError::FileNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Downloads into the blob store every file whose blob is not there yet, reporting the bytes
/// of all of them together.
fn download_all(
    client: &Client,
    repo: &RepoCache,
    files: &[(String, FileMeta)],
    progress: ProgressFn<'_>,
) -> Result<(), HubError> {
    // Bytes on disk from an earlier, cut-off run are not counted as still to download.
    let missing: Vec<(&str, &FileMeta, u64)> = files
        .iter()
        .filter(|(_, meta)| !repo.blob(&meta.etag).is_file())
        .map(|(file, meta)| {
            let partial = std::fs::metadata(repo.incomplete(&meta.etag)).map_or(0, |m| m.len());
            (file.as_str(), meta, partial.min(meta.size))
        })
        .collect();
    let total: u64 = missing
        .iter()
        .map(|(_, meta, partial)| meta.size - partial)
        .sum();
    let mut throttle = Throttle::new(total);
    let mut finished = 0u64;
    for (file, meta, partial) in missing {
        let mut on_disk = |bytes: u64| {
            let done = finished + bytes.saturating_sub(partial);
            if throttle.due(done) {
                progress(LoadProgress::Downloading {
                    file: file.to_string(),
                    done,
                    total,
                });
            }
        };
        download_one(client, repo, file, meta, &mut on_disk)?;
        finished += meta.size - partial;
    }
    Ok(())
}

/// Downloads one file into its blob, trying again (resuming) after a cut-off or network error.
fn download_one(
    client: &Client,
    repo: &RepoCache,
    file: &str,
    meta: &FileMeta,
    on_disk: &mut dyn FnMut(u64),
) -> Result<(), HubError> {
    let _lock = lock_blob(&repo.lock_path(&meta.etag), file)?;
    let blob = repo.blob(&meta.etag);
    if blob.is_file() {
        return Ok(()); // another process downloaded it while this one waited
    }
    let partial = repo.incomplete(&meta.etag);
    cache::create_parent(&partial)?;
    let mut attempt = 1;
    loop {
        match client.download(file, meta, &partial, on_disk) {
            Ok(()) => break,
            Err(e @ (HubError::Truncated { .. } | HubError::Network { .. }))
                if attempt < ATTEMPTS =>
            {
                tracing::warn!(%file, attempt, error = %e, "download interrupted; resuming");
                std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
    std::fs::rename(&partial, &blob).map_err(|e| HubError::io(&blob, e))
}

/// Takes a blob's lock file, waiting while another process holds it: two servers (or a server
/// and `dllm-ls pull`, or Python) downloading the same file would otherwise append to the same
/// partial file. It is huggingface_hub's lock file, and both take it with `flock` on Unix.
fn lock_blob(path: &Path, file: &str) -> Result<std::fs::File, HubError> {
    cache::create_parent(path)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| HubError::io(path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(%file, "another process is downloading this file; waiting for it");
            lock.lock().map_err(|e| HubError::io(path, e))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(HubError::io(path, e)),
    }
    Ok(lock)
}

/// The shard files an index names, each once, checked to be plain names in the snapshot.
fn shards_in(index: &Path) -> Result<Vec<String>, HubError> {
    let bad = |reason: String| HubError::BadIndex {
        path: index.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(index).map_err(|e| HubError::io(index, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut shards = Vec::new();
    for value in map.values() {
        let shard = value
            .as_str()
            .ok_or_else(|| bad(format!("{value} is not a file name")))?;
        if shard.contains(['/', '\\']) || shard.starts_with('.') {
            return Err(bad(format!("{shard:?} is not a plain file name")));
        }
        shards.push(shard.to_string());
    }
    shards.sort_unstable();
    shards.dedup();
    Ok(shards)
}
