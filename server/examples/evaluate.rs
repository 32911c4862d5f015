//! Evaluates an infill model on held-out code (issue 3, part 6).
//!
//! Cases come from the test split of the training corpus (`models/train/corpus.py` writes
//! `/work/corpus/files/test.jsonl`: packages the model never saw): per language, random single
//! lines, runs of 2-8 lines and function bodies, each masked with the real text before and after
//! it. The model fills each hole the way the server does (same sampler settings, token budgets and
//! context size); two trivial baselines answer the same cases: an empty answer and the lines just
//! above the hole repeated. Scores: exact match after whitespace normalisation, edit similarity,
//! and the share of answers that add no syntax errors (tree-sitter).
//!
//! Each answer also gets the confidence scores the server's gate (`minConfidence`) can use
//! (`dllm_models::sampler::Scores`). The holes of each cell are split in two, alternately: on the
//! first half the score that best separates exact matches from misses (AUROC) is chosen and
//! the gate's threshold calibrated; the second half reports the precision-coverage curve (the
//! share of holes shown, and exact match and edit similarity among those shown) per language
//! and kind of hole, so the report is not tuned on itself.
//!
//!     cargo run --release -p dllm-ls --example evaluate -- --model models/default
//!
//! `bash models/train/evaluate.sh` builds the corpus first when it is missing.

// The allocator the server runs with (see `server/src/main.rs`), so timings are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dllm_grammars::span::enclosing_function;
use dllm_grammars::{check_edit, Language, SyntaxTree};
use dllm_ls::config::{Config, Reach};
use dllm_ls::repetition::repetition_in;
use dllm_models::sampler::{ScoreKind, Scores};
use dllm_models::{CancelFlag, DiffusionModel, InfillOutput, InfillRequest, LoadOptions};
use serde::Deserialize;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Checkpoint directory (Dream or LLaDA layout).
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Held-out files, one JSON object per line: {"lang", "path", "text", "pkg"}.
    #[arg(long, default_value = "/work/corpus/files/test.jsonl")]
    corpus: PathBuf,
    /// Cases per language and kind.
    #[arg(long, default_value_t = 40)]
    per_cell: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only these languages (corpus names: python, rust, javascript, typescript, go).
    #[arg(long, value_delimiter = ',')]
    langs: Vec<String>,
    /// Only these kinds of hole: line, lines (2-8), body.
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// Score the baselines only (no model run; the model's tokenizer still sizes the cases).
    #[arg(long)]
    baselines_only: bool,
    /// Sampler overrides, as in the server's configuration.
    #[arg(long)]
    threshold: Option<f32>,
    /// With the threshold: at most this many tokens committed per step.
    #[arg(long)]
    max_per_step: Option<usize>,
    /// No confidence threshold: the schedule alone decides (one token per step by default).
    #[arg(long)]
    no_threshold: bool,
    #[arg(long)]
    steps: Option<usize>,
    /// Score the warm path: before each case, answer the same hole in the document as it was one
    /// keystroke earlier (the character before the hole not yet typed), then answer the case
    /// reusing that request's cached keys and values, as the server does on the next keystroke.
    #[arg(long)]
    warm: bool,
    /// Approximate KV cache on (true) or off (false); default: the server's setting.
    #[arg(long)]
    kv_cache: Option<bool>,
    /// Refresh the cache every this many steps (0: once per block only).
    #[arg(long)]
    cache_refresh: Option<usize>,
    /// With the cache: recompute only masked positions per step (true) or the whole block.
    #[arg(long)]
    cache_masked_only: Option<bool>,
    /// End tokens wait for the positions before them (true, the default) or commit anywhere.
    #[arg(long)]
    end_left_to_right: Option<bool>,
    /// Partial cache refreshes: recompute only the columns within this many positions of the
    /// span (the sampler's `refresh_radius`).
    #[arg(long)]
    refresh_radius: Option<usize>,
    /// Also commit positions whose proposal repeats the step before's with at least this
    /// probability (the sampler's `stable_threshold`).
    #[arg(long)]
    stable_threshold: Option<f32>,
    /// The least probability at which an end token may end a span (0: plain argmax).
    #[arg(long)]
    end_min_probability: Option<f32>,
    /// bf16 products where the CPU has AVX-512 BF16 (the server's `bf16Products`; default: the
    /// server's default).
    #[arg(long)]
    bf16_products: Option<bool>,
    /// Weight format, as the server's `dtype` setting (`f32`, `bf16`, `q8`, `q4`; default: the
    /// server's default), parsed by the same `LoadOptions::for_dtype`.
    #[arg(long)]
    dtype: Option<String>,
    /// Semi-autoregressive blocks of this many positions (1: strictly left to right), for every
    /// kind of hole; `--inline-block-length` then overrides it for lines.
    #[arg(long)]
    block_length: Option<usize>,
    /// Blocks of single-line holes (the server's `inlineBlockLength`).
    #[arg(long)]
    inline_block_length: Option<usize>,
    /// Write every case and answer here (JSON lines), with the answer's edit similarity.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Write the summary here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The gate's calibration: the lowest threshold at which at least this share of the
    /// single-line suggestions shown (calibration half) are exact matches.
    #[arg(long, default_value_t = 0.5)]
    gate_precision: f64,
    /// ...with at least this many single-line holes of the calibration half shown.
    #[arg(long, default_value_t = 10)]
    gate_min_shown: usize,
}

#[derive(Deserialize)]
struct SourceFile {
    lang: String,
    path: String,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Line,
    Lines,
    Body,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Line, Kind::Lines, Kind::Body];
    fn name(self) -> &'static str {
        match self {
            Kind::Line => "line",
            Kind::Lines => "2-8 lines",
            Kind::Body => "function body",
        }
    }
    /// Its name in `--kinds`.
    fn flag(self) -> &'static str {
        match self {
            Kind::Line => "line",
            Kind::Lines => "lines",
            Kind::Body => "body",
        }
    }
}

struct Case {
    file: usize,
    range: Range<usize>,
    max_tokens: usize,
}

/// splitmix64: a seeded generator, so the same seed gives the same cases on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Byte ranges of the lines of `text`, without their line ends.
fn line_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            let end = if i > start && text.as_bytes()[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            out.push(start..end);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

fn indent_end(text: &str, line: &Range<usize>) -> usize {
    line.start + text[line.clone()].len() - text[line.clone()].trim_start().len()
}

/// What a user would be asked to fill: a line from its indentation on, a run of lines, or the
/// inside of a function body (trimmed of surrounding blank space).
fn pick(rng: &mut Rng, kind: Kind, text: &str, tree: &SyntaxTree) -> Option<Range<usize>> {
    let lines = line_ranges(text);
    if lines.len() < 3 {
        return None;
    }
    match kind {
        Kind::Line | Kind::Lines => {
            let first = 1 + rng.below(lines.len() - 2);
            let count = if kind == Kind::Line {
                1
            } else {
                2 + rng.below(7)
            };
            let last = first + count - 1;
            if last + 1 >= lines.len() {
                return None;
            }
            let start = indent_end(text, &lines[first]);
            let end = lines[last].end;
            let inside = &text[start..end];
            // A hole worth asking for: not blank at either end, some code in it.
            if inside
                .trim()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .count()
                < 2
                || text[lines[last].clone()].trim().is_empty()
            {
                return None;
            }
            Some(start..end)
        }
        Kind::Body => {
            let offset = rng.below(text.len());
            if !text.is_char_boundary(offset) {
                return None;
            }
            let f = enclosing_function(tree, text, offset).ok()??;
            let body = &text[f.body.clone()];
            let lead = body.len() - body.trim_start().len();
            let trail = body.len() - body.trim_end().len();
            let range = f.body.start + lead..f.body.end - trail;
            if range.is_empty() || !text[range.clone()].contains(|c: char| c.is_alphanumeric()) {
                return None;
            }
            Some(range)
        }
    }
}

/// Whitespace runs become one space; ends are trimmed.
fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1 - Levenshtein distance / longer length, over characters.
fn edit_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / a.len().max(b.len()) as f64
}

/// The baseline: as many lines as the hole has, taken from just above it (from the first one's
/// indentation on, like the hole).
fn lines_above(text: &str, range: &Range<usize>) -> String {
    let want = text[range.clone()].lines().count().max(1);
    let lines = line_ranges(text);
    let first = lines.iter().position(|l| l.end >= range.start).unwrap_or(0);
    let picked: Vec<&Range<usize>> = lines[..first]
        .iter()
        .rev()
        .filter(|l| !text[(*l).clone()].trim().is_empty())
        .take(want)
        .collect();
    let mut out: Vec<&str> = picked.iter().rev().map(|l| &text[(*l).clone()]).collect();
    if let Some(head) = out.first_mut() {
        *head = head.trim_start();
    }
    out.join("\n")
}

#[derive(Default, Clone)]
struct Score {
    n: usize,
    exact: usize,
    parses: usize,
    /// Answers the server withholds because they repeat themselves (`repetition_in`).
    repeats: usize,
    similarity: f64,
}

impl Score {
    fn add(&mut self, language: Language, text: &str, range: &Range<usize>, answer: &str) {
        let truth = &text[range.clone()];
        self.n += 1;
        self.exact += usize::from(normalise(answer) == normalise(truth));
        self.similarity += edit_similarity(answer, truth);
        // "Parses" = adds no syntax errors next to the hole or in the code around it.
        self.parses +=
            usize::from(check_edit(language, text, range.clone(), answer).is_ok_and(|c| c.ok));
        self.repeats += usize::from(repetition_in(answer).is_some());
    }
    fn cells(&self) -> [String; 4] {
        let pct = |k: usize| format!("{:.1}", 100.0 * k as f64 / self.n.max(1) as f64);
        [
            pct(self.exact),
            format!("{:.1}", 100.0 * self.similarity / self.n.max(1) as f64),
            pct(self.parses),
            pct(self.repeats),
        ]
    }
    fn json(&self) -> serde_json::Value {
        let d = self.n.max(1) as f64;
        json!({"n": self.n, "exact_match": self.exact as f64 / d,
               "edit_similarity": self.similarity / d, "parses": self.parses as f64 / d,
               "repeats": self.repeats as f64 / d})
    }
}

#[derive(Default, Clone)]
struct Cell {
    model: Score,
    above: Score,
    empty: Score,
    steps: usize,
    tokens: usize,
    millis: f64,
    /// Canvas tokens whose keys and values came from the previous request (`--warm`).
    reused: usize,
}

fn language_of(file: &SourceFile) -> Option<Language> {
    Language::from_path(Path::new(&file.path)).or_else(|| Language::from_language_id(&file.lang))
}

fn load_files(path: &Path, langs: &[String]) -> Result<Vec<SourceFile>> {
    let reader = std::io::BufReader::new(std::fs::File::open(path).with_context(|| {
        format!(
            "{} (build it: python3 models/train/corpus.py)",
            path.display()
        )
    })?);
    let mut files = Vec::new();
    for line in reader.lines() {
        let file: SourceFile = serde_json::from_str(&line?)?;
        if langs.is_empty() || langs.contains(&file.lang) {
            files.push(file);
        }
    }
    Ok(files)
}

fn main() -> Result<()> {
    // Before any thread exists: candle's per-product core count is costly (see the function).
    dllm_models::pin_thread_count();
    let args = Args::parse();
    let files = load_files(&args.corpus, &args.langs)?;
    if files.is_empty() {
        bail!("no files in {}", args.corpus.display());
    }
    let mut config = Config::default();
    let bf16_products = args.bf16_products.unwrap_or(config.bf16_products);
    let load = match &args.dtype {
        Some(name) => LoadOptions::for_dtype(name, bf16_products)
            .with_context(|| format!("unknown --dtype {name:?} (f32, bf16, q8 or q4)"))?,
        None => LoadOptions {
            bf16_products,
            ..config.load_options()
        },
    };
    let model = DiffusionModel::load_dir(&args.model, &load)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let mut sampler = config.sampler.clone();
    if args.threshold.is_some() {
        sampler.threshold = args.threshold;
    }
    if args.max_per_step.is_some() {
        sampler.max_per_step = args.max_per_step;
    }
    if args.no_threshold {
        sampler.threshold = None;
    }
    if args.steps.is_some() {
        sampler.steps = args.steps;
    }
    if let Some(on) = args.kv_cache {
        sampler.kv_cache = on;
    }
    if let Some(on) = args.end_left_to_right {
        sampler.end_left_to_right = on;
    }
    if args.refresh_radius.is_some() {
        sampler.refresh_radius = args.refresh_radius;
    }
    if args.stable_threshold.is_some() {
        sampler.stable_threshold = args.stable_threshold;
    }
    if let Some(p) = args.end_min_probability {
        sampler.end_min_probability = p;
    }
    if args.block_length.is_some() {
        sampler.block_length = args.block_length;
        config.inline_block_length = args.block_length;
    }
    if args.inline_block_length.is_some() {
        config.inline_block_length = args.inline_block_length;
    }
    if let Some(on) = args.cache_masked_only {
        sampler.cache_masked_only = on;
    }
    if let Some(k) = args.cache_refresh {
        sampler.cache_refresh = (k > 0).then_some(k);
    }
    config.sampler = sampler;
    let budget = |kind: Kind| match kind {
        Kind::Line => config.max_tokens_inline,
        Kind::Lines | Kind::Body => config.max_tokens_block,
    };

    // Files per language, in corpus order, with their trees.
    let mut by_lang: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut trees = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let tree = language_of(f).and_then(|l| SyntaxTree::parse(l, &f.text).ok());
        if tree.is_some() {
            by_lang.entry(f.lang.clone()).or_default().push(i);
        }
        trees.push(tree);
    }

    let mut rng = Rng(args.seed);
    let mut cases: BTreeMap<(String, Kind), Vec<Case>> = BTreeMap::new();
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| args.kinds.is_empty() || args.kinds.iter().any(|f| f == k.flag()))
        .collect();
    for (lang, ids) in &by_lang {
        for &kind in &kinds {
            let mut seen = HashSet::new();
            let mut picked = Vec::new();
            let mut tries = 0;
            while picked.len() < args.per_cell && tries < args.per_cell * 400 {
                tries += 1;
                let file = ids[rng.below(ids.len())];
                let text = &files[file].text;
                let Some(range) = pick(&mut rng, kind, text, trees[file].as_ref().unwrap()) else {
                    continue;
                };
                // The answer has to fit the budget the server gives such a hole.
                let n = model.tokenizer().encode(&text[range.clone()])?.len();
                if n >= budget(kind) || !seen.insert((file, range.start, range.end)) {
                    continue;
                }
                picked.push(Case {
                    file,
                    range,
                    max_tokens: budget(kind),
                });
            }
            cases.insert((lang.clone(), kind), picked);
        }
    }

    let mut dump = match &args.dump {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let cancel = CancelFlag::default();
    let mut cells: BTreeMap<(String, Kind), Cell> = BTreeMap::new();
    let total: usize = cases.values().map(Vec::len).sum();
    let mut done = 0;
    // The repetition guard's false positives on these holes: true text it would withhold.
    let mut truth_repeats = 0;
    let started = Instant::now();
    let mut graded: Vec<Graded> = Vec::new();
    for ((lang, kind), list) in &cases {
        let cell = cells.entry((lang.clone(), *kind)).or_default();
        // The server's settings for such a span (lines decode in their own block length).
        let reach = match kind {
            Kind::Line => Reach::Line,
            Kind::Lines | Kind::Body => Reach::Lines,
        };
        let sampler = config.sampler_for(reach);
        for (i, case) in list.iter().enumerate() {
            let file = &files[case.file];
            let text = &file.text;
            let language = language_of(file).expect("parsed above");
            let mut request = InfillRequest::single(
                &text[..case.range.start],
                case.max_tokens,
                &text[case.range.end..],
            );
            request.max_context_tokens = Some(config.context_tokens * 2 + case.max_tokens);
            let answered = if args.baselines_only {
                None
            } else {
                let out = if args.warm {
                    let mut reuse = None;
                    let typed = text[..case.range.start]
                        .char_indices()
                        .next_back()
                        .map_or(0, |(i, _)| i);
                    let mut before = InfillRequest::single(
                        &text[..typed],
                        case.max_tokens,
                        &text[case.range.end..],
                    );
                    before.max_context_tokens = request.max_context_tokens;
                    model.infill_reusing(&before, &sampler, &cancel, None, &mut reuse)?;
                    let out =
                        model.infill_reusing(&request, &sampler, &cancel, None, &mut reuse)?;
                    cell.reused += out.reused_tokens;
                    out
                } else {
                    model.infill(&request, &sampler, &cancel)?
                };
                cell.steps += out.steps;
                cell.tokens += out.span_tokens[0].len();
                cell.millis += out.elapsed.as_secs_f64() * 1e3;
                let scores = answer_scores(&out, *kind);
                let raw = out.spans.into_iter().next().unwrap_or_default();
                // What the server does with an answer: an inline one keeps its first line.
                let answer = if *kind == Kind::Line {
                    dllm_ls::pipeline::first_line(&raw)
                } else {
                    raw
                };
                Some((answer, scores))
            };
            let (answer, scores) = answered.unzip();
            let half = Half::of(i);
            if let (Some(a), Some(scores)) = (&answer, scores) {
                let truth = &text[case.range.clone()];
                graded.push(Graded {
                    lang: lang.clone(),
                    kind: *kind,
                    half,
                    scores,
                    exact: normalise(a) == normalise(truth),
                    similarity: edit_similarity(a, truth),
                });
            }
            let above = lines_above(text, &case.range);
            truth_repeats += usize::from(repetition_in(&text[case.range.clone()]).is_some());
            if let Some(a) = &answer {
                cell.model.add(language, text, &case.range, a);
            }
            cell.above.add(language, text, &case.range, &above);
            cell.empty.add(language, text, &case.range, "");
            if let Some(w) = dump.as_mut() {
                serde_json::to_writer(
                    &mut *w,
                    &json!({"lang": lang, "kind": kind.name(), "path": file.path,
                            "truth": &text[case.range.clone()], "model": answer, "above": above,
                            // per hole, for paired comparisons of two runs (compare_dumps.py)
                            "model_es": answer.as_deref().map(|a| 100.0 * edit_similarity(a, &text[case.range.clone()])),
                            "scores": scores, "half": half.name()}),
                )?;
                w.write_all(b"\n")?;
            }
            done += 1;
            if done % 50 == 0 {
                eprintln!(
                    "{done}/{total} cases, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }

    print_table(&cells, args.baselines_only);
    println!("true text the repetition guard would withhold: {truth_repeats} of {done} holes");
    let gate = (!graded.is_empty()).then(|| {
        let target = Target {
            precision: args.gate_precision,
            min_shown: args.gate_min_shown,
        };
        gate_report(&graded, &target)
    });
    if let Some(path) = &args.json {
        let s = &config.sampler;
        let rows: Vec<_> = cells
            .iter()
            .map(|((lang, kind), c)| {
                let n = c.model.n.max(1) as f64;
                json!({"lang": lang, "kind": kind.name(), "model": c.model.json(),
                       "lines_above": c.above.json(), "empty": c.empty.json(),
                       "mean_steps": c.steps as f64 / n, "mean_tokens": c.tokens as f64 / n,
                       "mean_ms": c.millis / n,
                       "mean_reused_tokens": c.reused as f64 / n})
            })
            .collect();
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json!({"model": args.model, "seed": args.seed,
                "per_cell": args.per_cell, "threshold": s.threshold, "steps": s.steps,
                "kv_cache": s.kv_cache, "cache_refresh": s.cache_refresh,
                "cache_masked_only": s.cache_masked_only,
                "end_left_to_right": s.end_left_to_right,
                "end_min_probability": s.end_min_probability,
                "stable_threshold": s.stable_threshold,
                "bf16_products": load.bf16_products,
                "dtype": args.dtype.as_deref().unwrap_or(&config.dtype),
                "refresh_radius": s.refresh_radius,
                "max_per_step": s.max_per_step,
                "block_length": s.block_length,
                "inline_block_length": config.inline_block_length,
                "cells": rows, "gate": gate}))?,
        )?;
    }
    Ok(())
}

fn print_table(cells: &BTreeMap<(String, Kind), Cell>, baselines_only: bool) {
    println!("| language | hole | n | model EM | model ES | model parses | model repeats | lines-above EM | lines-above ES | lines-above parses | empty EM | empty parses | steps | ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all: BTreeMap<Kind, Cell> = BTreeMap::new();
    let row = |lang: &str, kind: Kind, c: &Cell| {
        let m = if baselines_only {
            ["-".into(), "-".into(), "-".into(), "-".into()]
        } else {
            c.model.cells()
        };
        let a = c.above.cells();
        let e = c.empty.cells();
        let n = c.above.n.max(1) as f64;
        println!(
            "| {lang} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.0} |",
            kind.name(),
            c.above.n,
            m[0],
            m[1],
            m[2],
            m[3],
            a[0],
            a[1],
            a[2],
            e[0],
            e[2],
            c.steps as f64 / n,
            c.millis / n
        );
    };
    for ((lang, kind), c) in cells {
        row(lang, *kind, c);
        let t = all.entry(*kind).or_default();
        for (to, from) in [
            (&mut t.model, &c.model),
            (&mut t.above, &c.above),
            (&mut t.empty, &c.empty),
        ] {
            to.n += from.n;
            to.exact += from.exact;
            to.parses += from.parses;
            to.repeats += from.repeats;
            to.similarity += from.similarity;
        }
        t.steps += c.steps;
        t.millis += c.millis;
        t.reused += c.reused;
    }
    for (kind, c) in &all {
        row("**all**", *kind, c);
    }
    for (kind, c) in all.iter().filter(|(_, c)| c.reused > 0) {
        println!(
            "warm {}: {:.0} canvas tokens reused per request",
            kind.name(),
            c.reused as f64 / c.model.n.max(1) as f64
        );
    }
}

/// Which half of a cell's holes a case is in (alternately): the first calibrates the gate, the
/// second reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    Calibrate,
    Report,
}

impl Half {
    fn of(index_in_cell: usize) -> Half {
        if index_in_cell % 2 == 0 {
            Half::Calibrate
        } else {
            Half::Report
        }
    }
    fn name(self) -> &'static str {
        match self {
            Half::Calibrate => "calibrate",
            Half::Report => "report",
        }
    }
}

/// One model answer, its confidence scores and whether it was right.
struct Graded {
    lang: String,
    kind: Kind,
    half: Half,
    scores: Scores,
    exact: bool,
    similarity: f64,
}

/// The scores of the answer as the server shows it: a line is scored on its first line.
fn answer_scores(out: &InfillOutput, kind: Kind) -> Scores {
    match out.confidence.first() {
        Some(c) if kind == Kind::Line => c.first_line().scores(),
        Some(c) => c.scores(),
        None => Scores::CERTAIN,
    }
}

/// What the gate's threshold is calibrated to (on single lines).
struct Target {
    precision: f64,
    min_shown: usize,
}

/// The chance that a random exact match scores higher than a random miss (ties count half);
/// `None` without both.
fn auroc(cases: &[&Graded], score: ScoreKind) -> Option<f64> {
    let (hit, miss): (Vec<&&Graded>, Vec<&&Graded>) = cases.iter().partition(|g| g.exact);
    if hit.is_empty() || miss.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for h in &hit {
        for m in &miss {
            let (a, b) = (score.of(&h.scores), score.of(&m.scores));
            wins += if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (hit.len() * miss.len()) as f64)
}

/// The gate at one threshold: how many holes, how many shown, and how good those shown are.
#[derive(Debug, Clone, Copy)]
struct Point {
    n: usize,
    shown: usize,
    exact: usize,
    similarity: f64,
}

impl Point {
    fn at(cases: &[&Graded], score: ScoreKind, threshold: f32) -> Point {
        let shown: Vec<&&Graded> = cases
            .iter()
            .filter(|g| score.of(&g.scores) >= threshold)
            .collect();
        Point {
            n: cases.len(),
            shown: shown.len(),
            exact: shown.iter().filter(|g| g.exact).count(),
            similarity: shown.iter().map(|g| g.similarity).sum(),
        }
    }
    fn precision(&self) -> f64 {
        self.exact as f64 / self.shown.max(1) as f64
    }
    fn json(&self) -> serde_json::Value {
        json!({"n": self.n, "shown": self.shown,
               "coverage": self.shown as f64 / self.n.max(1) as f64,
               "exact_match_shown": self.precision(),
               "edit_similarity_shown": self.similarity / self.shown.max(1) as f64})
    }
    /// `coverage % / EM % / ES %` of those shown.
    fn cell(&self) -> String {
        if self.shown == 0 {
            return "0 / - / -".to_string();
        }
        format!(
            "{:.0} / {:.0} / {:.0}",
            100.0 * self.shown as f64 / self.n.max(1) as f64,
            100.0 * self.precision(),
            100.0 * self.similarity / self.shown as f64
        )
    }
}

/// The lowest threshold at which the shown cases reach the target precision with at least
/// `min_shown` shown; where none does, the one with the best precision at that many shown.
fn calibrate(cases: &[&Graded], score: ScoreKind, target: &Target) -> f32 {
    let mut candidates: Vec<f32> = cases.iter().map(|g| score.of(&g.scores)).collect();
    candidates.push(0.0);
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let enough: Vec<(f32, Point)> = candidates
        .iter()
        .map(|&t| (t, Point::at(cases, score, t)))
        .filter(|(_, p)| p.shown >= target.min_shown)
        .collect();
    if let Some((t, _)) = enough
        .iter()
        .find(|(_, p)| p.precision() >= target.precision)
    {
        return *t;
    }
    enough
        .iter()
        .max_by(|a, b| a.1.precision().total_cmp(&b.1.precision()))
        .map_or(0.0, |(t, _)| *t)
}

/// The gate's report: AUROC of every score per kind of hole on both halves, the score and
/// threshold chosen on the calibration half's single lines, and the precision-coverage curve
/// on the report half, per kind of hole and per language.
fn gate_report(graded: &[Graded], target: &Target) -> serde_json::Value {
    let select = |half: Half, kind: Option<Kind>| -> Vec<&Graded> {
        graded
            .iter()
            .filter(|g| g.half == half && kind.is_none_or(|k| g.kind == k))
            .collect()
    };
    let mut aurocs = serde_json::Map::new();
    for half in [Half::Calibrate, Half::Report] {
        println!(
            "\nAUROC of each score for exact matches, {} half:",
            half.name()
        );
        println!("| score | line | 2-8 lines | function body | all |\n|---|---|---|---|---|");
        let mut per_score = serde_json::Map::new();
        for score in ScoreKind::ALL {
            let values: Vec<Option<f64>> = Kind::ALL
                .iter()
                .map(|&k| Some(k))
                .chain([None])
                .map(|k| auroc(&select(half, k), score))
                .collect();
            let shown: Vec<String> = values
                .iter()
                .map(|v| v.map_or("-".into(), |v| format!("{v:.3}")))
                .collect();
            println!("| {} | {} |", score.name(), shown.join(" | "));
            per_score.insert(score.name().into(), json!(values));
        }
        aurocs.insert(half.name().into(), per_score.into());
    }
    let lines = select(Half::Calibrate, Some(Kind::Line));
    let chosen = ScoreKind::ALL
        .into_iter()
        .max_by(|a, b| {
            let v = |s| auroc(&lines, s).unwrap_or(0.0);
            v(*a).total_cmp(&v(*b))
        })
        .unwrap_or(ScoreKind::MinToken);
    let threshold = calibrate(&lines, chosen, target);
    let at = Point::at(&lines, chosen, threshold);
    println!(
        "\ngate: score {} (best AUROC on the calibration half's lines), threshold {threshold:.3}: \
         shows {} of {} calibration lines, {:.0}% of them exact",
        chosen.name(),
        at.shown,
        at.n,
        100.0 * at.precision()
    );
    json!({"auroc": aurocs, "score": chosen.name(), "threshold": threshold,
           "target_precision": target.precision, "target_min_shown": target.min_shown,
           "curve": report_curve(graded, chosen, threshold)})
}

/// The report half's precision-coverage curve: per kind of hole over a range of thresholds,
/// then per language and kind at `threshold`.
fn report_curve(graded: &[Graded], score: ScoreKind, threshold: f32) -> serde_json::Value {
    let report: Vec<&Graded> = graded.iter().filter(|g| g.half == Half::Report).collect();
    let of_kind =
        |k: Kind| -> Vec<&Graded> { report.iter().copied().filter(|g| g.kind == k).collect() };
    let mut thresholds: Vec<f32> = (0..10).map(|i| i as f32 / 10.0).collect();
    thresholds.push(threshold);
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    println!(
        "\nreport half, score {}: shown % / exact match % / edit similarity % among those shown",
        score.name()
    );
    println!("| threshold | line | 2-8 lines | function body |\n|---|---|---|---|");
    let mut by_threshold = Vec::new();
    for &t in &thresholds {
        let points: Vec<Point> = Kind::ALL
            .iter()
            .map(|&k| Point::at(&of_kind(k), score, t))
            .collect();
        let cells: Vec<String> = points.iter().map(Point::cell).collect();
        println!("| {t:.3} | {} |", cells.join(" | "));
        by_threshold.push(json!({"threshold": t,
            "kinds": Kind::ALL.iter().zip(&points)
                .map(|(k, p)| json!({"kind": k.name(), "gate": p.json()})).collect::<Vec<_>>()}));
    }
    println!("\nreport half at threshold {threshold:.3}, per language: ungated → gated");
    println!("| language | hole | n | EM ungated | ES ungated | shown | EM shown | ES shown |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut langs: Vec<&str> = report.iter().map(|g| g.lang.as_str()).collect();
    langs.sort_unstable();
    langs.dedup();
    let mut by_language = Vec::new();
    for lang in langs {
        for kind in Kind::ALL {
            let cases: Vec<&Graded> = of_kind(kind)
                .into_iter()
                .filter(|g| g.lang == lang)
                .collect();
            let (all, gated) = (
                Point::at(&cases, score, 0.0),
                Point::at(&cases, score, threshold),
            );
            let pct = |x: f64| format!("{:.0}", 100.0 * x);
            println!(
                "| {lang} | {} | {} | {} | {} | {} | {} | {} |",
                kind.name(),
                all.n,
                pct(all.precision()),
                pct(all.similarity / all.n.max(1) as f64),
                pct(gated.shown as f64 / gated.n.max(1) as f64),
                if gated.shown > 0 {
                    pct(gated.precision())
                } else {
                    "-".into()
                },
                if gated.shown > 0 {
                    pct(gated.similarity / gated.shown as f64)
                } else {
                    "-".into()
                },
            );
            by_language.push(json!({"lang": lang, "kind": kind.name(),
                                    "ungated": all.json(), "gated": gated.json()}));
        }
    }
    json!({"by_threshold": by_threshold, "by_language": by_language})
}
