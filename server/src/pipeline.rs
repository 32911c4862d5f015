//! The request path, protocol-free, shared by the language server and the CLI:
//! snapshot → span(s) to mask (grammars) → prompt → infiller (the local model's worker or a
//! remote engine) → syntax check and bounded repair (grammars) → byte-range edits.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dllm_grammars::span::{enclosing_function, identifier_at, line_end, line_start, occurrences};
use dllm_grammars::{
    check_edits_on, find_holes, select_span, GrammarError, HoleMarkers, Language, Span,
    SpanRequest, SyntaxTree,
};
use dllm_models::sampler::Scores;
use dllm_models::{CancelFlag, InfillOutput, InfillRequest, Segment};

use ropey::Rope;

use crate::config::{Config, Reach};
use crate::document::{outside_line_breaks, Document, LineEnding, LARGE_DOCUMENT_BYTES};
use crate::engine::EngineError;
use crate::gate;
use crate::infiller::{Ask, Infiller, Repair, Stop};
use crate::repetition::repetition_in;

/// An immutable copy of a document taken on the LSP loop: the text is shared, the tree's nodes
/// are shared, so taking one costs next to nothing even for a large file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The document's text from byte `base` on: all of it, except for a large document, whose
    /// snapshot reads only the window around a task ([`Snapshot::view`]) from its rope.
    pub text: Arc<str>,
    /// Where `text` starts in the document.
    pub base: usize,
    pub language: Option<Language>,
    pub language_id: String,
    pub version: i32,
    pub tree: Option<SyntaxTree>,
    /// The document's line ending, which generated text is written with.
    pub line_ending: LineEnding,
    /// Names the document for the engine's cross-request KV cache (its URI); `None`: no reuse.
    pub cache_key: Option<String>,
    /// The whole document when `text` is not (yet) all of it.
    rope: Option<Rope>,
}

impl Snapshot {
    pub fn from_document(doc: &Document) -> Self {
        let (text, rope) = match &doc.flat {
            Some(flat) => (flat.clone(), None),
            None => (Arc::from(""), Some(doc.text.clone())),
        };
        Snapshot {
            text,
            base: 0,
            language: doc.language,
            language_id: doc.language_id.clone(),
            version: doc.version,
            tree: doc.tree.clone(),
            line_ending: doc.line_ending(),
            cache_key: None,
            rope,
        }
    }

    /// A snapshot of text that is not an open document (the CLI's files): always the whole text.
    pub fn of_text(text: &str, language_id: &str, path: Option<&Path>) -> Self {
        let mut snapshot = Self::from_document(&Document::open(language_id, path, 0, text));
        if snapshot.rope.take().is_some() {
            snapshot.text = Arc::from(text);
        }
        snapshot
    }

    /// The document's length in bytes.
    fn len(&self) -> usize {
        match &self.rope {
            Some(rope) => rope.len_bytes(),
            None => self.base + self.text.len(),
        }
    }

    /// Whether `text` is the whole document (a large document's snapshot reads a window of
    /// its rope per task instead).
    pub fn is_whole(&self) -> bool {
        self.rope.is_none()
    }

    /// The syntax tree, parsed now if the document had none.
    pub(crate) fn syntax_tree(&self) -> Result<SyntaxTree, PipelineError> {
        let lang = self
            .language
            .ok_or_else(|| PipelineError::UnsupportedLanguage(self.language_id.clone()))?;
        match &self.tree {
            Some(t) => Ok(t.clone()),
            None if self.text.len() > LARGE_DOCUMENT_BYTES => Err(PipelineError::TooLarge {
                what: "the text to parse".into(),
                size: self.text.len(),
                limit: LARGE_DOCUMENT_BYTES,
            }),
            None => Ok(SyntaxTree::parse(lang, &self.text)?),
        }
    }

    /// What `task` reads: the snapshot itself, or for a large document the lines around the
    /// task's place, read from the rope and parsed on their own. Offsets in the view are
    /// document offsets less its `base`.
    fn view(&self, task: &Task, config: &Config) -> Result<Snapshot, PipelineError> {
        let len = self.len();
        if len <= LARGE_DOCUMENT_BYTES && self.rope.is_none() {
            return Ok(self.clone());
        }
        let focus = task.focus().ok_or_else(|| PipelineError::TooLarge {
            what: "a document without a position to work at".into(),
            size: len,
            limit: LARGE_DOCUMENT_BYTES,
        })?;
        if focus.len() > LARGE_DOCUMENT_BYTES {
            return Err(PipelineError::TooLarge {
                what: "the selection".into(),
                size: focus.len(),
                limit: LARGE_DOCUMENT_BYTES,
            });
        }
        let whole = match &self.rope {
            Some(rope) => Whole::Rope(rope),
            None => Whole::Text(&self.text),
        };
        let margin = WINDOW_MARGIN_BYTES.max(config.context_tokens * BYTES_PER_TOKEN_GENEROUS);
        let window = whole.window(focus, margin);
        let text: Arc<str> = Arc::from(whole.read(window.clone()));
        let tree = self.language.and_then(|l| SyntaxTree::parse(l, &text).ok());
        Ok(Snapshot {
            text,
            base: window.start,
            language: self.language,
            language_id: self.language_id.clone(),
            version: self.version,
            tree,
            line_ending: self.line_ending,
            cache_key: self.cache_key.clone(),
            rope: None,
        })
    }
}

/// The code a large document's request sees on each side of its place: more than the model's
/// context reads (8 KiB at the default 1,024 tokens) and room for the function around it, yet
/// quick to parse on every request (a few milliseconds).
const WINDOW_MARGIN_BYTES: usize = 32 << 10;

/// A whole document's text, in a rope (an open document) or a string (a CLI file).
enum Whole<'a> {
    Rope(&'a Rope),
    Text(&'a str),
}

impl Whole<'_> {
    fn len(&self) -> usize {
        match self {
            Whole::Rope(r) => r.len_bytes(),
            Whole::Text(t) => t.len(),
        }
    }

    /// The start of the character holding `byte`.
    fn floor_char(&self, byte: usize) -> usize {
        match self {
            Whole::Rope(r) => r.char_to_byte(r.byte_to_char(byte)),
            Whole::Text(t) => (0..=byte)
                .rev()
                .find(|&i| t.is_char_boundary(i))
                .unwrap_or(0),
        }
    }

    /// The start of the line holding `byte`.
    fn line_start(&self, byte: usize) -> usize {
        match self {
            Whole::Rope(r) => r.line_to_byte(r.byte_to_line(byte)),
            Whole::Text(t) => line_start(t, byte),
        }
    }

    fn byte(&self, i: usize) -> Option<u8> {
        match self {
            Whole::Rope(r) => (i < r.len_bytes()).then(|| r.byte(i)),
            Whole::Text(t) => t.as_bytes().get(i).copied(),
        }
    }

    /// The start of the line after the one holding `byte` (the end when it is the last).
    fn next_line_start(&self, byte: usize) -> usize {
        match self {
            Whole::Rope(r) => r.line_to_byte((r.byte_to_line(byte) + 1).min(r.len_lines())),
            Whole::Text(t) => {
                let end = line_end(t, byte);
                end + usize::from(end < t.len()) + usize::from(t[end..].starts_with("\r\n"))
            }
        }
    }

    /// `byte`, or the byte before it when it falls between a `\r` and its `\n`.
    fn outside_crlf(&self, byte: usize) -> usize {
        let inside =
            byte > 0 && self.byte(byte - 1) == Some(b'\r') && self.byte(byte) == Some(b'\n');
        byte - usize::from(inside)
    }

    /// `focus` widened by `margin` on each side to whole lines. A line too long for that is
    /// left out where it lies outside the focus and cut inside (never inside a character or a
    /// `\r\n`) where the focus is on it.
    fn window(&self, focus: Range<usize>, margin: usize) -> Range<usize> {
        let start = self.floor_char(focus.start.saturating_sub(margin));
        let line = self.line_start(start);
        let start = if start - line <= margin {
            line
        } else if self.next_line_start(start) <= focus.start {
            self.next_line_start(start)
        } else {
            self.outside_crlf(start)
        };
        let end = focus.end.saturating_add(margin);
        if end >= self.len() {
            return start..self.len();
        }
        let end = self.floor_char(end);
        let line = self.line_start(end);
        start..if line >= focus.end {
            line
        } else {
            self.outside_crlf(end)
        }
    }

    fn read(&self, range: Range<usize>) -> String {
        match self {
            Whole::Rope(r) => r.byte_slice(range).to_string(),
            Whole::Text(t) => t[range].to_string(),
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

    /// The bytes the task is about; `None` for the whole file.
    fn focus(&self) -> Option<Range<usize>> {
        match *self {
            Task::Inline { offset }
            | Task::CompleteBlock { offset }
            | Task::Rename { offset }
            | Task::FillHoles {
                offset: Some(offset),
            } => Some(offset..offset),
            Task::Rewrite { start, end, .. } => Some(start..end),
            Task::FillHoles { offset: None } => None,
        }
    }

    /// The task in the offsets of a view that starts at document byte `base` (within its focus).
    fn relative_to(&self, base: usize) -> Task {
        let mut task = self.clone();
        match &mut task {
            Task::Inline { offset }
            | Task::CompleteBlock { offset }
            | Task::Rename { offset }
            | Task::FillHoles {
                offset: Some(offset),
            } => *offset -= base,
            Task::Rewrite { start, end, .. } => {
                *start -= base;
                *end -= base;
            }
            Task::FillHoles { offset: None } => {}
        }
        task
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
    /// A size limit of the server's own (the model's context limit is the engine's).
    #[error("{what} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
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
    /// How far the answer reaches: only its first line is kept for `Line` (inline completion
    /// of the rest of a line).
    pub reach: Reach,
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
    /// The model's confidence in the answer ([`gate::SCORE`] of its spans, the lowest over
    /// every model call it took, repairs included); `None` when the infiller reports none.
    pub confidence: Option<f32>,
}

/// Chooses what to mask, in document offsets. Cheap: no model involved, so code actions can be
/// listed with it.
pub fn plan(snapshot: &Snapshot, task: &Task, config: &Config) -> Result<Plan, PipelineError> {
    let view = snapshot.view(task, config)?;
    let mut plan = Planner::new(&view, config).plan(&task.relative_to(view.base))?;
    for r in &mut plan.regions {
        r.range = r.range.start + view.base..r.range.end + view.base;
    }
    Ok(plan)
}

impl Plan {
    /// One region whose answer keeps only its first line.
    fn one_line(range: Range<usize>, max_tokens: usize) -> Plan {
        Plan {
            regions: vec![Region { range, max_tokens }],
            reach: Reach::Line,
            tied: false,
        }
    }

    /// One region whose answer may span lines.
    fn multiline(range: Range<usize>, max_tokens: usize) -> Plan {
        Plan {
            regions: vec![Region { range, max_tokens }],
            reach: Reach::Lines,
            tied: false,
        }
    }
}

/// Plans a task on one view, in its offsets: which spans grammars choose for each kind of task,
/// and the token budget of each.
struct Planner<'a> {
    snapshot: &'a Snapshot,
    text: &'a str,
    config: &'a Config,
}

impl<'a> Planner<'a> {
    fn new(snapshot: &'a Snapshot, config: &'a Config) -> Self {
        Planner {
            snapshot,
            text: &snapshot.text,
            config,
        }
    }

    fn plan(&self, task: &Task) -> Result<Plan, PipelineError> {
        match task {
            Task::Inline { offset } => self.inline(*offset),
            Task::CompleteBlock { offset } => self.block(*offset),
            Task::Rewrite { start, end, .. } => self.rewrite(*start..*end),
            Task::FillHoles { offset } => self.holes(*offset),
            Task::Rename { offset } => self.rename(*offset),
        }
    }

    /// grammars' span for a request of an enclosing node; where there is none, there is nothing
    /// to do, and `missing` says why.
    fn enclosing(
        &self,
        tree: &SyntaxTree,
        request: SpanRequest,
        missing: &str,
    ) -> Result<Span, PipelineError> {
        select_span(tree, self.text, &request).map_err(|e| match e {
            GrammarError::NoEnclosing { .. } => PipelineError::NothingToDo(missing.into()),
            e => e.into(),
        })
    }

    /// The rest of the line at the cursor, or the empty block around it.
    fn inline(&self, offset: usize) -> Result<Plan, PipelineError> {
        let inline = self.config.max_tokens_inline;
        if self.snapshot.language.is_none() {
            // Plain text still gets the rest of the line.
            return Ok(Plan::one_line(offset..line_end(self.text, offset), inline));
        }
        let tree = self.snapshot.syntax_tree()?;
        let span = select_span(&tree, self.text, &SpanRequest::Cursor { offset })?;
        if span.mid_word {
            return Err(PipelineError::NothingToDo(
                "the cursor is inside a word".into(),
            ));
        }
        Ok(if span.multiline {
            Plan::multiline(span.range, self.config.max_tokens_block)
        } else {
            Plan::one_line(span.range, inline)
        })
    }

    fn block(&self, offset: usize) -> Result<Plan, PipelineError> {
        let tree = self.snapshot.syntax_tree()?;
        let request = SpanRequest::EnclosingBlock { offset };
        let span = self.enclosing(&tree, request, "the cursor is not inside a block")?;
        Ok(Plan::multiline(span.range, self.config.max_tokens_block))
    }

    /// The selection widened to whole tokens (as it is in plain text).
    fn rewrite(&self, selection: Range<usize>) -> Result<Plan, PipelineError> {
        let range = match self.snapshot.language {
            Some(_) => {
                let request = SpanRequest::Selection {
                    start: selection.start,
                    end: selection.end,
                };
                select_span(&self.snapshot.syntax_tree()?, self.text, &request)?.range
            }
            None => selection,
        };
        if range.is_empty() {
            return Err(PipelineError::NothingToDo("the selection is empty".into()));
        }
        // Room to grow: the selection's own size (about 3 bytes a token) plus the block budget.
        let block = self.config.max_tokens_block;
        let max_tokens = block.max(range.len() / 3 + block / 2);
        Ok(Plan::multiline(range, max_tokens))
    }

    /// Every hole in the function around `offset`, or in the file.
    fn holes(&self, offset: Option<usize>) -> Result<Plan, PipelineError> {
        let tree = self.snapshot.syntax_tree()?;
        let within = match offset {
            Some(offset) => {
                let request = SpanRequest::EnclosingFunctionBody { offset };
                self.enclosing(&tree, request, "the cursor is not inside a function")?
                    .range
            }
            None => 0..self.text.len(),
        };
        let markers = HoleMarkers::default().with_extra(&self.config.hole_markers);
        let holes = find_holes(&tree, self.text, within, &markers);
        if holes.is_empty() {
            return Err(PipelineError::NothingToDo("no holes here".into()));
        }
        let max_tokens = self.config.max_tokens_block;
        let regions = holes
            .into_iter()
            .map(|h| Region {
                range: h.range,
                max_tokens,
            })
            .collect();
        Ok(Plan {
            regions,
            reach: Reach::Lines,
            tied: false,
        })
    }

    /// Every occurrence of the identifier at `offset` in its function, tied to one name.
    fn rename(&self, offset: usize) -> Result<Plan, PipelineError> {
        let tree = self.snapshot.syntax_tree()?;
        let ident = identifier_at(&tree, self.text, offset)?
            .ok_or_else(|| PipelineError::NothingToDo("no identifier at the cursor".into()))?;
        // The whole function, signature included, where grammars' span would be its body.
        let function = enclosing_function(&tree, self.text, offset)?.ok_or_else(|| {
            PipelineError::NothingToDo("the identifier is not inside a function".into())
        })?;
        let regions = occurrences(&tree, self.text, &self.text[ident], function.whole)
            .into_iter()
            .map(|range| Region {
                range,
                max_tokens: RENAME_TOKENS,
            })
            .collect();
        Ok(Plan {
            regions,
            reach: Reach::Line,
            tied: true,
        })
    }
}

/// Token budget of a new name; names end early with an end token.
const RENAME_TOKENS: usize = 6;

/// About how many bytes of text a token covers, to pre-cut huge files before tokenizing.
const BYTES_PER_TOKEN_GENEROUS: usize = 8;

/// Builds the infill request for `regions` of `text`, with at most `context_tokens` of context.
pub(crate) fn request_for(text: &str, regions: &[Region], context_tokens: usize) -> InfillRequest {
    let first = regions.first().map_or(0, |r| r.range.start);
    let last = regions.last().map_or(0, |r| r.range.end);
    // Cut at line starts so the model never sees half a line at the far ends.
    let budget = context_tokens * BYTES_PER_TOKEN_GENEROUS;
    let mut from = first.saturating_sub(budget);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    from = first_line_start(text, from..first).unwrap_or(from);
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
    InfillRequest {
        segments,
        max_context_tokens: Some(
            context_tokens * 2 + regions.iter().map(|r| r.max_tokens).sum::<usize>(),
        ),
        ties: vec![],
    }
}

/// The request with all its spans tied to one text (a rename: one name everywhere).
pub(crate) fn tie_all(mut request: InfillRequest) -> InfillRequest {
    let spans = request
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Span { .. }))
        .count();
    if spans > 1 {
        request.ties = vec![(0..spans).collect()];
    }
    request
}

/// The first line start in `range` (0 counts; a line starts after every `\n` and `\r`).
fn first_line_start(text: &str, range: Range<usize>) -> Option<usize> {
    if range.is_empty() {
        return None;
    }
    if range.start == 0 || matches!(text.as_bytes()[range.start - 1], b'\n' | b'\r') {
        return Some(range.start);
    }
    let after = range.start + text[range.clone()].find(['\n', '\r'])? + 1;
    (after < range.end).then_some(after)
}

/// The answer of a single-line span: its first line, without trailing blanks.
pub fn first_line(raw: &str) -> String {
    raw.split(['\n', '\r'])
        .next()
        .unwrap_or("")
        .trim_end()
        .to_string()
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
pub(crate) fn code_of_answer(answer: &str) -> String {
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
/// say why. Timings are reported either way. Edits are in document offsets, never split a
/// `\r\n` and write line breaks the document's way.
pub async fn run(
    infiller: &Infiller,
    snapshot: &Snapshot,
    task: &Task,
    config: &Config,
    cancel: &CancelFlag,
) -> Result<Outcome, PipelineError> {
    let view = snapshot.view(task, config)?;
    let run = Run {
        infiller,
        snapshot: &view,
        config,
        cancel,
        progress: Progress::new(),
        again: None,
    };
    let mut outcome = run.task(&task.relative_to(view.base)).await?;
    for e in &mut outcome.edits {
        e.range = e.range.start + view.base..e.range.end + view.base;
    }
    Ok(outcome)
}

/// Model time, steps and repair rounds spent so far, and what to tell the user.
struct Progress {
    started: Instant,
    model_time: Duration,
    steps: usize,
    repairs: usize,
    notes: Vec<String>,
    /// The answer's confidence scores so far; `None` until a model call reports some.
    scores: Option<Scores>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            started: Instant::now(),
            model_time: Duration::ZERO,
            steps: 0,
            repairs: 0,
            notes: Vec::new(),
            scores: None,
        }
    }

    fn finish(self, edits: Vec<Edit>) -> Outcome {
        Outcome {
            edits,
            steps: self.steps,
            model_time: self.model_time,
            total_time: self.started.elapsed(),
            repairs: self.repairs,
            notes: self.notes,
            confidence: self.scores.map(|s| gate::SCORE.of(&s)),
        }
    }

    fn add(&mut self, out: &InfillOutput) {
        self.model_time += out.elapsed;
        self.steps += out.steps;
    }

    /// Takes the confidence of `out`'s spans into the answer's: the lowest wins, so one
    /// doubtful span (or repair) makes the answer doubtful.
    fn score(&mut self, out: &InfillOutput, kept: Kept) {
        for span in &out.confidence {
            let scores = match kept {
                Kept::FirstLine => span.first_line().scores(),
                Kept::Whole => span.scores(),
            };
            self.scores = Some(self.scores.unwrap_or(Scores::CERTAIN).and(scores));
        }
    }
}

/// What is kept of a span's answer, and so scored: the first line (a single-line answer) or
/// all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    FirstLine,
    Whole,
}

impl Kept {
    /// A span asked to stop at the line's end keeps its first line.
    fn of(stop: Stop) -> Kept {
        match stop {
            Stop::Line => Kept::FirstLine,
            Stop::Block | Stop::Tight => Kept::Whole,
        }
    }
}

/// One task's run on a view, in its offsets: what every model call of the task shares (the
/// infiller, the snapshot, the settings, the cancel flag) and its progress so far.
struct Run<'a> {
    infiller: &'a Infiller,
    snapshot: &'a Snapshot,
    config: &'a Config,
    cancel: &'a CancelFlag,
    progress: Progress,
    /// The in-place ask with a tighter stop, for an infiller that repairs by asking again.
    again: Option<(Ask, fn(&str) -> String)>,
}

impl Run<'_> {
    /// Plans the task, asks the model, and keeps what is worth offering of its answer.
    async fn task(mut self, task: &Task) -> Result<Outcome, PipelineError> {
        let plan = Planner::new(self.snapshot, self.config).plan(task)?;
        if plan.tied && !self.infiller.ties_spans() {
            return Err(PipelineError::NothingToDo(
                "renaming needs the local model (one name predicted for every place)".into(),
            ));
        }
        let edits = match self.instructed(task, &plan).await? {
            Some(edits) => edits,
            None => {
                let answer: fn(&str) -> String = match plan.reach {
                    Reach::Line => first_line,
                    Reach::Lines => str::to_owned,
                };
                let ask = self.in_place(&plan, Stop::Block);
                if plan.reach == Reach::Lines && self.infiller.repair() == Repair::AskAgainTighter {
                    self.again = Some((self.in_place(&plan, Stop::Tight), answer));
                }
                let spans = self.infill(ask).await?;
                edits_of(&plan, &spans, answer)
            }
        };
        let edits = self.vet(&plan, edits).await?;
        Ok(self.progress.finish(edits))
    }

    /// The ask that infills the plan's regions where they are, between their context.
    fn in_place(&self, plan: &Plan, block_stop: Stop) -> Ask {
        let text = &self.snapshot.text;
        let request = request_for(text, &plan.regions, self.config.context_tokens);
        Ask {
            request: if plan.tied { tie_all(request) } else { request },
            replaced: plan
                .regions
                .iter()
                .map(|r| text[r.range.clone()].to_string())
                .collect(),
            sampler: self.config.sampler_for(plan.reach),
            stop: match plan.reach {
                Reach::Line => Stop::Line,
                Reach::Lines => block_stop,
            },
        }
    }

    /// The raw text for each span of `ask`, with the document's KV cache.
    async fn infill(&mut self, ask: Ask) -> Result<Vec<String>, PipelineError> {
        let kept = Kept::of(ask.stop);
        let out = self
            .infiller
            .infill(ask, self.cancel, self.snapshot.cache_key.clone())
            .await?;
        self.progress.add(&out);
        self.progress.score(&out, kept);
        tracing::debug!(
            "infill: {} steps, {} of {} canvas tokens from the last request's cache, {:?}",
            out.steps,
            out.reused_tokens,
            out.canvas_tokens,
            out.elapsed
        );
        Ok(out.spans)
    }

    fn note(&mut self, note: String) {
        self.progress.notes.push(note);
    }

    /// The edit of an instructed rewrite, from an infiller that follows instructions; `None`
    /// for any other task, and (with a note saying the instruction went unused) where the
    /// infiller cannot follow one: the selection is then infilled in place.
    async fn instructed(
        &mut self,
        task: &Task,
        plan: &Plan,
    ) -> Result<Option<Vec<Edit>>, PipelineError> {
        let instruction = match task {
            Task::Rewrite {
                instruction: Some(i),
                ..
            } if !i.trim().is_empty() => i.trim(),
            _ => return Ok(None),
        };
        let region = &plan.regions[0];
        let selection = &self.snapshot.text[region.range.clone()];
        let message = instruction_message(instruction, selection, self.snapshot);
        let answer = self.infiller.instruct(
            &message,
            region.max_tokens,
            self.config.context_tokens,
            self.config.sampler_for(plan.reach),
            self.cancel,
            self.snapshot.cache_key.clone(),
        );
        match answer.await {
            Ok(out) => {
                self.progress.add(&out);
                self.progress.score(&out, Kept::Whole);
                let raw = out.spans.first().map_or("", String::as_str);
                Ok(Some(vec![Edit {
                    range: region.range.clone(),
                    text: code_of_answer(raw),
                }]))
            }
            Err(EngineError::NoInstructions(why)) => {
                self.note(why);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What is worth offering of the model's edits: a valid name for a rename, no degenerate
    /// repetition, no new syntax errors (after bounded repair), and not the text as it was.
    async fn vet(&mut self, plan: &Plan, edits: Vec<Edit>) -> Result<Vec<Edit>, PipelineError> {
        if plan.tied && !edits.first().is_some_and(|e| is_identifier(&e.text)) {
            self.note(format!(
                "rename: the model proposed {:?}, not an identifier",
                edits.first().map(|e| &e.text)
            ));
            return Ok(vec![]);
        }
        if let Some(why) = repetition(&edits, &self.snapshot.text) {
            self.note(format!("the model's answer repeats {why}; not offered"));
            return Ok(vec![]);
        }
        let Some(edits) = self.repaired(plan, edits).await? else {
            return Ok(vec![]);
        };
        // Repairs re-decode lines, so their answer is checked again (without repairs it was above).
        if self.progress.repairs > 0 {
            if let Some(why) = repetition(&edits, &self.snapshot.text) {
                self.note(format!(
                    "the model's answer repeats {why} (after {} repair rounds); not offered",
                    self.progress.repairs
                ));
                return Ok(vec![]);
            }
        }
        let mut edits: Vec<Edit> = edits
            .into_iter()
            .map(|e| fit_line_breaks(&self.snapshot.text, e, self.snapshot.line_ending))
            .collect();
        edits.retain(|e| self.snapshot.text.get(e.range.clone()) != Some(e.text.as_str()));
        if edits.is_empty() {
            self.note("the model kept the text as it was".into());
        }
        Ok(edits)
    }

    /// The edits once they add no syntax errors, after at most `repair_rounds` rounds of
    /// repair; `None` (and a note) when they still add some. A rename's names are not repaired.
    async fn repaired(
        &mut self,
        plan: &Plan,
        mut edits: Vec<Edit>,
    ) -> Result<Option<Vec<Edit>>, PipelineError> {
        if self.snapshot.language.is_none() {
            return Ok(Some(edits));
        }
        let tree = self.snapshot.syntax_tree()?;
        loop {
            let pairs: Vec<(Range<usize>, String)> = edits
                .iter()
                .map(|e| (e.range.clone(), e.text.clone()))
                .collect();
            let check = check_edits_on(&tree, &self.snapshot.text, &pairs)?;
            if check.ok {
                return Ok(Some(edits));
            }
            let repairs = self.progress.repairs;
            let again = match self.infiller.repair() {
                Repair::Remask => None,
                Repair::AskAgainTighter => self.again.take(),
            };
            let exhausted = match self.infiller.repair() {
                Repair::Remask => repairs >= self.config.repair_rounds || plan.tied,
                Repair::AskAgainTighter => again.is_none() || self.config.repair_rounds == 0,
            };
            if exhausted {
                self.note(format!(
                    "the model's answer adds syntax errors (after {repairs} repair rounds); not offered"
                ));
                return Ok(None);
            }
            self.progress.repairs += 1;
            edits = match again {
                Some((ask, answer)) => edits_of(plan, &self.infill(ask).await?, answer),
                None => {
                    self.repair(&check.new_text, &edits, &check.error_ranges)
                        .await?
                }
            };
        }
    }

    /// One repair round: inside each edit, mask again the lines that hold new syntax errors (the
    /// whole edit when the error surfaced elsewhere) and denoise them with the rest as context.
    async fn repair(
        &mut self,
        candidate: &str,
        edits: &[Edit],
        errors: &[Range<usize>],
    ) -> Result<Vec<Edit>, PipelineError> {
        let mut sorted: Vec<&Edit> = edits.iter().collect();
        sorted.sort_by_key(|e| e.range.start);
        let placed = placed_in_candidate(&sorted);
        let regions: Vec<Region> = placed
            .iter()
            .map(|p| Region {
                range: to_mask_again(candidate, p, errors),
                max_tokens: self.config.max_tokens_block,
            })
            .collect();
        let ask = Ask {
            request: request_for(candidate, &regions, self.config.context_tokens),
            replaced: regions
                .iter()
                .map(|r| candidate[r.range.clone()].to_string())
                .collect(),
            sampler: self.config.sampler.clone(),
            stop: Stop::Block,
        };
        let out = self.infiller.infill(ask, self.cancel, None).await?;
        self.progress.add(&out);
        self.progress.score(&out, Kept::Whole);
        // Rebuild each original edit's text from the candidate with its repaired region swapped in.
        let fixed = sorted
            .iter()
            .zip(&placed)
            .zip(regions.iter().zip(&out.spans))
            .map(|((e, p), (r, new))| Edit {
                range: e.range.clone(),
                text: format!(
                    "{}{}{}",
                    &candidate[p.start..r.range.start],
                    new,
                    &candidate[r.range.end..p.end]
                ),
            })
            .collect();
        Ok(fixed)
    }
}

/// One edit per region, its text the answer of that region's span.
fn edits_of(plan: &Plan, spans: &[String], answer: fn(&str) -> String) -> Vec<Edit> {
    plan.regions
        .iter()
        .zip(spans)
        .map(|(r, raw)| Edit {
            range: r.range.clone(),
            text: answer(raw),
        })
        .collect()
}

/// The edit as it leaves: its range never splits a `\r\n` (tree-sitter's tokens may end between
/// the two) and its text writes line breaks the document's way.
fn fit_line_breaks(text: &str, edit: Edit, ending: LineEnding) -> Edit {
    Edit {
        range: outside_line_breaks(text, edit.range),
        text: ending.convert(&edit.text).into_owned(),
    }
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

/// Where each edit's text sits in the candidate that applies them all (`sorted` by start).
fn placed_in_candidate(sorted: &[&Edit]) -> Vec<Range<usize>> {
    let mut shift: isize = 0;
    sorted
        .iter()
        .map(|e| {
            let start = (e.range.start as isize + shift) as usize;
            shift += e.text.len() as isize - e.range.len() as isize;
            start..start + e.text.len()
        })
        .collect()
}

/// What a repair masks again of the edit text `placed` in the candidate: the lines from the
/// first to the last error inside it, or all of it when none lies inside.
fn to_mask_again(candidate: &str, placed: &Range<usize>, errors: &[Range<usize>]) -> Range<usize> {
    let inside: Vec<&Range<usize>> = errors
        .iter()
        .filter(|r| r.start < placed.end && r.end > placed.start)
        .collect();
    match (
        inside.iter().map(|r| r.start).min(),
        inside.iter().map(|r| r.end).max(),
    ) {
        (Some(s), Some(e)) => {
            line_start(candidate, s.max(placed.start)).max(placed.start)
                ..line_end(candidate, e.min(placed.end)).min(placed.end)
        }
        _ => placed.clone(),
    }
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
        assert_eq!(p.reach, Reach::Lines);
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
        let r = tie_all(request_for(text, &regions, 100));
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
        );
        match r.segments.last() {
            Some(Segment::Text(t)) => assert!(t.ends_with("text\n") && t.len() <= 80, "{t:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_line_answers_keep_the_first_line() {
        assert_eq!(first_line("a + b  \nmore"), "a + b");
        assert_eq!(first_line("x\r\ny"), "x");
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
    #[test]
    fn the_first_line_start_is_found_in_one_scan() {
        // The quadratic scan it replaces, as the reference.
        let reference = |text: &str, range: Range<usize>| {
            range
                .clone()
                .find(|&i| text.is_char_boundary(i) && line_start(text, i) == i)
        };
        let text = "ab\r\ncd\né\rfg\n\nh";
        for start in 0..text.len() {
            for end in start..=text.len() {
                if text.is_char_boundary(start) && text.is_char_boundary(end) {
                    assert_eq!(
                        first_line_start(text, start..end),
                        reference(text, start..end),
                        "{start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn large_documents_are_planned_in_a_window_in_document_offsets() {
        let c = Config::default();
        let filler = "fn f(x: i32) -> i32 {\r\n    x + 1\r\n}\r\n".repeat(10_000);
        let text = format!("{filler}fn g() -> i32 {{\r\n    todo!()\r\n}}\r\n{filler}");
        assert!(text.len() > LARGE_DOCUMENT_BYTES);
        let hole = text.find("todo!()").unwrap();
        let doc = Document::new("rust", 1, &text);
        for s in [Snapshot::from_document(&doc), snap("rust", &text)] {
            assert_eq!(s.line_ending, LineEnding::CrLf);
            let p = plan(&s, &Task::FillHoles { offset: Some(hole) }, &c).unwrap();
            assert_eq!(p.regions[0].range, hole..hole + "todo!()".len());
            let view = s.view(&Task::Inline { offset: hole }, &c).unwrap();
            assert!(view.base > 0 && view.text.len() < 3 * WINDOW_MARGIN_BYTES);
            // Whole lines.
            assert!(text[..view.base].ends_with("\r\n") && view.text.ends_with("\r\n"));
            assert!(matches!(
                plan(&s, &Task::FillHoles { offset: None }, &c),
                Err(PipelineError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn windows_leave_out_huge_lines_beside_the_focus_and_cut_inside_the_one_at_it() {
        let text = format!(
            "a\r\n{}\r\nb\r\n{}",
            "é".repeat(50_000),
            "x".repeat(100_000)
        );
        let whole = Whole::Text(&text);
        let b = text.find('b').unwrap();
        // The line of é before the focus is left out whole; the x line after it too.
        assert_eq!(whole.window(b..b, 1_000), b..b + 3);
        // On the x line itself the window is cut inside it.
        let x = b + 3 + 50_000;
        let w = whole.window(x..x, 1_000);
        assert_eq!(w, x - 1_000..x + 1_000);
        let rope = Rope::from_str(&text);
        assert_eq!(Whole::Rope(&rope).window(b..b, 1_000), b..b + 3);
        // Never inside a character: é is two bytes.
        let e = 3 + 25_001;
        let w = whole.window(e..e, 1_001);
        assert!(text.is_char_boundary(w.start) && text.is_char_boundary(w.end));
    }
}
