//! Where a model comes from: a local directory in the Hugging Face layout, or a Hugging Face
//! model id resolved through hf-hub's cache (only with the `hub` feature, and the network or a
//! warm cache).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::progress::{no_progress, ProgressFn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Dir(PathBuf),
    Hub {
        id: String,
        revision: Option<String>,
    },
}

impl ModelSource {
    /// An existing path, or anything that looks like one, is a directory; `owner/name[@rev]` is a
    /// hub id.
    pub fn parse(spec: &str) -> Self {
        let path = Path::new(spec);
        let looks_like_path = spec.starts_with(['/', '.', '~']) || spec.matches('/').count() != 1;
        if path.exists() || looks_like_path {
            return ModelSource::Dir(path.to_path_buf());
        }
        let (id, revision) = match spec.split_once('@') {
            Some((id, rev)) => (id.to_string(), Some(rev.to_string())),
            None => (spec.to_string(), None),
        };
        ModelSource::Hub { id, revision }
    }

    /// The local directory holding the checkpoint's files, downloading them first for a hub id.
    pub fn resolve(&self) -> Result<PathBuf> {
        self.resolve_with_progress(&no_progress)
    }

    /// [`resolve`](Self::resolve), telling `progress` how a download advances.
    pub fn resolve_with_progress(&self, progress: ProgressFn<'_>) -> Result<PathBuf> {
        match self {
            ModelSource::Dir(dir) if dir.is_dir() => Ok(dir.clone()),
            ModelSource::Dir(dir) => Err(Error::MissingFile { path: dir.clone() }),
            ModelSource::Hub { id, revision } => {
                let _ = progress; // the hub client reports downloads (next commit)
                hub::snapshot(id, revision.as_deref())
            }
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Dir(d) => write!(f, "{}", d.display()),
            ModelSource::Hub {
                id,
                revision: Some(r),
            } => write!(f, "{id}@{r}"),
            ModelSource::Hub { id, revision: None } => write!(f, "{id}"),
        }
    }
}

#[cfg(feature = "hub")]
mod hub {
    use std::path::PathBuf;

    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Cache, Repo, RepoType};

    use crate::checkpoint::{INDEX_FILE, SINGLE_FILE};
    use crate::config::read_json;
    use crate::error::{Error, Result};

    const REQUIRED: &[&str] = &["config.json", "tokenizer.json"];
    const OPTIONAL: &[&str] = &["tokenizer_config.json", "generation_config.json"];

    fn err(id: &str, reason: impl Into<String>) -> Error {
        Error::Hub {
            id: id.to_string(),
            reason: reason.into(),
        }
    }

    /// Fetches (or finds in the cache, when `HF_HUB_OFFLINE` is set) every file the loader reads.
    pub fn snapshot(id: &str, revision: Option<&str>) -> Result<PathBuf> {
        let repo = match revision {
            Some(r) => Repo::with_revision(id.to_string(), RepoType::Model, r.to_string()),
            None => Repo::new(id.to_string(), RepoType::Model),
        };
        let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
        let get: Box<dyn Fn(&str) -> Result<Option<PathBuf>>> = if offline {
            let cache = Cache::from_env().repo(repo.clone());
            Box::new(move |f| Ok(cache.get(f)))
        } else {
            let api = ApiBuilder::from_env()
                .build()
                .map_err(|e| err(id, e.to_string()))?;
            let api = api.repo(repo.clone());
            Box::new(move |f| {
                match api.get(f) {
                Ok(p) => Ok(Some(p)),
                Err(hf_hub::api::sync::ApiError::RequestError(e)) if e.to_string().contains("404") => Ok(None),
                Err(e) => Err(err(id, format!("{f}: {e} (offline? set HF_HUB_OFFLINE=1 to use the cache, or pass a local directory)"))),
            }
            })
        };
        let need = |f: &str| {
            get(f)?.ok_or_else(|| {
                err(
                    id,
                    format!(
                        "{f} is not in the repository{}",
                        if offline {
                            " cache (HF_HUB_OFFLINE is set)"
                        } else {
                            ""
                        }
                    ),
                )
            })
        };
        let config = need(REQUIRED[0])?;
        need(REQUIRED[1])?;
        for f in OPTIONAL {
            get(f)?;
        }
        match get(INDEX_FILE)? {
            Some(index) => {
                let json = read_json(&index)?;
                let mut shards: Vec<&str> = json
                    .get("weight_map")
                    .and_then(|m| m.as_object())
                    .map(|m| m.values().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                shards.sort_unstable();
                shards.dedup();
                for shard in shards {
                    need(shard)?;
                }
            }
            None => {
                need(SINGLE_FILE)?;
            }
        }
        Ok(config.parent().map(PathBuf::from).unwrap_or_default())
    }
}

#[cfg(not(feature = "hub"))]
mod hub {
    use std::path::PathBuf;

    use crate::error::{Error, Result};

    pub fn snapshot(id: &str, _revision: Option<&str>) -> Result<PathBuf> {
        Err(Error::Hub {
            id: id.to_string(),
            reason: "not a local directory, and this build has no Hugging Face hub support \
                     (build with the `hub` feature, or download the checkpoint and pass its directory)"
                .into(),
        })
    }
}
