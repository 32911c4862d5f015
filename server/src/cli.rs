//! The command line: `infill`, `fill-holes` and `infill --batch` take the same path as the
//! language server (snapshot → pipeline → engine), so what the demo prints is what editors get.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use dllm_models::{CancelFlag, InfillRequest};
use serde_json::{json, Value};

use crate::config::Config;
use crate::engine::Engine;
use crate::pipeline::{self, Snapshot, Task};

#[derive(Parser, Debug)]
#[command(
    name = "dllm-ls",
    version,
    about = "A language server for infilling and whole-block edits with masked diffusion language models"
)]
pub struct Cli {
    /// Speak LSP over stdin/stdout (the default when no command is given).
    #[arg(long)]
    pub stdio: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print what the server would insert at a position (or put in place of a selection).
    Infill(InfillArgs),
    /// Fill every hole (todo!(), pass, TODO comments, …) of a file; print the diff or write it.
    FillHoles(FillHolesArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Checkpoint directory (Dream or LLaDA family) or Hugging Face id; default: the embedded model.
    #[arg(long)]
    pub model: Option<String>,
    /// Compute dtype: f32 or bf16.
    #[arg(long)]
    pub dtype: Option<String>,
    /// bf16 products on CPUs with AVX-512 BF16 (true, the default) or exact f32 ones (false).
    #[arg(long)]
    pub bf16_products: Option<bool>,
    /// low_confidence, maskgit_plus, topk_margin, entropy or random.
    #[arg(long)]
    pub strategy: Option<String>,
    #[arg(long)]
    pub steps: Option<u64>,
    /// Token budget of the span.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Confidence threshold for parallel commits (0-1).
    #[arg(long)]
    pub threshold: Option<f64>,
    #[arg(long)]
    pub temperature: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Args, Debug)]
pub struct InfillArgs {
    /// The source file (its extension picks the language).
    pub file: Option<PathBuf>,
    /// Cursor as LINE:COL, 1-based, COL counted in characters.
    #[arg(long, value_name = "LINE:COL")]
    pub at: Option<String>,
    /// Rewrite a selection instead: L1:C1-L2:C2 (end exclusive).
    #[arg(long, value_name = "L1:C1-L2:C2")]
    pub select: Option<String>,
    /// JSON output: the edits with byte ranges, steps and timing.
    #[arg(long)]
    pub json: bool,
    /// Read JSON lines {"prefix", "suffix", "max_tokens"?} on stdin; write {"middle", "ms", "steps", "tokens"}.
    #[arg(long)]
    pub batch: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct FillHolesArgs {
    pub file: PathBuf,
    /// Write the filled file back instead of printing a diff.
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Exit codes: 0 done, 1 nothing to offer, 2 bad usage or input, 3 the model failed to load.
pub const EXIT_NOTHING: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_MODEL: i32 = 3;

#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub error: anyhow::Error,
}

fn usage(e: anyhow::Error) -> CliError {
    CliError {
        code: EXIT_USAGE,
        error: e,
    }
}

impl ModelArgs {
    /// Flags go through the same validation as editor settings.
    fn config(&self, inline: bool) -> Result<Config, CliError> {
        let mut settings = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                settings.insert(k.to_string(), v);
            }
        };
        put("model", self.model.clone().map(Value::from));
        put("dtype", self.dtype.clone().map(Value::from));
        put("bf16Products", self.bf16_products.map(Value::from));
        put("strategy", self.strategy.clone().map(Value::from));
        put("steps", self.steps.map(Value::from));
        put(
            if inline {
                "maxTokensInline"
            } else {
                "maxTokensBlock"
            },
            self.max_tokens.map(Value::from),
        );
        put("threshold", self.threshold.map(Value::from));
        put("temperature", self.temperature.map(Value::from));
        put("seed", self.seed.map(Value::from));
        let mut config = Config::default();
        let applied = config.apply(&Value::Object(settings));
        if let Some(w) = applied.warnings.first() {
            return Err(usage(anyhow!("{w}")));
        }
        Ok(config)
    }
}

fn load_engine(config: &Config) -> Result<Engine, CliError> {
    let engine = Engine::start();
    let description = engine
        .load_blocking(config.model.clone(), config.load_options())
        .map_err(|e| CliError {
            code: EXIT_MODEL,
            error: anyhow!("cannot load the model: {e}"),
        })?;
    tracing::info!("model: {description}");
    Ok(engine)
}

fn read_snapshot(path: &Path) -> Result<Snapshot, CliError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(usage)?;
    Ok(Snapshot::of_text(&text, "", Some(path)))
}

/// `LINE:COL` (1-based, characters) → byte offset.
pub fn parse_position(text: &str, spec: &str) -> anyhow::Result<usize> {
    let (line, col) = spec
        .split_once(':')
        .ok_or_else(|| anyhow!("expected LINE:COL, got {spec:?}"))?;
    let line: usize = line
        .trim()
        .parse()
        .with_context(|| format!("bad line in {spec:?}"))?;
    let col: usize = col
        .trim()
        .parse()
        .with_context(|| format!("bad column in {spec:?}"))?;
    if line == 0 || col == 0 {
        bail!("lines and columns start at 1: {spec:?}");
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // A file ending in a newline (or empty) has one more, empty, line.
    let count = lines.len() + usize::from(text.is_empty() || text.ends_with('\n'));
    if line > count {
        bail!("line {line} is past the end of the file ({count} lines)");
    }
    let start: usize = lines[..line - 1].iter().map(|l| l.len()).sum();
    let content = text[start..].split(['\n', '\r']).next().unwrap_or("");
    let chars = content.chars().count();
    if col > chars + 1 {
        bail!("column {col} is past the end of line {line} ({chars} characters)");
    }
    Ok(start
        + content
            .char_indices()
            .nth(col - 1)
            .map_or(content.len(), |(i, _)| i))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub fn infill(args: InfillArgs) -> Result<(), CliError> {
    if args.batch {
        return batch(&args.model);
    }
    let file = args
        .file
        .as_ref()
        .ok_or_else(|| usage(anyhow!("infill needs a FILE (or --batch)")))?;
    let snapshot = read_snapshot(file)?;
    let task = match (&args.select, &args.at) {
        (Some(sel), _) => {
            let (a, b) = sel
                .split_once('-')
                .ok_or_else(|| usage(anyhow!("--select takes L1:C1-L2:C2")))?;
            let start = parse_position(&snapshot.text, a).map_err(usage)?;
            let end = parse_position(&snapshot.text, b).map_err(usage)?;
            if end < start {
                return Err(usage(anyhow!("--select ends before it starts")));
            }
            Task::Rewrite {
                start,
                end,
                instruction: None,
            }
        }
        (None, Some(at)) => Task::Inline {
            offset: parse_position(&snapshot.text, at).map_err(usage)?,
        },
        (None, None) => {
            return Err(usage(anyhow!(
                "infill needs --at LINE:COL or --select L1:C1-L2:C2"
            )))
        }
    };
    let config = args.model.config(matches!(task, Task::Inline { .. }))?;
    let engine = load_engine(&config)?;
    let outcome = runtime()
        .block_on(pipeline::run(
            &engine,
            &snapshot,
            &task,
            &config,
            &CancelFlag::new(),
        ))
        .map_err(|e| CliError {
            code: EXIT_NOTHING,
            error: e.into(),
        })?;
    if outcome.edits.is_empty() {
        return Err(CliError {
            code: EXIT_NOTHING,
            error: anyhow!("no usable change: {}", outcome.notes.join("; ")),
        });
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let edits: Vec<Value> = outcome
            .edits
            .iter()
            .map(|e| json!({"start": e.range.start, "end": e.range.end, "text": e.text}))
            .collect();
        let v = json!({
            "edits": edits,
            "steps": outcome.steps,
            "model_ms": outcome.model_time.as_secs_f64() * 1e3,
            "total_ms": outcome.total_time.as_secs_f64() * 1e3,
            "repairs": outcome.repairs,
            "notes": outcome.notes,
        });
        writeln!(out, "{v}").ok();
    } else {
        for e in &outcome.edits {
            writeln!(out, "{}", e.text).ok();
        }
    }
    Ok(())
}

fn batch(model: &ModelArgs) -> Result<(), CliError> {
    let config = model.config(false)?;
    let engine = load_engine(&config)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| usage(e.into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Err(e) => json!({"error": format!("line {}: invalid JSON: {e}", n + 1)}),
            Ok(v) => {
                let prefix = v.get("prefix").and_then(Value::as_str).unwrap_or("");
                let suffix = v.get("suffix").and_then(Value::as_str).unwrap_or("");
                let max_tokens = v
                    .get("max_tokens")
                    .and_then(Value::as_u64)
                    .map_or(config.max_tokens_block, |m| m as usize);
                let mut request = InfillRequest::single(prefix, max_tokens, suffix);
                request.max_context_tokens = Some(config.context_tokens * 2 + max_tokens);
                match engine.infill_blocking(request, config.sampler.clone(), CancelFlag::new()) {
                    Ok(o) => json!({
                        "middle": o.spans.first().cloned().unwrap_or_default(),
                        "ms": o.elapsed.as_secs_f64() * 1e3,
                        "steps": o.steps,
                        "tokens": o.span_tokens.first().map_or(0, Vec::len),
                    }),
                    Err(e) => json!({"error": e.to_string()}),
                }
            }
        };
        writeln!(out, "{reply}").map_err(|e| usage(e.into()))?;
        out.flush().ok();
    }
    Ok(())
}

pub fn fill_holes(args: FillHolesArgs) -> Result<(), CliError> {
    let snapshot = read_snapshot(&args.file)?;
    if snapshot.language.is_none() {
        return Err(usage(anyhow!(
            "{}: unknown language (by extension)",
            args.file.display()
        )));
    }
    let config = args.model.config(false)?;
    let engine = load_engine(&config)?;
    let outcome = runtime()
        .block_on(pipeline::run(
            &engine,
            &snapshot,
            &Task::FillHoles { offset: None },
            &config,
            &CancelFlag::new(),
        ))
        .map_err(|e| CliError {
            code: EXIT_NOTHING,
            error: e.into(),
        })?;
    if outcome.edits.is_empty() {
        return Err(CliError {
            code: EXIT_NOTHING,
            error: anyhow!("no usable change: {}", outcome.notes.join("; ")),
        });
    }
    let mut new_text = snapshot.text.to_string();
    let mut edits = outcome.edits.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.range.start));
    for e in &edits {
        new_text.replace_range(e.range.clone(), &e.text);
    }
    if args.write {
        std::fs::write(&args.file, &new_text)
            .with_context(|| format!("cannot write {}", args.file.display()))
            .map_err(usage)?;
        eprintln!(
            "filled {} hole(s) in {}",
            outcome.edits.len(),
            args.file.display()
        );
    } else {
        // git-style a/ b/ prefixes for relative paths; an absolute path stands as it is.
        let name = args.file.display().to_string();
        let (old, new) = if args.file.is_absolute() {
            (name.clone(), name.clone())
        } else {
            (format!("a/{name}"), format!("b/{name}"))
        };
        let diff = similar::TextDiff::from_lines(&*snapshot.text, &new_text);
        print!("{}", diff.unified_diff().header(&old, &new));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_characters() {
        let text = "ab\ngröße = 1\r\nlast";
        assert_eq!(parse_position(text, "1:1").unwrap(), 0);
        assert_eq!(parse_position(text, "2:5").unwrap(), 3 + "größ".len());
        assert_eq!(parse_position(text, "2:10").unwrap(), 3 + "größe = 1".len());
        assert_eq!(parse_position(text, "3:5").unwrap(), text.len());
        assert!(parse_position(text, "2:11").is_err());
        assert!(parse_position(text, "9:1").is_err());
        assert!(parse_position(text, "0:1").is_err());
        assert!(parse_position(text, "x").is_err());
    }
}
