//! The request path, protocol-free, shared by the language server and the CLI:
//! snapshot → span(s) to mask (grammars) → prompt → sampler (engine worker) → syntax check and
//! bounded repair (grammars) → byte-range edits.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dllm_grammars::span::{
    enclosing_block, enclosing_function, identifier_at, line_end, line_start, occurrences,
    span_at_cursor, widen_selection,
};
use dllm_grammars::{check_edits_on, find_holes, GrammarError, HoleMarkers, Language, SyntaxTree};
use dllm_models::{CancelFlag, ChatMessage, InfillOutput, InfillRequest, Segment};

use crate::config::Config;
use crate::document::Document;
use crate::engine::{Engine, EngineError};
use crate::repetition::repetition_in;

/// An immutable copy of a document taken on the LSP loop: the text is shared, the tree's nodes
/// are shared, so taking one costs next to nothing even for a large file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub text: Arc<str>,
    pub language: Option<Language>,
    pub language_id: String,
    pub version: i32,
    pub tree: Option<SyntaxTree>,
    /// Names the document for the engine's cross-request KV cache (its URI); `None`: no reuse.
    pub cache_key: Option<String>,
}

impl Snapshot {
    pub fn from_document(doc: &Document) -> Self {
        Snapshot {
            text: doc.flat.clone(),
            language: doc.language,
            language_id: doc.language_id.clone(),
            version: doc.version,
            tree: doc.tree.clone(),
            cache_key: None,
        }
    }

    /// A snapshot of text that is not an open document (the CLI's files).
    pub fn of_text(text: &str, language_id: &str, path: Option<&Path>) -> Self {
        Self::from_document(&Document::open(language_id, path, 0, text))
    }

    /// The syntax tree, parsed now if the document had none.
    fn syntax_tree(&self) -> Result<SyntaxTree, PipelineError> {
        let lang = self
            .language
            .ok_or_else(|| PipelineError::UnsupportedLanguage(self.language_id.clone()))?;
        match &self.tree {
            Some(t) => Ok(t.clone()),
            None => Ok(SyntaxTree::parse(lang, &self.text)?),
        }
    }
}

/// What the user asked for, in byte offsets of the snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Task {
    /// Complete at the cursor: the rest of the line, or an empty block.
    Inline { offset: usize },
    /// Regenerate the inside of the block around the cursor.
    CompleteBlock { offset: usize },
    /// Regenerate a selection; its length may change.
    Rewrite {
        start: usize,
        end: usize,
        instruction: Option<String>,
    },
    /// Fill every hole of the function around `offset` (of the file when `None`) in one pass.
    FillHoles { offset: Option<usize> },
    /// Rename the identifier at `offset` everywhere in its function, one name for all.
    Rename { offset: usize },
}

impl Task {
    pub fn title(&self) -> &'static str {
        match self {
            Task::Inline { .. } => "Complete here",
            Task::CompleteBlock { .. } => "Complete this block",
            Task::Rewrite { .. } => "Rewrite selection",
            Task::FillHoles { .. } => "Fill holes",
            Task::Rename { .. } => "Rename here",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    NothingToDo(String),
    #[error("language {0:?} is not supported for this action")]
    UnsupportedLanguage(String),
    #[error(transparent)]
    Grammar(#[from] GrammarError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One region to mask and its token budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub range: Range<usize>,
    pub max_tokens: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub regions: Vec<Region>,
    /// Keep only the first line of the answer (inline completion of the rest of a line).
    pub single_line: bool,
    /// All regions must receive the same text (rename).
    pub tied: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub edits: Vec<Edit>,
    pub steps: usize,
    pub model_time: Duration,
    pub total_time: Duration,
    /// Re-masking rounds spent repairing syntax errors.
    pub repairs: usize,
    pub notes: Vec<String>,
}

/// Chooses what to mask. Cheap: no model involved, so code actions can be listed with it.
pub fn plan(snapshot: &Snapshot, task: &Task, config: &Config) -> Result<Plan, PipelineError> {
    let text = &snapshot.text;
    let inline = config.max_tokens_inline;
    let block = config.max_tokens_block;
    let single = |range: Range<usize>, max_tokens: usize, single_line: bool| Plan {
        regions: vec![Region { range, max_tokens }],
        single_line,
        tied: false,
    };
    match task {
        Task::Inline { offset } => {
            if snapshot.language.is_none() {
                // Plain text still gets the rest of the line.
                let end = line_end(text, *offset);
                return Ok(single(*offset..end, inline, true));
            }
            let tree = snapshot.syntax_tree()?;
            let span = span_at_cursor(&tree, text, *offset)?;
            if span.mid_word {
                return Err(PipelineError::NothingToDo(
                    "the cursor is inside a word".into(),
                ));
            }
            Ok(if span.multiline {
                single(span.range, block, false)
            } else {
                single(span.range, inline, true)
            })
        }
        Task::CompleteBlock { offset } => {
            let tree = snapshot.syntax_tree()?;
            let range = enclosing_block(&tree, text, *offset)?.ok_or_else(|| {
                PipelineError::NothingToDo("the cursor is not inside a block".into())
            })?;
            Ok(single(range, block, false))
        }
        Task::Rewrite { start, end, .. } => {
            let range = match snapshot.language {
                Some(_) => widen_selection(&snapshot.syntax_tree()?, text, *start..*end)?,
                None => *start..*end,
            };
            if range.is_empty() {
                return Err(PipelineError::NothingToDo("the selection is empty".into()));
            }
            // Room to grow: the selection's own size (about 3 bytes a token) plus the block budget.
            let max_tokens = block.max(range.len() / 3 + block / 2);
            Ok(single(range, max_tokens, false))
        }
        Task::FillHoles { offset } => {
            let tree = snapshot.syntax_tree()?;
            let within = match offset {
                Some(o) => {
                    enclosing_function(&tree, text, *o)?
                        .ok_or_else(|| {
                            PipelineError::NothingToDo("the cursor is not inside a function".into())
                        })?
                        .body
                }
                None => 0..text.len(),
            };
            let markers = HoleMarkers::default().with_extra(&config.hole_markers);
            let holes = find_holes(&tree, text, within, &markers);
            if holes.is_empty() {
                return Err(PipelineError::NothingToDo("no holes here".into()));
            }
            let regions = holes
                .into_iter()
                .map(|h| Region {
                    range: h.range,
                    max_tokens: block,
                })
                .collect();
            Ok(Plan {
                regions,
                single_line: false,
                tied: false,
            })
        }
        Task::Rename { offset } => {
            let tree = snapshot.syntax_tree()?;
            let ident = identifier_at(&tree, text, *offset)?
                .ok_or_else(|| PipelineError::NothingToDo("no identifier at the cursor".into()))?;
            let function = enclosing_function(&tree, text, *offset)?.ok_or_else(|| {
                PipelineError::NothingToDo("the identifier is not inside a function".into())
            })?;
            let name = &text[ident];
            let regions: Vec<Region> = occurrences(&tree, text, name, function.whole)
                .into_iter()
                .map(|range| Region {
                    range,
                    max_tokens: RENAME_TOKENS,
                })
                .collect();
            Ok(Plan {
                regions,
                single_line: true,
                tied: true,
            })
        }
    }
}

/// Token budget of a new name; names end early with an end token.
const RENAME_TOKENS: usize = 6;

/// About how many bytes of text a token covers, to pre-cut huge files before tokenizing.
const BYTES_PER_TOKEN_GENEROUS: usize = 8;

/// Builds the infill request for `regions` of `text`, with at most `context_tokens` of context.
fn request_for(text: &str, regions: &[Region], context_tokens: usize, tied: bool) -> InfillRequest {
    let first = regions.first().map_or(0, |r| r.range.start);
    let last = regions.last().map_or(0, |r| r.range.end);
    // Cut at line starts so the model never sees half a line at the far ends.
    let budget = context_tokens * BYTES_PER_TOKEN_GENEROUS;
    let mut from = first.saturating_sub(budget);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    if from > 0 {
        from = (from..first)
            .find(|&i| text.is_char_boundary(i) && line_start(text, i) == i)
            .unwrap_or(from);
    }
    let mut to = (last + budget).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    if to < text.len() {
        to = text[last..to].rfind('\n').map_or(to, |i| last + i + 1);
    }
    let mut segments = Vec::with_capacity(regions.len() * 2 + 1);
    let mut cursor = from;
    for r in regions {
        segments.push(Segment::Text(text[cursor..r.range.start].to_string()));
        segments.push(Segment::Span {
            max_tokens: r.max_tokens,
        });
        cursor = r.range.end;
    }
    segments.push(Segment::Text(text[cursor..to].to_string()));
    let ties = if tied && regions.len() > 1 {
        vec![(0..regions.len()).collect()]
    } else {
        vec![]
    };
    InfillRequest {
        segments,
        max_context_tokens: Some(
            context_tokens * 2 + regions.iter().map(|r| r.max_tokens).sum::<usize>(),
        ),
        ties,
    }
}

/// Shapes one span's raw text into the replacement.
pub fn shape(raw: &str, single_line: bool) -> String {
    if single_line {
        raw.split(['\n', '\r'])
            .next()
            .unwrap_or("")
            .trim_end()
            .to_string()
    } else {
        raw.to_string()
    }
}

/// The user message for an instructed rewrite.
fn instruction_message(instruction: &str, selection: &str, snapshot: &Snapshot) -> String {
    let lang = snapshot
        .language
        .map_or(snapshot.language_id.as_str(), |l| l.name());
    format!(
        "{instruction}\n\nApply this to the following {lang} code and answer with the rewritten code only:\n```{lang}\n{selection}\n```"
    )
}

/// The code in a chat answer: inside the first fenced block if there is one.
fn code_of_answer(answer: &str) -> String {
    let Some(open) = answer.find("```") else {
        return answer.trim_matches('\n').to_string();
    };
    let body = &answer[open + 3..];
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    let body = body.split("```").next().unwrap_or("");
    body.trim_end_matches(['\n', ' ']).to_string()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Runs a task end to end. The outcome's `edits` are empty when there is nothing worth offering
/// (the model kept the text as it was, or its code does not parse even after repair); `notes`
/// say why. Timings are reported either way.
pub async fn run(
    engine: &Engine,
    snapshot: &Snapshot,
    task: &Task,
    config: &Config,
    cancel: &CancelFlag,
) -> Result<Outcome, PipelineError> {
    let started = Instant::now();
    let plan = plan(snapshot, task, config)?;
    let mut model_time = Duration::ZERO;
    let mut steps = 0;
    let mut notes = Vec::new();
    let instruction = match task {
        Task::Rewrite {
            instruction: Some(i),
            ..
        } if !i.trim().is_empty() => Some(i.trim()),
        _ => None,
    };
    // With an instruction and a checkpoint that follows instructions, the selection is
    // rewritten as a chat answer; otherwise it is infilled in place and the instruction unused.
    let chat_prompt = match (instruction, engine.chat_template()) {
        (Some(i), Some(template)) => {
            let selection = &snapshot.text[plan.regions[0].range.clone()];
            match template.render(&[ChatMessage::user(instruction_message(
                i, selection, snapshot,
            ))]) {
                Ok(prompt) => Some(prompt),
                Err(e) => {
                    notes.push(format!(
                        "the checkpoint's chat template failed ({e}); the instruction was ignored"
                    ));
                    None
                }
            }
        }
        (Some(_), None) => {
            notes.push(
                "this model does not follow instructions; the instruction was ignored".into(),
            );
            None
        }
        _ => None,
    };

    let request = match &chat_prompt {
        Some(prompt) => InfillRequest {
            segments: vec![
                Segment::Text(prompt.clone()),
                Segment::Span {
                    max_tokens: plan.regions[0].max_tokens,
                },
            ],
            max_context_tokens: Some(config.context_tokens * 2 + plan.regions[0].max_tokens),
            ties: vec![],
        },
        None => request_for(
            &snapshot.text,
            &plan.regions,
            config.context_tokens,
            plan.tied,
        ),
    };
    let out: InfillOutput = engine
        .infill_in(
            request,
            config.sampler_for(plan.single_line),
            cancel.clone(),
            snapshot.cache_key.clone(),
        )
        .await?;
    model_time += out.elapsed;
    steps += out.steps;
    tracing::debug!(
        "infill: {} steps, {} of {} canvas tokens from the last request's cache, {:?}",
        out.steps,
        out.reused_tokens,
        out.canvas_tokens,
        out.elapsed
    );
    let finish = |edits: Vec<Edit>, steps, model_time, repairs, notes| Outcome {
        edits,
        steps,
        model_time,
        total_time: started.elapsed(),
        repairs,
        notes,
    };
    let mut edits: Vec<Edit> = plan
        .regions
        .iter()
        .zip(&out.spans)
        .map(|(r, raw)| Edit {
            range: r.range.clone(),
            text: if chat_prompt.is_some() {
                code_of_answer(raw)
            } else {
                shape(raw, plan.single_line)
            },
        })
        .collect();
    if plan.tied && !edits.first().is_some_and(|e| is_identifier(&e.text)) {
        notes.push(format!(
            "rename: the model proposed {:?}, not an identifier",
            edits.first().map(|e| &e.text)
        ));
        return Ok(finish(vec![], steps, model_time, 0, notes));
    }

    if let Some(why) = repetition(&edits, &snapshot.text) {
        notes.push(format!("the model's answer repeats {why}; not offered"));
        return Ok(finish(vec![], steps, model_time, 0, notes));
    }

    let mut repairs = 0;
    if snapshot.language.is_some() {
        let tree = snapshot.syntax_tree()?;
        loop {
            let pairs: Vec<(Range<usize>, String)> = edits
                .iter()
                .map(|e| (e.range.clone(), e.text.clone()))
                .collect();
            let check = check_edits_on(&tree, &snapshot.text, &pairs)?;
            if check.ok {
                break;
            }
            if repairs >= config.repair_rounds || plan.tied {
                notes.push(format!(
                    "the model's answer adds syntax errors (after {repairs} repair rounds); not offered"
                ));
                return Ok(finish(vec![], steps, model_time, repairs, notes));
            }
            repairs += 1;
            let repaired = repair(
                engine,
                &check.new_text,
                &edits,
                &check.error_ranges,
                config,
                cancel,
            )
            .await?;
            model_time += repaired.1;
            steps += repaired.2;
            edits = repaired.0;
        }
    }
    // Repairs re-decode lines, so their answer is checked again (without repairs it was above).
    if repairs > 0 {
        if let Some(why) = repetition(&edits, &snapshot.text) {
            notes.push(format!(
                "the model's answer repeats {why} (after {repairs} repair rounds); not offered"
            ));
            return Ok(finish(vec![], steps, model_time, repairs, notes));
        }
    }
    edits.retain(|e| snapshot.text.get(e.range.clone()) != Some(e.text.as_str()));
    if edits.is_empty() {
        notes.push("the model kept the text as it was".into());
    }
    Ok(finish(edits, steps, model_time, repairs, notes))
}

/// The first degenerate repetition in the edits' text (`repetition::repetition_in`): such an
/// answer may parse, but it is never what the user wanted. An edit whose original text repeats
/// itself too (a selection rewritten as it was) is left alone.
fn repetition(edits: &[Edit], text: &str) -> Option<String> {
    edits
        .iter()
        .filter(|e| {
            text.get(e.range.clone())
                .is_none_or(|old| repetition_in(old).is_none())
        })
        .find_map(|e| repetition_in(&e.text))
}

/// One repair round: inside each edit, mask again the lines that hold new syntax errors (the
/// whole edit when the error surfaced elsewhere) and denoise them with the rest as context.
async fn repair(
    engine: &Engine,
    candidate: &str,
    edits: &[Edit],
    errors: &[Range<usize>],
    config: &Config,
    cancel: &CancelFlag,
) -> Result<(Vec<Edit>, Duration, usize), PipelineError> {
    // Where each edit's text sits in the candidate.
    let mut placed = Vec::with_capacity(edits.len());
    let mut shift: isize = 0;
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| e.range.start);
    for e in &sorted {
        let start = (e.range.start as isize + shift) as usize;
        placed.push(start..start + e.text.len());
        shift += e.text.len() as isize - e.range.len() as isize;
    }
    let mut regions = Vec::new();
    for p in &placed {
        let inside: Vec<&Range<usize>> = errors
            .iter()
            .filter(|r| r.start < p.end && r.end > p.start)
            .collect();
        let range = match (
            inside.iter().map(|r| r.start).min(),
            inside.iter().map(|r| r.end).max(),
        ) {
            (Some(s), Some(e)) => {
                line_start(candidate, s.max(p.start)).max(p.start)
                    ..line_end(candidate, e.min(p.end)).min(p.end)
            }
            _ => p.clone(),
        };
        regions.push(Region {
            range,
            max_tokens: config.max_tokens_block,
        });
    }
    let request = request_for(candidate, &regions, config.context_tokens, false);
    let out = engine
        .infill(request, config.sampler.clone(), cancel.clone())
        .await?;
    // Rebuild each original edit's text from the candidate with its repaired region swapped in.
    let fixed = sorted
        .iter()
        .zip(&placed)
        .zip(regions.iter().zip(&out.spans))
        .map(|((e, p), (r, new))| {
            let text = format!(
                "{}{}{}",
                &candidate[p.start..r.range.start],
                new,
                &candidate[r.range.end..p.end]
            );
            Edit {
                range: e.range.clone(),
                text,
            }
        })
        .collect();
    Ok((fixed, out.elapsed, out.steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(lang: &str, text: &str) -> Snapshot {
        Snapshot::of_text(text, lang, None)
    }

    #[test]
    fn plans_per_task() {
        let c = Config::default();
        let text = "fn add(a: i32, b: i32) -> i32 {\n    \n}\n\nfn g() -> i32 {\n    let x = todo!();\n    x\n}\n";
        let s = snap("rust", text);
        let inside = text.find("{\n").unwrap() + 1;
        let p = plan(&s, &Task::Inline { offset: inside + 5 }, &c).unwrap();
        assert!(!p.single_line);
        assert_eq!(p.regions[0].range, inside..inside + 6);
        let hole = text.find("todo!()").unwrap();
        let p = plan(&s, &Task::FillHoles { offset: Some(hole) }, &c).unwrap();
        assert_eq!(p.regions.len(), 1);
        assert_eq!(&text[p.regions[0].range.clone()], "todo!()");
        assert!(matches!(
            plan(
                &s,
                &Task::FillHoles {
                    offset: Some(inside + 2)
                },
                &c
            ),
            Err(PipelineError::NothingToDo(_))
        ));
        let x = text.find("x = ").unwrap();
        let p = plan(&s, &Task::Rename { offset: x }, &c).unwrap();
        assert!(p.tied);
        assert_eq!(p.regions.len(), 2);
        // The end cut through `todo` and is widened to the token's end.
        let p = plan(
            &s,
            &Task::Rewrite {
                start: x,
                end: x + 5,
                instruction: None,
            },
            &c,
        )
        .unwrap();
        assert_eq!(&text[p.regions[0].range.clone()], "x = todo");
        assert!(matches!(
            plan(
                &snap("plaintext", "abc"),
                &Task::FillHoles { offset: None },
                &c
            ),
            Err(PipelineError::UnsupportedLanguage(_))
        ));
    }

    #[test]
    fn requests_keep_context_on_both_sides_and_tie_renames() {
        let text = "a\nb\nc\nd\n";
        let regions = [
            Region {
                range: 2..3,
                max_tokens: 4,
            },
            Region {
                range: 6..7,
                max_tokens: 4,
            },
        ];
        let r = request_for(text, &regions, 100, true);
        assert_eq!(
            r.segments,
            vec![
                Segment::Text("a\n".into()),
                Segment::Span { max_tokens: 4 },
                Segment::Text("\nc\n".into()),
                Segment::Span { max_tokens: 4 },
                Segment::Text("\n".into()),
            ]
        );
        assert_eq!(r.ties, vec![vec![0, 1]]);
        // Far context is cut at a line start.
        let long = format!("{}x = 1\n", "line of text\n".repeat(100));
        let hole = long.len() - 2;
        let r = request_for(
            &long,
            &[Region {
                range: hole..hole + 1,
                max_tokens: 2,
            }],
            10,
            false,
        );
        match &r.segments[0] {
            Segment::Text(t) => assert!(t.starts_with("line") && t.len() <= 80 + 13),
            other => panic!("{other:?}"),
        }
        // ...and so is the far end of the suffix, at a line end.
        let text = format!("x = 1\n{}", "line of text\n".repeat(100));
        let r = request_for(
            &text,
            &[Region {
                range: 0..1,
                max_tokens: 2,
            }],
            10,
            false,
        );
        match r.segments.last() {
            Some(Segment::Text(t)) => assert!(t.ends_with("text\n") && t.len() <= 80, "{t:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_line_answers_keep_the_first_line() {
        assert_eq!(shape("a + b  \nmore", true), "a + b");
        assert_eq!(shape("x\r\ny", true), "x");
        assert_eq!(shape("x\ny", false), "x\ny");
        assert!(is_identifier("größe_2"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier(""));
        assert_eq!(
            code_of_answer("Sure:\n```rust\nlet x = 1;\n```\nDone."),
            "let x = 1;"
        );
        assert_eq!(code_of_answer("\nlet x = 1;\n"), "let x = 1;");
    }

    #[test]
    fn repeating_answers_are_caught_unless_the_text_they_replace_repeats_too() {
        let looping = "width: x,\n    width: x,\n    width: x,\n    width: x,";
        let text = format!("f(\n    {looping}\n)\nf(\n    a\n)\n");
        let edit = |range: Range<usize>| Edit {
            range,
            text: looping.to_string(),
        };
        let a = text.rfind('a').unwrap();
        // A hole filled with a loop is caught ...
        assert!(repetition(&[edit(a..a + 1)], &text).is_some());
        // ... but not a rewrite of text that was already like that.
        let old = text.find("width: x").unwrap();
        assert_eq!(repetition(&[edit(old..old + looping.len())], &text), None);
        assert_eq!(repetition(&[], &text), None);
    }
}
