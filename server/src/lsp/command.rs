//! The `dllm.*` commands of `workspace/executeCommand`: their names, their argument and their
//! typed answers. The capabilities list and the dispatch both read [`Command`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Position, Range, Uri};

use dllm_models::LoadProgress;

use crate::engine::ModelStatus;
use crate::gate::Counts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `dllm.rewrite {uri, range, instruction?}`
    Rewrite,
    /// `dllm.fillHoles {uri, position?}`
    FillHoles,
    /// `dllm.completeBlock {uri, position}`
    CompleteBlock,
    /// `dllm.status`: the model's state, a [`Status`].
    Status,
}

impl Command {
    pub(crate) const ALL: [Command; 4] = [
        Command::Rewrite,
        Command::FillHoles,
        Command::CompleteBlock,
        Command::Status,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Command::Rewrite => "dllm.rewrite",
            Command::FillHoles => "dllm.fillHoles",
            Command::CompleteBlock => "dllm.completeBlock",
            Command::Status => "dllm.status",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownCommand(pub String);

impl fmt::Display for UnknownCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown command {}", self.0)
    }
}

impl FromStr for Command {
    type Err = UnknownCommand;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| UnknownCommand(name.to_string()))
    }
}

/// The one argument of the editing commands.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandArgs {
    pub uri: Uri,
    pub range: Option<Range>,
    pub position: Option<Position>,
    pub instruction: Option<String>,
}

/// What an editing command answers: whether the client applied the edit, and why not or what
/// the server noted on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CommandOutcome {
    pub applied: bool,
    pub notes: Vec<String>,
}

/// What `dllm.status` answers: `{"state": "not_loaded"}`, `{"state": "loading", "model": …}`
/// with the load's [`LoadingProgress`] fields once it reports, `{"state": "ready", "model": …,
/// "residentMb": …, "weights": "f32" | "bf16" | "q8" | "q4"}` (a remote engine: the model only)
/// or `{"state": "failed", "error": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Status {
    NotLoaded,
    Loading {
        model: String,
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        progress: Option<LoadingProgress>,
    },
    Ready {
        model: String,
        /// Megabytes (10^6 bytes) the weights hold in memory; a remote engine has none here.
        #[serde(rename = "residentMb", skip_serializing_if = "Option::is_none")]
        resident_mb: Option<u64>,
        /// The weight format loaded: `f32`, `bf16`, `q8` or `q4`; none for a remote engine.
        #[serde(skip_serializing_if = "Option::is_none")]
        weights: Option<&'static str>,
    },
    Failed {
        error: String,
    },
}

/// How far a load has got: `{"phase": "downloading" | "loading", "percent", "doneMb",
/// "totalMb", "file"?}` (the file being downloaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoadingProgress {
    pub phase: Phase,
    pub percent: u8,
    pub done_mb: u64,
    pub total_mb: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    Downloading,
    Loading,
}

impl From<LoadProgress> for LoadingProgress {
    fn from(progress: LoadProgress) -> Self {
        let (phase, done, total, file) = match progress {
            LoadProgress::Downloading { file, done, total } => {
                (Phase::Downloading, done, total, Some(file))
            }
            LoadProgress::Loading { done, total } => (Phase::Loading, done, total, None),
        };
        let percent = match total {
            0 => 100,
            _ => (done.min(total) * 100 / total) as u8,
        };
        LoadingProgress {
            phase,
            percent,
            done_mb: done / MB,
            total_mb: total.div_ceil(MB),
            file,
        }
    }
}

/// What `dllm.status` answers: the [`Status`]'s fields, then which backend serves requests;
/// for a remote one, its endpoint (without user, password or query), the last request's
/// latency and the last error (never the key); and what the confidence gate has shown and
/// withheld since the server started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusReport {
    #[serde(flatten)]
    pub status: Status,
    pub backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub suggestions: Counts,
    /// Whether `dllm/nextEdit` answers (`nextEditSuggestions`).
    pub next_edit: bool,
}

impl LoadingProgress {
    /// What a progress display shows beside the percentage: "downloading model.safetensors:
    /// 120 of 1,260 MB", "reading the weights: 600 of 1,260 MB".
    pub(crate) fn message(&self) -> String {
        let what = match (&self.phase, &self.file) {
            (Phase::Downloading, Some(file)) => format!("downloading {file}"),
            (Phase::Downloading, None) => "downloading".into(),
            (Phase::Loading, _) => "reading the weights".into(),
        };
        format!("{what}: {} of {} MB", self.done_mb, self.total_mb)
    }
}

/// Megabytes as progress displays count them (10^6 bytes).
const MB: u64 = 1_000_000;

impl Status {
    /// The model's status, with the load's progress while it loads.
    pub(crate) fn new(status: ModelStatus, progress: Option<LoadProgress>) -> Self {
        match status {
            ModelStatus::NotLoaded => Status::NotLoaded,
            ModelStatus::Loading(model) => Status::Loading {
                model,
                progress: progress.map(LoadingProgress::from),
            },
            ModelStatus::Ready(loaded) => Status::Ready {
                model: loaded.description,
                resident_mb: Some(loaded.resident_bytes.div_ceil(MB)),
                weights: Some(loaded.weights),
            },
            ModelStatus::Failed(error) => Status::Failed { error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LoadedModel;
    use serde_json::json;

    /// A loaded model of 2.5 MB of q8 weights.
    fn ready() -> LoadedModel {
        LoadedModel {
            description: "m".into(),
            resident_bytes: 2_500_000,
            weights: "q8",
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Command::ALL {
            assert_eq!(c.as_str().parse::<Command>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(
            "dllm.nope".parse::<Command>().unwrap_err().to_string(),
            "unknown command dllm.nope"
        );
    }

    #[test]
    fn status_serialises_as_it_always_has() {
        let json = |s: ModelStatus| serde_json::to_value(Status::new(s, None)).unwrap();
        assert_eq!(json(ModelStatus::NotLoaded), json!({"state": "not_loaded"}));
        assert_eq!(
            json(ModelStatus::Loading("m".into())),
            json!({"state": "loading", "model": "m"})
        );
        assert_eq!(
            json(ModelStatus::Ready(ready())),
            json!({"state": "ready", "model": "m", "residentMb": 3, "weights": "q8"})
        );
        assert_eq!(
            json(ModelStatus::Failed("e".into())),
            json!({"state": "failed", "error": "e"})
        );
        assert_eq!(
            serde_json::to_value(CommandOutcome {
                applied: false,
                notes: vec!["n".into()]
            })
            .unwrap(),
            json!({"applied": false, "notes": ["n"]})
        );
    }

    #[test]
    fn a_loading_status_carries_the_phase_percentage_and_megabytes() {
        let loading = |p: LoadProgress| {
            serde_json::to_value(Status::new(ModelStatus::Loading("m".into()), Some(p))).unwrap()
        };
        let downloading = LoadProgress::Downloading {
            file: "model.safetensors".into(),
            done: 120_400_000,
            total: 1_260_000_001,
        };
        assert_eq!(
            loading(downloading),
            json!({"state": "loading", "model": "m", "phase": "downloading", "percent": 9,
                   "doneMb": 120, "totalMb": 1261, "file": "model.safetensors"})
        );
        let reading = LoadProgress::Loading {
            done: 10,
            total: 10,
        };
        assert_eq!(
            loading(reading),
            json!({"state": "loading", "model": "m", "phase": "loading", "percent": 100,
                   "doneMb": 0, "totalMb": 1})
        );
        let empty = LoadingProgress::from(LoadProgress::Loading { done: 0, total: 0 });
        assert_eq!(
            (empty.percent, empty.message()),
            (100, "reading the weights: 0 of 0 MB".into())
        );
        // Progress outside a load is not shown.
        let ready = Status::new(
            ModelStatus::Ready(ready()),
            Some(LoadProgress::Loading { done: 1, total: 2 }),
        );
        assert_eq!(
            serde_json::to_value(ready).unwrap(),
            json!({"state": "ready", "model": "m", "residentMb": 3, "weights": "q8"})
        );
    }

    /// The facts of this file the VS Code extension relies on, as TypeScript: written to
    /// editors/vscode/src/protocol.generated.ts when they differ (then the test fails; commit
    /// what it wrote and rerun).
    fn protocol_ts() -> String {
        let names: Vec<String> = Command::ALL
            .iter()
            .map(|c| {
                format!(
                    "  {}: '{}',",
                    c.as_str().trim_start_matches("dllm."),
                    c.as_str()
                )
            })
            .collect();
        let args = CommandArgs {
            uri: "file:///a".parse().unwrap(),
            range: Some(Range::default()),
            position: Some(Position::default()),
            instruction: Some(String::new()),
        };
        let mut fields: Vec<String> = serde_json::to_value(args)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        fields.sort();
        let statuses = [
            Status::NotLoaded,
            Status::Loading {
                model: String::new(),
                progress: None,
            },
            Status::Ready {
                model: String::new(),
                resident_mb: None,
                weights: None,
            },
            Status::Failed {
                error: String::new(),
            },
        ];
        let mut states: Vec<String> = statuses
            .iter()
            .map(|s| {
                serde_json::to_value(s).unwrap()["state"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        states.sort();
        let phases: Vec<String> = [Phase::Downloading, Phase::Loading]
            .iter()
            .map(|p| {
                serde_json::to_value(p)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let progress = LoadingProgress {
            phase: Phase::Loading,
            percent: 0,
            done_mb: 0,
            total_mb: 0,
            file: Some(String::new()),
        };
        let mut progress_fields: Vec<String> = serde_json::to_value(progress)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        progress_fields.sort();
        let list = |items: &[String]| {
            items
                .iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "// Generated from server/src/lsp/command.rs by `cargo test -p dllm-ls --lib lsp::command`: do not edit.\n\n\
             /** The `dllm.*` commands of workspace/executeCommand. */\n\
             export const COMMANDS = {{\n{}\n}} as const;\n\n\
             /** The fields of the editing commands' one argument. */\n\
             export const COMMAND_ARGUMENT_FIELDS = [{}] as const;\n\n\
             /** The states `dllm.status` answers. */\n\
             export const STATUS_STATES = [{}] as const;\n\n\
             /** The fields a `loading` status adds once the load reports progress, and its phases. */\n\
             export const LOADING_PROGRESS_FIELDS = [{}] as const;\n\
             export const LOADING_PHASES = [{}] as const;\n",
            names.join("\n"),
            list(&fields),
            list(&states),
            list(&progress_fields),
            list(&phases),
        )
    }

    #[test]
    fn the_vscode_protocol_file_is_generated_from_this_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../editors/vscode/src/protocol.generated.ts");
        let want = protocol_ts();
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have.replace("\r\n", "\n") != want {
            std::fs::write(&path, &want).unwrap();
            panic!(
                "{} was out of date and is rewritten: commit it",
                path.display()
            );
        }
    }
}
