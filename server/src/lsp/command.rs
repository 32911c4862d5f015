//! The `dllm.*` commands of `workspace/executeCommand`: their names, their argument and their
//! typed answers. The capabilities list and the dispatch both read [`Command`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Position, Range, Uri};

use crate::engine::ModelStatus;

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

/// What `dllm.status` answers: `{"state": "not_loaded"}`, `{"state": "loading" | "ready",
/// "model": …}` or `{"state": "failed", "error": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Status {
    NotLoaded,
    Loading { model: String },
    Ready { model: String },
    Failed { error: String },
}

impl From<ModelStatus> for Status {
    fn from(status: ModelStatus) -> Self {
        match status {
            ModelStatus::NotLoaded => Status::NotLoaded,
            ModelStatus::Loading(model) => Status::Loading { model },
            ModelStatus::Ready(model) => Status::Ready { model },
            ModelStatus::Failed(error) => Status::Failed { error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let json = |s: ModelStatus| serde_json::to_value(Status::from(s)).unwrap();
        assert_eq!(json(ModelStatus::NotLoaded), json!({"state": "not_loaded"}));
        assert_eq!(
            json(ModelStatus::Loading("m".into())),
            json!({"state": "loading", "model": "m"})
        );
        assert_eq!(
            json(ModelStatus::Ready("m".into())),
            json!({"state": "ready", "model": "m"})
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
}
