//! Where the hub is and how to talk to it, read from the environment variables huggingface_hub
//! reads, with its defaults, so a cache and a login are shared with Python users.

use std::path::{Path, PathBuf};

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Whether the hub may be asked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Ask the hub which commit a revision is and download what the cache lacks.
    Online,
    /// `HF_HUB_OFFLINE=1`: the cache only, not a single request.
    Offline,
}

/// The hub's address, the cache directory, the token and whether to go online.
#[derive(Clone)]
pub struct HubSettings {
    /// `HF_ENDPOINT`, without a trailing slash.
    pub endpoint: String,
    /// `HF_HUB_CACHE`, else `$HF_HOME/hub`.
    pub cache: PathBuf,
    /// `HF_TOKEN`, else the token file `huggingface-cli login` writes.
    pub token: Option<String>,
    pub network: Network,
}

/// Never prints the token: settings end up in logs and errors.
impl std::fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSettings")
            .field("endpoint", &self.endpoint)
            .field("cache", &self.cache)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("network", &self.network)
            .finish()
    }
}

impl HubSettings {
    /// The settings the process environment gives.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// The settings a lookup of environment variables gives (tests pass their own).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let home = var("HF_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| default_home(&var));
        let cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("token"));
        let token = var("HF_TOKEN")
            .or_else(|| read_token(&token_file))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let offline = var("HF_HUB_OFFLINE")
            .or_else(|| var("TRANSFORMERS_OFFLINE"))
            .is_some_and(|v| is_true(&v));
        HubSettings {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_string(),
            cache,
            token,
            network: if offline {
                Network::Offline
            } else {
                Network::Online
            },
        }
    }
}

/// huggingface_hub's default: `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
fn default_home(var: &impl Fn(&str) -> Option<String>) -> PathBuf {
    let cache = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(
            &var("HOME")
                .or_else(|| var("USERPROFILE"))
                .unwrap_or_default(),
        )
        .join(".cache")
    });
    cache.join("huggingface")
}

fn read_token(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// huggingface_hub's reading of a boolean variable.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> HubSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubSettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let s = settings(&[("HOME", "/home/u")]);
        assert_eq!(s.endpoint, "https://huggingface.co");
        assert_eq!(s.cache, Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(s.network, Network::Online);
        assert_eq!(s.token, None);
    }

    #[test]
    fn variables_override_the_defaults() {
        let s = settings(&[
            ("HF_HOME", "/hf"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_TOKEN", "hf_secret"),
        ]);
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert_eq!(s.cache, Path::new("/hf/hub"));
        assert_eq!(s.network, Network::Offline);
        assert_eq!(s.token.as_deref(), Some("hf_secret"));
        assert!(!format!("{s:?}").contains("hf_secret"));
        let s = settings(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/elsewhere")]);
        assert_eq!(s.cache, Path::new("/elsewhere"));
    }

    #[test]
    fn the_token_file_under_hf_home_is_read() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("token"), "hf_from_file\n").unwrap();
        let s = settings(&[("HF_HOME", home.path().to_str().unwrap())]);
        assert_eq!(s.token.as_deref(), Some("hf_from_file"));
    }
}
