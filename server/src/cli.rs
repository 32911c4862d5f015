//! The command line: `infill`, `fill-holes` and `infill --batch` take the same path as the
//! language server (snapshot → pipeline → engine), so what the demo prints is what editors get.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use dllm_models::{CancelFlag, InfillRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Config, MAX_TOKENS_BLOCK, MAX_TOKENS_INLINE};
use crate::engine::Engine;
use crate::pipeline::{self, Outcome, Snapshot, Task};

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
    // Negative numbers reach the parser, so `--steps -1` says why it is refused.
    #[arg(long, allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Token budget of the span (1-2048; a single-line span takes at most 512).
    #[arg(long, allow_negative_numbers = true)]
    pub max_tokens: Option<u64>,
    /// Confidence threshold for parallel commits (0-1).
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
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

fn nothing(e: anyhow::Error) -> CliError {
    CliError {
        code: EXIT_NOTHING,
        error: e,
    }
}

/// A flag's number as JSON; NaN and infinities have no JSON form (serde_json would make them
/// `null`, which clears a setting instead of refusing it).
fn finite(flag: &str, x: f64) -> Result<Value, CliError> {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| usage(anyhow!("--{flag} {x}: expected a finite number")))
}

impl ModelArgs {
    /// The flags as settings: (flag, setting key, value). `--max-tokens` is the budget of
    /// whichever span the task gets: `--at` on an empty block masks a multi-line one.
    fn settings(&self, inline: bool) -> Result<Vec<(&'static str, &'static str, Value)>, CliError> {
        let number = |flag, x: Option<f64>| x.map(|x| finite(flag, x)).transpose();
        let inline_tokens = self
            .max_tokens
            .filter(|_| inline)
            .map(|m| m.min(MAX_TOKENS_INLINE));
        let all = [
            ("model", "model", self.model.clone().map(Value::from)),
            ("dtype", "dtype", self.dtype.clone().map(Value::from)),
            (
                "bf16-products",
                "bf16Products",
                self.bf16_products.map(Value::from),
            ),
            (
                "strategy",
                "strategy",
                self.strategy.clone().map(Value::from),
            ),
            ("steps", "steps", self.steps.map(Value::from)),
            (
                "max-tokens",
                "maxTokensBlock",
                self.max_tokens.map(Value::from),
            ),
            (
                "max-tokens",
                "maxTokensInline",
                inline_tokens.map(Value::from),
            ),
            (
                "threshold",
                "threshold",
                number("threshold", self.threshold)?,
            ),
            (
                "temperature",
                "temperature",
                number("temperature", self.temperature)?,
            ),
            ("seed", "seed", self.seed.map(Value::from)),
        ];
        Ok(all
            .into_iter()
            .filter_map(|(flag, key, v)| Some((flag, key, v?)))
            .collect())
    }

    /// Flags go through the same validation as editor settings; the first bad one is refused.
    fn config(&self, inline: bool) -> Result<Config, CliError> {
        let mut config = Config::default();
        for (flag, key, value) in self.settings(inline)? {
            config
                .set(key, &value)
                .map_err(|problem| usage(anyhow!("--{flag} {value}: {problem}")))?;
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

/// Reads a source file of a language the tools know (by extension).
fn read_source(path: &Path) -> Result<Snapshot, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(match e.kind() {
            std::io::ErrorKind::InvalidData => anyhow!("{} is not UTF-8 text", path.display()),
            _ => anyhow!(e).context(format!("cannot read {}", path.display())),
        })
    })?;
    let snapshot = Snapshot::of_text(&text, "", Some(path));
    if snapshot.language.is_none() {
        return Err(usage(anyhow!(
            "{}: unknown language by extension (Rust, Python, JavaScript, TypeScript and Go are known)",
            path.display()
        )));
    }
    Ok(snapshot)
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

/// `L1:C1-L2:C2` → a non-empty byte range.
fn parse_selection(text: &str, spec: &str) -> anyhow::Result<(usize, usize)> {
    let (a, b) = spec
        .split_once('-')
        .ok_or_else(|| anyhow!("--select takes L1:C1-L2:C2, got {spec:?}"))?;
    let start = parse_position(text, a).context("--select")?;
    let end = parse_position(text, b).context("--select")?;
    if end < start {
        bail!("--select {spec}: ends before it starts");
    }
    if end == start {
        bail!("--select {spec}: the selection is empty");
    }
    Ok((start, end))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Flags that cannot go together, or are missing, before any file or model is touched.
fn check_infill_flags(args: &InfillArgs) -> Result<(), CliError> {
    if args.batch {
        if args.file.is_some() || args.at.is_some() || args.select.is_some() {
            return Err(usage(anyhow!(
                "--batch reads JSON lines on stdin: it takes no FILE, --at or --select"
            )));
        }
        return Ok(());
    }
    if args.file.is_none() {
        return Err(usage(anyhow!("infill needs a FILE (or --batch)")));
    }
    match (&args.at, &args.select) {
        (Some(_), Some(_)) => Err(usage(anyhow!("--at and --select cannot be used together"))),
        (None, None) => Err(usage(anyhow!(
            "infill needs --at LINE:COL or --select L1:C1-L2:C2"
        ))),
        _ => Ok(()),
    }
}

fn task_of(args: &InfillArgs, text: &str) -> Result<Task, CliError> {
    if let Some(sel) = &args.select {
        let (start, end) = parse_selection(text, sel).map_err(usage)?;
        return Ok(Task::Rewrite {
            start,
            end,
            instruction: None,
        });
    }
    let at = args.at.as_deref().unwrap_or_default();
    let offset = parse_position(text, at).context("--at").map_err(usage)?;
    Ok(Task::Inline { offset })
}

/// Loads the model and runs the task; no edit to offer is exit 1.
fn run_task(snapshot: &Snapshot, task: &Task, config: &Config) -> Result<Outcome, CliError> {
    let engine = load_engine(config)?;
    let outcome = runtime()
        .block_on(pipeline::run(
            &engine,
            snapshot,
            task,
            config,
            &CancelFlag::new(),
        ))
        .map_err(|e| nothing(e.into()))?;
    if outcome.edits.is_empty() {
        return Err(nothing(anyhow!(
            "no usable change: {}",
            outcome.notes.join("; ")
        )));
    }
    Ok(outcome)
}

pub fn infill(args: InfillArgs) -> Result<(), CliError> {
    check_infill_flags(&args)?;
    if args.batch {
        return batch(&args.model);
    }
    let file = args.file.as_deref().unwrap_or(Path::new(""));
    let snapshot = read_source(file)?;
    let task = task_of(&args, &snapshot.text)?;
    let config = args.model.config(matches!(task, Task::Inline { .. }))?;
    let outcome = run_task(&snapshot, &task, &config)?;
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

/// One `--batch` line; anything else in it is refused rather than ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    prefix: String,
    suffix: String,
    max_tokens: Option<u64>,
}

/// The request a line asks for, or why it cannot be served.
fn batch_request(line: &str, config: &Config) -> Result<InfillRequest, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    // serde would also take a struct from an array; only an object is a request.
    if !value.is_object() {
        return Err(format!(
            "expected an object {{\"prefix\", \"suffix\", \"max_tokens\"?}}, got {value}"
        ));
    }
    let parsed = BatchLine::deserialize(value).map_err(|e| e.to_string())?;
    let max_tokens = match parsed.max_tokens {
        None => config.max_tokens_block,
        Some(m) if (1..=MAX_TOKENS_BLOCK).contains(&m) => m as usize,
        Some(m) => {
            return Err(format!(
                "max_tokens {m}: expected an integer from 1 to {MAX_TOKENS_BLOCK}"
            ))
        }
    };
    let mut request = InfillRequest::single(&parsed.prefix, max_tokens, &parsed.suffix);
    request.max_context_tokens = Some(config.context_tokens * 2 + max_tokens);
    Ok(request)
}

/// The answer to one input line (`n` from 1); `None` for a blank line.
fn batch_reply(engine: &Engine, config: &Config, n: usize, bytes: &[u8]) -> Option<Value> {
    let Ok(line) = std::str::from_utf8(bytes) else {
        return Some(json!({"error": format!("line {n}: not UTF-8")}));
    };
    if line.trim().is_empty() {
        return None;
    }
    let request = match batch_request(line, config) {
        Ok(r) => r,
        Err(e) => return Some(json!({"error": format!("line {n}: {e}")})),
    };
    Some(
        match engine.infill_blocking(request, config.sampler.clone(), CancelFlag::new()) {
            Ok(o) => json!({
                "middle": o.spans.first().cloned().unwrap_or_default(),
                "ms": o.elapsed.as_secs_f64() * 1e3,
                "steps": o.steps,
                "tokens": o.span_tokens.first().map_or(0, Vec::len),
            }),
            Err(e) => json!({"error": format!("line {n}: {e}")}),
        },
    )
}

fn batch(model: &ModelArgs) -> Result<(), CliError> {
    let config = model.config(false)?;
    let engine = load_engine(&config)?;
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut bytes = Vec::new();
    for n in 1.. {
        bytes.clear();
        let read = stdin
            .read_until(b'\n', &mut bytes)
            .context("reading stdin")
            .map_err(usage)?;
        if read == 0 {
            break;
        }
        if let Some(reply) = batch_reply(&engine, &config, n, &bytes) {
            writeln!(out, "{reply}")
                .and_then(|()| out.flush())
                .context("writing stdout")
                .map_err(usage)?;
        }
    }
    Ok(())
}

pub fn fill_holes(args: FillHolesArgs) -> Result<(), CliError> {
    let snapshot = read_source(&args.file)?;
    let config = args.model.config(false)?;
    let outcome = run_task(&snapshot, &Task::FillHoles { offset: None }, &config)?;
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
