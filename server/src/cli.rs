//! The command line: `infill`, `fill-holes` and `infill --batch` take the same path as the
//! language server (snapshot → pipeline → engine), so what the demo prints is what editors get.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use dllm_models::{CancelFlag, InfillRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::generate;
use crate::config::table::{Kind, Setting, SETTINGS};
use crate::config::{Config, MAX_TOKENS_BLOCK, MAX_TOKENS_INLINE};
use crate::engine::{Engine, EngineError};
use crate::infiller::{Ask, Infiller, Stop};
use crate::pipeline::{self, Outcome, PipelineError, Snapshot, Task};
use crate::remote::RemoteEngine;

#[derive(Parser, Debug)]
#[command(
    name = "dllm-ls",
    version,
    about = "A language server for infilling and whole-block edits with masked diffusion language models"
)]
pub struct Cli {
    /// Speak LSP over stdin/stdout, the only transport and the default when no command is
    /// given. Accepted because clients pass it (vscode-languageclient adds it for stdio); never
    /// read.
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
    /// Download a Hugging Face checkpoint into the cache ahead of time; print its directory.
    Pull(crate::hub_cli::PullArgs),
    /// List the checkpoints in the Hugging Face cache: revision, commit, size and family.
    Models,
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

/// The help heading of the model and sampler flags: the settings table's entries that name a
/// flag, one each.
pub const MODEL_FLAGS: &str = "Model and sampler";

/// The model and sampler flags given, in table order. Each is a setting of the table
/// (`Setting::cli`): its flag, help, bounds and default come from there.
#[derive(Debug, Clone, Default)]
pub struct ModelArgs {
    given: Vec<Given>,
}

#[derive(Debug, Clone)]
struct Given {
    flag: &'static str,
    key: &'static str,
    value: FlagValue,
}

/// A flag's value as clap parsed it: integers and booleans are refused by clap, ranges and
/// names by the setting's own checks.
#[derive(Debug, Clone)]
enum FlagValue {
    Int(u64),
    Number(f64),
    Bool(bool),
    Text(String),
    List(Vec<String>),
}

/// Which budgets `--max-tokens` sets: a task at a cursor may mask a line or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensFor {
    Blocks,
    LinesAndBlocks,
}

/// The settings that have a flag, with its name.
fn flag_settings() -> impl Iterator<Item = (&'static Setting, &'static str)> {
    SETTINGS.iter().filter_map(|s| Some((s, s.flag()?)))
}

fn value_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int { .. } => "N",
        Kind::Number { .. } => "X",
        Kind::Bool => "BOOL",
        Kind::Choice { .. } => "NAME",
        Kind::Text { .. } | Kind::List { .. } => "TEXT",
    }
}

fn flag_arg(setting: &Setting, name: &'static str) -> Arg {
    let arg = Arg::new(name)
        .long(name)
        .value_name(value_name(setting.kind))
        .help(generate::flag_help(setting))
        .help_heading(MODEL_FLAGS)
        .action(ArgAction::Set);
    match setting.kind {
        // Negative numbers reach the parser, so `--steps -1` says why it is refused.
        Kind::Int { .. } => arg
            .value_parser(value_parser!(u64))
            .allow_negative_numbers(true),
        Kind::Number { .. } => arg
            .value_parser(value_parser!(f64))
            .allow_negative_numbers(true),
        Kind::Bool => arg.value_parser(value_parser!(bool)),
        Kind::Choice { .. } | Kind::Text { .. } => arg.value_parser(value_parser!(String)),
        Kind::List { .. } => arg
            .value_parser(value_parser!(String))
            .action(ArgAction::Append),
    }
}

fn flag_value(matches: &ArgMatches, setting: &Setting, name: &str) -> Option<FlagValue> {
    Some(match setting.kind {
        Kind::Int { .. } => FlagValue::Int(*matches.get_one::<u64>(name)?),
        Kind::Number { .. } => FlagValue::Number(*matches.get_one::<f64>(name)?),
        Kind::Bool => FlagValue::Bool(*matches.get_one::<bool>(name)?),
        Kind::Choice { .. } | Kind::Text { .. } => {
            FlagValue::Text(matches.get_one::<String>(name)?.clone())
        }
        Kind::List { .. } => FlagValue::List(matches.get_many::<String>(name)?.cloned().collect()),
    })
}

impl Args for ModelArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(flag_settings().map(|(setting, name)| flag_arg(setting, name)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ModelArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ModelArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (setting, flag) in flag_settings() {
            if let Some(value) = flag_value(matches, setting, flag) {
                self.given.retain(|g| g.flag != flag);
                self.given.push(Given {
                    flag,
                    key: setting.key,
                    value,
                });
            }
        }
        Ok(())
    }
}

/// A flag's number as JSON; NaN and infinities have no JSON form (serde_json would make them
/// `null`, which clears a setting instead of refusing it).
fn finite(flag: &str, x: f64) -> Result<Value, CliError> {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| usage(anyhow!("--{flag} {x}: expected a finite number")))
}

impl FlagValue {
    fn to_json(&self, flag: &str) -> Result<Value, CliError> {
        Ok(match self {
            FlagValue::Int(n) => Value::from(*n),
            FlagValue::Number(x) => finite(flag, *x)?,
            FlagValue::Bool(b) => Value::from(*b),
            FlagValue::Text(s) => Value::from(s.as_str()),
            FlagValue::List(l) => Value::from(l.clone()),
        })
    }
}

impl ModelArgs {
    /// The flags as settings: (flag, setting key, value). `--max-tokens` is the budget of
    /// whichever span the task gets: `--at` on an empty block masks a multi-line one.
    fn settings(
        &self,
        max_tokens: MaxTokensFor,
    ) -> Result<Vec<(&'static str, &'static str, Value)>, CliError> {
        let mut all = Vec::with_capacity(self.given.len() + 1);
        for given in &self.given {
            let value = given.value.to_json(given.flag)?;
            let inline_too =
                given.key == MAX_TOKENS_KEY && max_tokens == MaxTokensFor::LinesAndBlocks;
            let inline = value.as_u64().filter(|_| inline_too);
            all.push((given.flag, given.key, value));
            if let Some(n) = inline {
                all.push((
                    given.flag,
                    "maxTokensInline",
                    Value::from(n.min(MAX_TOKENS_INLINE)),
                ));
            }
        }
        Ok(all)
    }

    /// Flags go through the same validation as editor settings; the first bad one is refused.
    pub fn config(&self, max_tokens: MaxTokensFor) -> Result<Config, CliError> {
        let mut config = Config::default();
        for (flag, key, value) in self.settings(max_tokens)? {
            config
                .set(key, &value)
                .map_err(|problem| usage(anyhow!("--{flag} {value}: {problem}")))?;
        }
        Ok(config)
    }
}

/// The setting `--max-tokens` names; it sets `maxTokensInline` too for a single-line span.
const MAX_TOKENS_KEY: &str = "maxTokensBlock";

fn load_engine(config: &Config) -> Result<Engine, CliError> {
    let engine = Engine::start();
    let description = engine
        .start_load_reporting(
            config.model.clone(),
            config.load_options(),
            crate::load_bar::sink(),
        )
        .blocking_recv()
        .unwrap_or_else(|_| Err("the engine worker stopped".into()))
        .map_err(|e| CliError {
            code: EXIT_MODEL,
            error: anyhow!("cannot load the model: {e}"),
        })?;
    tracing::info!("model: {description}");
    Ok(engine)
}

/// What infills the command's requests: the remote engine the flags name, or the local model,
/// loaded now.
fn infiller(config: &Config) -> Result<Infiller, CliError> {
    // `backend` has no flag: the command line's only settings are its flags, so an endpoint
    // set is one given with --endpoint, the remote engine to use.
    let mut config = config.clone();
    if config.endpoint.is_some() {
        config.backend = "remote".into();
    }
    match config.remote() {
        Some(settings) => Ok(Infiller::Remote(RemoteEngine::new(
            settings,
            Default::default(),
        ))),
        None => Ok(Infiller::Local(load_engine(&config)?)),
    }
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
    let infiller = infiller(config)?;
    let outcome = runtime()
        .block_on(pipeline::run(
            &infiller,
            snapshot,
            task,
            config,
            &CancelFlag::new(),
        ))
        .map_err(|e| match e {
            // An engine that cannot be reached is a model that cannot be used.
            PipelineError::Engine(EngineError::Remote(e)) => CliError {
                code: EXIT_MODEL,
                error: anyhow!("the remote engine failed: {e}"),
            },
            e => nothing(e.into()),
        })?;
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
    let max_tokens = match task {
        Task::Inline { .. } => MaxTokensFor::LinesAndBlocks,
        _ => MaxTokensFor::Blocks,
    };
    let config = args.model.config(max_tokens)?;
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

/// What `--batch` answers with: the infiller, and a runtime for a remote one's requests.
struct BatchEngine {
    infiller: Infiller,
    runtime: tokio::runtime::Runtime,
}

/// The answer to one input line (`n` from 1); `None` for a blank line.
fn batch_reply(engine: &BatchEngine, config: &Config, n: usize, bytes: &[u8]) -> Option<Value> {
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
    let ask = Ask {
        request,
        replaced: vec![],
        sampler: config.sampler.clone(),
        stop: Stop::Block,
    };
    let answer = engine
        .runtime
        .block_on(engine.infiller.infill(ask, &CancelFlag::new(), None));
    Some(
        match answer {
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
    let config = model.config(MaxTokensFor::Blocks)?;
    let engine = BatchEngine {
        infiller: infiller(&config)?,
        runtime: runtime(),
    };
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
    let config = args.model.config(MaxTokensFor::Blocks)?;
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
