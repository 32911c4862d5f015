//! Benchmark: next-edit suggestions (issue 20, part 4) on edit sequences made from held-out
//! files (the corpus's test split: packages the model never saw), so the expected next edit is
//! known.
//!
//! Each case is a file, one edit the user made (typed keystroke by keystroke into the
//! document's edit history, as an editor sends it) and the edit that should follow, or none:
//! a parameter renamed at its definition (its next use follows), a parameter added (the next
//! call site gets an argument), a field renamed (its next use), a literal changed in one of
//! several parallel lines (the same change on the next one), and edits after which nothing
//! should follow (see `next_edit_cases::Kind`). The engines answer through
//! `dllm_ls::next_edit::suggest` with the server's default settings; beside them two
//! baselines: never suggesting, and a rule without a model (`next_edit_cases::rule`).
//!
//! Per engine: precision (the share of suggestions equal to the expected edit), recall (the
//! share of cases with an expected edit that got it), the share of cases where a suggestion
//! was wrong, and latency at p50 and p95; per kind and per language.
//!
//!     bash scripts/bench-next-edit.sh [--per-kind 14] [--engines never,rule,scoped,local] [--json F]
//!
//! (which builds the corpus when it is missing, then runs this example in release).

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod next_edit_cases;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, ValueEnum};
use dllm_grammars::Language;
use dllm_ls::config::Config;
use dllm_ls::document::{Document, LARGE_DOCUMENT_BYTES};
use dllm_ls::engine::Engine;
use dllm_ls::infiller::Infiller;
use dllm_ls::next_edit::{self, Context};
use dllm_ls::pipeline::Snapshot;
use dllm_models::CancelFlag;
use next_edit_cases::grade::grade;
use next_edit_cases::make::{self, Quota, Source};
use next_edit_cases::report::{Graded, Report};
use next_edit_cases::typing::{type_edit, Typing};
use next_edit_cases::{rule, Case, Replacement, Rng};
use serde::Deserialize;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Held-out files, one JSON object per line: {"lang", "path", "text", "pkg"}.
    #[arg(long, default_value = "/work/corpus/files/test.jsonl")]
    corpus: PathBuf,
    /// Cases per language of each kind that has an expected edit.
    #[arg(long, default_value_t = 14)]
    per_kind: usize,
    /// Cases per language of each kind after which nothing should follow.
    #[arg(long, default_value_t = 3)]
    per_none_kind: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only these languages (corpus names: python, rust, javascript, typescript, go).
    #[arg(long, value_delimiter = ',')]
    langs: Vec<String>,
    /// The engines and baselines to run.
    #[arg(long, value_delimiter = ',', default_value = "never,rule,scoped,local")]
    engines: Vec<EngineName>,
    /// How the user's edit reaches the server's edit history.
    #[arg(long, value_enum, default_value = "keystrokes")]
    typing: Typing,
    /// Write every case and each engine's answer here (JSON lines).
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Write the summary here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineName {
    /// Never suggest.
    Never,
    /// The rule-only baseline, no model.
    Rule,
    /// The local engine's re-mask rule answering without the model
    /// (`next_edit::local::without_model`): what the model has to beat.
    Scoped,
    /// The embedded default model, through `next_edit::suggest`.
    Local,
    /// Inception's `/edit/completions` on its contract fixtures only (needs the `testing`
    /// feature); not run on the held-out cases.
    Remote,
}

impl EngineName {
    fn name(self) -> &'static str {
        match self {
            EngineName::Never => "never suggest",
            EngineName::Rule => "rule only",
            EngineName::Scoped => "re-mask rule, no model",
            EngineName::Local => "local (default model)",
            EngineName::Remote => "remote (contract fixtures)",
        }
    }
}

#[derive(Deserialize)]
struct SourceFile {
    lang: String,
    path: String,
    text: String,
}

fn load_files(path: &Path, langs: &[String]) -> Result<Vec<SourceFile>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "{} (build it: python3 models/train/corpus.py)",
            path.display()
        )
    })?;
    let mut files = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let file: SourceFile = serde_json::from_str(&line?)?;
        if langs.is_empty() || langs.contains(&file.lang) {
            files.push(file);
        }
    }
    Ok(files)
}

fn language_of(file: &SourceFile) -> Option<Language> {
    Language::from_path(Path::new(&file.path)).or_else(|| Language::from_language_id(&file.lang))
}

/// What the server sees for `case`: the document after the edit, its history and the cursor.
fn context_of(case: &Case, typing: Typing) -> Context {
    let (history, version) = type_edit(&case.before, &case.edit, typing);
    let language = Language::from_path(Path::new(&case.path));
    let language_id = language.map_or(case.lang.as_str(), |l| l.name());
    let doc = Document::open(
        language_id,
        Some(Path::new(&case.path)),
        version,
        &case.after,
    );
    Context {
        snapshot: Snapshot::from_document(&doc),
        history: history.edits().cloned().collect(),
        cursor: case.cursor,
        path: case.path.clone(),
        recently_viewed: Vec::new(),
    }
}

/// An engine's answer to a case.
struct Answer {
    suggestion: Option<Replacement>,
    /// The suggestion's time, from the context (document, history, cursor) to the proposal.
    took: Duration,
    /// The error the request ended in, if it did (an editor gets an error, no suggestion).
    error: Option<String>,
}

/// Asks `engine` about `case`.
fn ask(
    engine: EngineName,
    infiller: Option<&Infiller>,
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    case: &Case,
    typing: Typing,
) -> Result<Answer> {
    // The document and its history exist before the request (the server keeps them as
    // edits arrive): the clock runs over the suggestion only.
    let ctx =
        matches!(engine, EngineName::Local | EngineName::Scoped).then(|| context_of(case, typing));
    let started = Instant::now();
    let (suggestion, error) = match engine {
        EngineName::Never | EngineName::Remote => (None, None),
        EngineName::Rule => {
            let (edited, old) = case.edited();
            (rule::suggest(&case.after, edited, old), None)
        }
        EngineName::Scoped => {
            let ctx = ctx.as_ref().expect("made above");
            match next_edit::local::without_model(ctx) {
                Ok(proposal) => (
                    proposal.map(|p| Replacement {
                        range: p.range,
                        text: p.text,
                    }),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        EngineName::Local => {
            let infiller = infiller.context("the local engine is not loaded")?;
            let ctx = ctx.as_ref().expect("made above");
            let cancel = CancelFlag::new();
            match runtime.block_on(next_edit::suggest(infiller, ctx, config, &cancel)) {
                Ok(proposal) => (
                    proposal.map(|p| Replacement {
                        range: p.range,
                        text: p.text,
                    }),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            }
        }
    };
    Ok(Answer {
        suggestion,
        took: started.elapsed(),
        error,
    })
}

fn main() -> Result<()> {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let args = Args::parse();
    // Engines' debug logs on stderr when asked (RUST_LOG=dllm_ls::next_edit=debug).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let files = load_files(&args.corpus, &args.langs)?;
    let sources: Vec<Source> = files
        .iter()
        .filter(|f| f.text.len() <= LARGE_DOCUMENT_BYTES)
        .filter_map(|f| {
            Some(Source {
                lang: &f.lang,
                path: &f.path,
                text: &f.text,
                language: language_of(f)?,
            })
        })
        .collect();
    if sources.is_empty() {
        bail!("no files in {}", args.corpus.display());
    }
    let quota = Quota {
        per_kind: args.per_kind,
        per_none_kind: args.per_none_kind,
    };
    let cases = make::cases(&sources, &quota, &mut Rng(args.seed));
    eprintln!("{} cases", cases.len());

    let config = Config::default();
    let infiller = if args.engines.contains(&EngineName::Local) {
        let engine = Engine::start();
        engine
            .load_blocking(None, config.load_options())
            .map_err(anyhow::Error::msg)
            .context("loading the default model")?;
        Some(Infiller::Local(engine))
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut dump = match &args.dump {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let mut report = Report::default();
    let started = Instant::now();
    for (i, case) in cases.iter().enumerate() {
        let mut answers = serde_json::Map::new();
        for &engine in args.engines.iter().filter(|&&e| e != EngineName::Remote) {
            let answer = ask(
                engine,
                infiller.as_ref(),
                &runtime,
                &config,
                case,
                args.typing,
            )?;
            let outcome = grade(case, answer.suggestion.as_ref());
            report.add(Graded {
                engine: engine.name(),
                lang: case.lang.clone(),
                kind: case.kind,
                outcome,
                took: answer.took,
                errored: answer.error.is_some(),
            });
            let suggestion = answer
                .suggestion
                .map(|s| json!({"range": [s.range.start, s.range.end], "text": s.text}));
            answers.insert(
                engine.name().into(),
                json!({"outcome": outcome.name(), "ms": answer.took.as_secs_f64() * 1e3,
                       "suggestion": suggestion, "error": answer.error}),
            );
        }
        if let Some(w) = dump.as_mut() {
            serde_json::to_writer(&mut *w, &case_json(case, answers))?;
            w.write_all(b"\n")?;
        }
        if (i + 1) % 25 == 0 {
            eprintln!(
                "{}/{} cases, {:.0} s",
                i + 1,
                cases.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    report.print(&cases);
    let remote = if args.engines.contains(&EngineName::Remote) {
        Some(remote_fixtures(&runtime)?)
    } else {
        None
    };
    if let Some(path) = &args.json {
        let summary = json!({"corpus": args.corpus, "seed": args.seed, "per_kind": args.per_kind,
            "per_none_kind": args.per_none_kind, "typing": format!("{:?}", args.typing), "cases": cases.len(), "engines": report.json(),
            "remote_fixtures": remote});
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

#[cfg(feature = "testing")]
fn remote_fixtures(runtime: &tokio::runtime::Runtime) -> Result<serde_json::Value> {
    let replayed = next_edit_cases::fixtures::replay(runtime)?;
    let rows: Vec<_> = replayed
        .iter()
        .map(|r| (r.name, r.outcome, r.took))
        .collect();
    Ok(next_edit_cases::report::fixtures(&rows))
}

#[cfg(not(feature = "testing"))]
fn remote_fixtures(_: &tokio::runtime::Runtime) -> Result<serde_json::Value> {
    bail!("the remote engine's fixtures need the `testing` feature (scripts/bench-next-edit.sh)")
}

fn case_json(
    case: &Case,
    answers: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let (edited, old) = case.edited();
    let line = case.before[..case.edit.range.start].matches('\n').count() + 1;
    let expected = match &case.expected {
        next_edit_cases::Expected::Nothing => json!(null),
        next_edit_cases::Expected::Replace(r) => {
            json!({"range": [r.range.start, r.range.end], "old": &case.after[r.range.clone()], "text": r.text})
        }
        next_edit_cases::Expected::AppendArgument { arguments } => {
            json!({"append_argument_to": &case.after[arguments.clone()], "at": arguments.start})
        }
    };
    json!({"lang": case.lang, "path": case.path, "kind": case.kind.name(), "line": line,
           "edit": {"old": old, "new": &case.after[edited]}, "expected": expected,
           "answers": answers})
}
