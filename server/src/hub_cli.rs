//! `dllm-ls pull` and `dllm-ls models`: Hugging Face checkpoints fetched ahead of time into the
//! cache huggingface_hub shares, and what that cache holds.

use anyhow::anyhow;
use clap::Args;
use dllm_models::hub::{cached_models, CachedModel, HubSettings};
use dllm_models::{LoadProgress, ModelSource};
use indicatif::HumanBytes;

use crate::cli::{CliError, EXIT_MODEL, EXIT_USAGE};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// A Hugging Face model id, owner/name[@revision].
    #[arg(value_name = "ID[@REV]")]
    pub id: String,
}

/// Downloads what the loader reads of a checkpoint (or finds it cached); prints its directory.
pub fn pull(args: PullArgs) -> Result<(), CliError> {
    let source = ModelSource::parse(&args.id);
    if !matches!(source, ModelSource::Hub { .. }) {
        return Err(CliError {
            code: EXIT_USAGE,
            error: anyhow!(
                "`{}` is not a Hugging Face id (owner/name[@revision])",
                args.id
            ),
        });
    }
    let bar = crate::load_bar::sink();
    let progress = |report: LoadProgress| {
        if let Some(bar) = &bar {
            bar(report)
        }
    };
    let dir = source
        .resolve_with_progress(&progress)
        .map_err(|e| CliError {
            code: EXIT_MODEL,
            error: anyhow!("cannot download: {e}"),
        })?;
    drop(bar);
    println!("{}", dir.display());
    Ok(())
}

/// Lists the checkpoints in the hub cache: id, revision, commit, size on disk, the weights'
/// expected size in memory at dtype f32 (the default), q8 and q4, family.
pub fn models() -> Result<(), CliError> {
    let cache = HubSettings::from_env().cache;
    let models = cached_models(&cache).map_err(|e| CliError {
        code: EXIT_MODEL,
        error: anyhow!("cannot read the cache: {e}"),
    })?;
    if models.is_empty() {
        eprintln!("dllm-ls: no models in {}", cache.display());
        return Ok(());
    }
    let header = Row {
        id: "ID",
        revision: "REVISION",
        commit: "COMMIT",
        size: "SIZE",
        memory: ["MEM F32", "MEM Q8", "MEM Q4"].map(String::from),
        family: "FAMILY",
    };
    println!("{header}");
    for model in &models {
        println!("{}", line(model));
    }
    Ok(())
}

fn line(model: &CachedModel) -> String {
    let refs = match model.refs.as_slice() {
        [] => "-".to_string(),
        refs => refs.join(","),
    };
    let memory = match model.resident {
        Some(r) => [r.default, r.q8, r.q4].map(|b| HumanBytes(b).to_string()),
        None => ["-", "-", "-"].map(String::from),
    };
    Row {
        id: &model.id,
        revision: &refs,
        commit: &model.commit[..model.commit.len().min(12)],
        size: &HumanBytes(model.repo_bytes).to_string(),
        memory,
        family: &model.family,
    }
    .to_string()
}

/// One line of the listing; `memory` is the weights' resident size at f32, q8 and q4.
struct Row<'a> {
    id: &'a str,
    revision: &'a str,
    commit: &'a str,
    size: &'a str,
    memory: [String; 3],
    family: &'a str,
}

impl std::fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Row {
            id,
            revision,
            commit,
            size,
            memory: [f32, q8, q4],
            family,
        } = self;
        write!(
            f,
            "{id:<40} {revision:<10} {commit:<12} {size:>11} {f32:>11} {q8:>11} {q4:>11}  {family}"
        )
    }
}
