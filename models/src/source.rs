//! Where a model comes from: a local directory in the Hugging Face layout, or a Hugging Face
//! model id resolved through the hub cache ([`crate::hub`]), downloading what it lacks.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hub::{self, HubSettings};
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
                let settings = HubSettings::from_env();
                hub::snapshot(&settings, id, revision.as_deref(), progress).map_err(|source| {
                    Error::Hub {
                        id: self.to_string(),
                        source,
                    }
                })
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
