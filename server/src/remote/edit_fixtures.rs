//! Next-edit exchanges in Inception's documented shapes, as data: what the editor held, what
//! the engine answers, and the proposal the server must make of it. The contract tests
//! (`edit_tests.rs`) and the benchmark (`examples/bench_next_edit.rs`) replay them through a
//! loopback [`TestServer`](super::test_server::TestServer). Test support only.

use serde_json::{json, Value};

use super::test_server::Reply;
use crate::history::PastEdit;
use crate::next_edit::{Context, Proposal, Snippet};
use crate::pipeline::Snapshot;

/// The model the documented requests name.
pub const MODEL: &str = "mercury-edit-2";

/// One exchange: the inputs of an [`EditPrompt`](super::edit::EditPrompt) (owned), the
/// engine's 200 body and what the server must propose.
#[derive(Debug, Clone)]
pub struct EditCase {
    pub name: &'static str,
    /// Where the request and the answer come from.
    pub source: &'static str,
    pub language_id: &'static str,
    pub path: &'static str,
    /// The document as it is now.
    pub text: String,
    /// The cursor, a byte offset of `text`.
    pub cursor: usize,
    pub history: Vec<PastEdit>,
    pub recently_viewed: Vec<Snippet>,
    /// The user message the request must carry, where the source gives it whole.
    pub message: Option<String>,
    /// The engine's answer, an `edit.completion` body.
    pub reply: Value,
    /// The proposal the server must make of it (`None`: no proposal).
    pub expected: Option<Proposal>,
}

impl EditCase {
    /// What `next_edit::suggest` sees for this case.
    pub fn context(&self) -> Context {
        Context {
            snapshot: Snapshot::of_text(&self.text, self.language_id, None),
            history: self.history.clone(),
            cursor: self.cursor,
            path: self.path.to_string(),
            recently_viewed: self.recently_viewed.clone(),
        }
    }

    /// The loopback server's answer to the request.
    pub fn reply(&self) -> Reply {
        Reply::json(200, self.reply.clone())
    }
}

/// An `edit.completion` body whose message holds `content`, as the API reference's 200
/// example has it.
pub fn edit_completion(content: &str) -> Value {
    json!({
        "id": "cmpl-7a2b3c4d5e",
        "object": "edit.completion",
        "created": 1745798400,
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 156, "completion_tokens": 18, "total_tokens": 174,
                  "reasoning_tokens": 0, "cached_input_tokens": 0}
    })
}

/// The exchanges, each with its source:
/// - `api-reference-greet`: the API reference's request and 200 example for
///   `POST /v1/edit/completions` (docs.inceptionlabs.ai; the OpenAPI document mirrored in
///   api-evangelist/inception-labs, `openapi/inception-labs-edit-api-openapi.yml`): the file,
///   cursor and answer (bare, without a fence) as documented. The example's message orders
///   its sections differently from the capabilities page, whose layout is sent, so the
///   message is not compared.
/// - `capabilities-add`: the capabilities page's prompt (docs.inceptionlabs.ai,
///   "capabilities/next-edit", as quoted by tryAGI's Inception SDK example,
///   https://tryagi.github.io/Inception/examples/edit/) with the documented empty history
///   (its example puts a comment there, not a diff); the answer is in the documented form (the
///   region in triple backticks), its code ours.
/// - `rename-parameter`: ours, in the documented shapes, with every section filled: a
///   parameter renamed at its definition, the use below renamed by the engine.
pub fn documented_edit_cases() -> Vec<EditCase> {
    vec![
        api_reference_greet(),
        capabilities_add(),
        rename_parameter(),
    ]
}

fn api_reference_greet() -> EditCase {
    let text = "def greet(name):\n    print(\"hi\")".to_string();
    let at = text.find("\"hi\"").unwrap();
    EditCase {
        name: "api-reference-greet",
        source: "docs.inceptionlabs.ai API reference, POST /v1/edit/completions: request and 200 examples",
        language_id: "python",
        path: "greet.py",
        cursor: text.len(),
        history: vec![],
        recently_viewed: vec![],
        message: None,
        reply: edit_completion("def greet(name):\n    print(f\"hi {name}\")\n"),
        expected: Some(Proposal {
            range: at..at + 3,
            text: "f\"hi {name}".into(),
            label: "edit line 2".into(),
        }),
        text,
    }
}

fn capabilities_add() -> EditCase {
    let text = "def add(a, b):\n    return a - b".to_string();
    let at = text.find('-').unwrap();
    EditCase {
        name: "capabilities-add",
        source: "docs.inceptionlabs.ai capabilities/next-edit: the prompt's sections and the fenced answer",
        language_id: "python",
        path: "add.py",
        cursor: text.len(),
        history: vec![],
        recently_viewed: vec![],
        message: Some(
            "<|recently_viewed_code_snippets|>\n\n<|/recently_viewed_code_snippets|>\n\
             <|current_file_content|>\ncurrent_file_path: add.py\n<|code_to_edit|>\n\
             def add(a, b):\n    return a - b<|cursor|>\n<|/code_to_edit|>\n\
             <|/current_file_content|>\n<|edit_diff_history|>\n\n<|/edit_diff_history|>"
                .into(),
        ),
        reply: edit_completion("```\ndef add(a, b):\n    return a + b\n```"),
        expected: Some(Proposal {
            range: at..at + 1,
            text: "+".into(),
            label: "edit line 2".into(),
        }),
        text,
    }
}

fn rename_parameter() -> EditCase {
    let text = "fn scale(factor: f64, values: &[f64]) -> Vec<f64> {\n    \
                values.iter().map(|v| v * count).collect()\n}\n"
        .to_string();
    let defined = text.find("factor").unwrap();
    let used = text.find("count").unwrap();
    let message = "<|recently_viewed_code_snippets|>\n<|recently_viewed_code_snippet|>\n\
         code_snippet_file_path: /src/main.rs\nlet scaled = scale(2.0, &readings);\n\
         <|/recently_viewed_code_snippet|>\n<|/recently_viewed_code_snippets|>\n\
         <|current_file_content|>\ncurrent_file_path: /src/lib.rs\n<|code_to_edit|>\n\
         fn scale(factor<|cursor|>: f64, values: &[f64]) -> Vec<f64> {\n    \
         values.iter().map(|v| v * count).collect()\n}\n<|/code_to_edit|>\n\
         <|/current_file_content|>\n<|edit_diff_history|>\n--- /src/lib.rs\n+++ /src/lib.rs\n\
         @@ -1,3 +1,3 @@\n-fn scale(count: f64, values: &[f64]) -> Vec<f64> {\n\
         +fn scale(factor: f64, values: &[f64]) -> Vec<f64> {\n     \
         values.iter().map(|v| v * count).collect()\n }\n<|/edit_diff_history|>";
    EditCase {
        name: "rename-parameter",
        source: "ours, in the documented request and answer shapes",
        language_id: "rust",
        path: "/src/lib.rs",
        cursor: defined + "factor".len(),
        history: vec![PastEdit {
            start: defined,
            old_text: "count".into(),
            new_text: "factor".into(),
            version: 7,
            overwritten: false,
            elided: false,
        }],
        recently_viewed: vec![Snippet {
            path: "/src/main.rs".into(),
            text: "let scaled = scale(2.0, &readings);\n".into(),
        }],
        message: Some(message.into()),
        reply: edit_completion(
            "```rust\nfn scale(factor: f64, values: &[f64]) -> Vec<f64> {\n    \
             values.iter().map(|v| v * factor).collect()\n}\n```",
        ),
        expected: Some(Proposal {
            range: used..used + 5,
            text: "factor".into(),
            label: "rename `count` → `factor` (line 2)".into(),
        }),
        text,
    }
}
