//! Every setting, declared once. The server's parsing ([`super::Config::apply`]), the command
//! line's model flags, VS Code's `package.json` and `settings.generated.ts`, and the README's
//! table all come from here; `server/tests/settings_table.rs` regenerates the files when they
//! drift.

use dllm_grammars::Language;
use dllm_models::Strategy;

use super::Config;

/// One setting: what it accepts, its default, what it means and what a change does.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The key in the settings object (VS Code's `dllm.` + key).
    pub key: &'static str,
    pub kind: Kind,
    /// What `null` means where it is accepted; `None`: `null` is refused.
    pub null_means: Option<&'static str>,
    pub default: DefaultValue,
    /// Markdown, whole sentences: VS Code's settings page, the README and `--help` show it.
    pub doc: &'static str,
    pub on_change: OnChange,
    pub cli: Cli,
    pub scope: Scope,
    pub target: Target,
}

/// The values a setting accepts (besides `null`, which [`Setting::null_means`] governs).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// An integer from `min` to `max` (`None`: no upper bound).
    Int { min: u64, max: Option<u64> },
    /// A number from `min` to `max`.
    Number { min: Min, max: f64 },
    /// One of `choices`.
    Choice {
        choices: &'static [Choice],
        spelling: Spelling,
    },
    /// Any string; `expected` names what it should be.
    Text { expected: &'static str },
    /// A list of strings; `items`, where given, are the ones an editor offers.
    List {
        items: Option<&'static [&'static str]>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Min {
    Inclusive(f64),
    Exclusive(f64),
}

#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub name: &'static str,
    /// Shown beside the name in VS Code's drop-down; empty for none.
    pub doc: &'static str,
}

/// How a choice is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Exactly as listed.
    Exact,
    /// By the field's own parser, which also takes other spellings (`Strategy::from_str`:
    /// any case, `-` for `_`, `origin`).
    Lenient,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    Null,
    Bool(bool),
    Int(u64),
    Number(f64),
    Text(&'static str),
    EmptyList,
}

/// What changing the setting in a running server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// The next request uses it.
    Applies,
    /// The server loads the model again.
    ReloadsModel,
    /// Read when the server starts: applies at the next start.
    NeedsRestart,
}

/// Whether the command line exposes the setting, and as which flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    No,
    /// `--name`, documented by the setting's doc, bounds and default.
    Flag(&'static str),
    /// `--name` whose meaning differs from the setting's: its own doc (which says what the
    /// default is) replaces the setting's doc and default.
    FlagWithDoc(&'static str, &'static str),
}

/// VS Code's `scope` of the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// VS Code's default (`window`).
    Window,
    /// Paths differ from machine to machine: a workspace cannot set them for all.
    MachineOverridable,
}

/// Where a value lives: a field of [`Config`], or the editor extension alone.
#[derive(Clone, Copy)]
pub enum Target {
    Server(FieldOf),
    Editor,
}

/// The field of a [`Config`] that a setting writes.
pub type FieldOf = for<'a> fn(&'a mut Config) -> Field<'a>;

/// A field of [`Config`], by the type its setting's values take.
pub enum Field<'a> {
    Bool(&'a mut bool),
    Count(&'a mut usize),
    MaybeCount(&'a mut Option<usize>),
    Seed(&'a mut u64),
    Number(&'a mut f32),
    MaybeNumber(&'a mut Option<f32>),
    Text(&'a mut String),
    MaybeText(&'a mut Option<String>),
    Strategy(&'a mut Strategy),
    List(&'a mut Vec<String>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Server(_) => "Server",
            Target::Editor => "Editor",
        })
    }
}

/// The default `minConfidence`.
const MIN_CONFIDENCE_DEFAULT: f64 = 0.7;

/// Largest `maxTokensInline`.
pub const MAX_TOKENS_INLINE: u64 = 512;
/// Largest `maxTokensBlock` (and `max_tokens` of a `--batch` line).
pub const MAX_TOKENS_BLOCK: u64 = 2048;
/// Largest step count, block length and per-step cap: more than any span's tokens.
const MAX_STEPS: u64 = 4096;
/// Largest context and refresh radius, in tokens: beyond any model's window.
const MAX_CONTEXT: u64 = 1 << 20;

const fn count(max: u64) -> Kind {
    Kind::Int {
        min: 1,
        max: Some(max),
    }
}

/// A server setting with the usual defaults: no `null`, applies to the next request, no flag.
const fn server(key: &'static str, kind: Kind, default: DefaultValue, field: FieldOf) -> Setting {
    Setting {
        key,
        kind,
        null_means: None,
        default,
        doc: "",
        on_change: OnChange::Applies,
        cli: Cli::No,
        scope: Scope::Window,
        target: Target::Server(field),
    }
}

/// A setting of the VS Code extension itself, never sent to the server.
const fn editor(key: &'static str, kind: Kind, default: DefaultValue) -> Setting {
    Setting {
        key,
        kind,
        null_means: None,
        default,
        doc: "",
        on_change: OnChange::Applies,
        cli: Cli::No,
        scope: Scope::Window,
        target: Target::Editor,
    }
}

const DTYPES: &[Choice] = &[
    Choice {
        name: "f32",
        doc: "32-bit float weights (bf16 checkpoints on bf16 panels where the CPU allows)",
    },
    Choice {
        name: "bf16",
        doc: "bf16 weights and arithmetic: half of f32's memory, slower on CPUs",
    },
    Choice {
        name: "q8",
        doc: "8-bit weights in blocks of 32, quantized at load: under half the memory of f32",
    },
    Choice {
        name: "q4",
        doc: "4-bit weights in blocks of 32 (head in 8-bit), quantized at load: the least memory",
    },
];

const STRATEGIES: &[Choice] = &[
    Choice {
        name: "maskgit_plus",
        doc: "Dream's maskgit_plus: top-1 probability under the sampling distribution",
    },
    Choice {
        name: "low_confidence",
        doc: "LLaDA's low-confidence remasking",
    },
    Choice {
        name: "topk_margin",
        doc: "Dream's topk_margin: gap between the two most likely tokens",
    },
    Choice {
        name: "entropy",
        doc: "Dream's entropy: lowest-entropy positions first",
    },
    Choice {
        name: "random",
        doc: "Dream's origin: a random order",
    },
];

const LOG_LEVELS: &[Choice] = &[
    Choice {
        name: "error",
        doc: "",
    },
    Choice {
        name: "warn",
        doc: "",
    },
    Choice {
        name: "info",
        doc: "",
    },
    Choice {
        name: "debug",
        doc: "",
    },
    Choice {
        name: "trace",
        doc: "",
    },
];

const BACKENDS: &[Choice] = &[
    Choice {
        name: "local",
        doc: "the diffusion model set by `model`, on this machine",
    },
    Choice {
        name: "remote",
        doc: "an HTTP engine at `endpoint`, spoken to as `api` says",
    },
];

const APIS: &[Choice] = &[
    Choice {
        name: "fim",
        doc: "POST {endpoint}/fim/completions {prompt, suffix, …}: Inception (Mercury), Mistral",
    },
    Choice {
        name: "completions",
        doc: "POST {endpoint}/completions {prompt, suffix, …}: OpenAI-compatible servers (Ollama, DeepSeek, LMDeploy, vLLM)",
    },
    Choice {
        name: "llama-infill",
        doc: "POST {endpoint}/infill {input_prefix, input_suffix, …}: llama.cpp's server",
    },
    Choice {
        name: "chat",
        doc: "POST {endpoint}/chat/completions: infills asked as instructions, for chat-only engines",
    },
];

/// Shortest and longest `requestTimeoutMs`.
const MIN_TIMEOUT_MS: u64 = 100;
const MAX_TIMEOUT_MS: u64 = 600_000;

const TRACE_LEVELS: &[Choice] = &[
    Choice {
        name: "off",
        doc: "",
    },
    Choice {
        name: "messages",
        doc: "",
    },
    Choice {
        name: "verbose",
        doc: "",
    },
];

/// The server's settings, in the order editors and `--help` list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        null_means: Some("the embedded default model"),
        doc: "A checkpoint directory in the Hugging Face layout (Dream, DiffuCoder, Dream-Coder, \
              Open-dCoder or LLaDA), a llama.cpp GGUF file (`.gguf`, architecture `dream` or \
              `llada`), or a Hugging Face id `owner/name[@revision]`, downloaded on first use \
              into the Hugging Face cache.",
        on_change: OnChange::ReloadsModel,
        cli: Cli::Flag("model"),
        scope: Scope::MachineOverridable,
        ..server(
            "model",
            Kind::Text {
                expected: "a path or a model id",
            },
            DefaultValue::Null,
            |c| Field::MaybeText(&mut c.model),
        )
    },
    Setting {
        doc: "Weights of the model: `f32`; `bf16` halves their memory but is slower on CPUs; \
              `q8` and `q4` quantize the layers' weights as they load (8 or 4 bits, blocks of \
              32) and multiply them with integer kernels: less memory, faster on CPUs, answers \
              a little further from f32's (docs/engine.md).",
        on_change: OnChange::ReloadsModel,
        cli: Cli::Flag("dtype"),
        // f32 is the fast path on CPUs; `bf16Products` takes the speed of bf16 where it pays.
        ..server(
            "dtype",
            Kind::Choice {
                choices: DTYPES,
                spelling: Spelling::Exact,
            },
            DefaultValue::Text("f32"),
            |c| Field::Text(&mut c.dtype),
        )
    },
    Setting {
        doc: "With `dtype` `f32`, a bf16 checkpoint and a CPU with AVX-512 BF16, the model's \
              matrix products round their inputs to bf16 and run about twice as fast, with the \
              same answer quality on the project's evaluation (docs/benchmarks.md). `false`: \
              exact f32 products. Elsewhere it changes nothing.",
        on_change: OnChange::ReloadsModel,
        cli: Cli::Flag("bf16-products"),
        // On: a fifth or so off each request where the CPU has the instructions, and the same
        // edit similarity hole by hole on the evaluation.
        ..server("bf16Products", Kind::Bool, DefaultValue::Bool(true), |c| {
            Field::Bool(&mut c.bf16_products)
        })
    },
    Setting {
        doc: "Which masked positions each denoising step commits first.",
        cli: Cli::Flag("strategy"),
        ..server(
            "strategy",
            Kind::Choice {
                choices: STRATEGIES,
                spelling: Spelling::Lenient,
            },
            DefaultValue::Text("maskgit_plus"),
            |c| Field::Strategy(&mut c.sampler.strategy),
        )
    },
    Setting {
        null_means: Some("one step per masked token, the most careful"),
        doc: "Denoising steps in all.",
        cli: Cli::Flag("steps"),
        ..server("steps", count(MAX_STEPS), DefaultValue::Null, |c| {
            Field::MaybeCount(&mut c.sampler.steps)
        })
    },
    Setting {
        doc: "Token budget of a single-line span (an inline, rest-of-line suggestion).",
        // Room for a long line; every masked position costs time.
        ..server(
            "maxTokensInline",
            count(MAX_TOKENS_INLINE),
            DefaultValue::Int(24),
            |c| Field::Count(&mut c.max_tokens_inline),
        )
    },
    Setting {
        doc: "Token budget of a multi-line span: an empty block, Complete block, Rewrite \
              selection, each hole.",
        cli: Cli::FlagWithDoc(
            "max-tokens",
            "Token budget of the span: sets `maxTokensBlock`, and `maxTokensInline` (cut to \
             its largest value) when the span is a single line. Without it each keeps its \
             default.",
        ),
        // A short function body; longer spans take proportionally longer.
        ..server(
            "maxTokensBlock",
            count(MAX_TOKENS_BLOCK),
            DefaultValue::Int(64),
            |c| Field::Count(&mut c.max_tokens_block),
        )
    },
    Setting {
        null_means: Some("off"),
        doc: "Also commit every position whose token has at least this probability \
              (parallel decoding: fewer steps).",
        cli: Cli::Flag("threshold"),
        ..server(
            "threshold",
            Kind::Number {
                min: Min::Inclusive(0.0),
                max: 1.0,
            },
            DefaultValue::Number(0.9),
            |c| Field::MaybeNumber(&mut c.sampler.threshold),
        )
    },
    Setting {
        null_means: Some("no cap"),
        doc: "With `threshold`, commit at most this many tokens in one denoising step.",
        ..server(
            "maxTokensPerStep",
            count(MAX_STEPS),
            DefaultValue::Null,
            |c| Field::MaybeCount(&mut c.sampler.max_per_step),
        )
    },
    Setting {
        null_means: Some("one block, the whole span at once"),
        doc: "Denoise multi-line spans in semi-autoregressive blocks of this many tokens, left \
              to right; single-line spans use `inlineBlockLength`.",
        // Blocks of 32 decode multi-line spans about a third faster than one block, at the
        // same quality; blocks of 8, faster still, lose edit similarity and body parse rate
        // (docs/benchmarks.md).
        ..server(
            "blockLength",
            count(MAX_STEPS),
            DefaultValue::Int(32),
            |c| Field::MaybeCount(&mut c.sampler.block_length),
        )
    },
    Setting {
        null_means: Some("one block, the whole span at once"),
        doc: "The block length of single-line spans (inline suggestions on one line).",
        // A line loses nothing to blocks of 8 and decodes about 1.5x faster.
        ..server(
            "inlineBlockLength",
            count(MAX_STEPS),
            DefaultValue::Int(8),
            |c| Field::MaybeCount(&mut c.inline_block_length),
        )
    },
    Setting {
        doc: "Approximate KV cache (Fast-dLLM's dual cache): the context's keys and values are \
              computed once per block and each denoising step recomputes only the block. \
              Several times faster; `false` gives the exact, uncached result.",
        // Several times faster with the same exact matches on the default model's evaluation.
        ..server("kvCache", Kind::Bool, DefaultValue::Bool(true), |c| {
            Field::Bool(&mut c.sampler.kv_cache)
        })
    },
    Setting {
        null_means: Some("once per block only"),
        doc: "With `kvCache`, also recompute the whole canvas every this many steps, so the \
              context's keys and values see the span decoded so far.",
        // The context catching up with the span every 8 steps makes better function bodies
        // (half parse, against two in five) for about a fifth more time.
        ..server(
            "cacheRefresh",
            count(MAX_STEPS),
            DefaultValue::Int(8),
            |c| Field::MaybeCount(&mut c.sampler.cache_refresh),
        )
    },
    Setting {
        null_means: Some("the whole canvas"),
        doc: "With `kvCache`, a refresh recomputes only the span and this many tokens on each \
              side of it.",
        // The span changes mostly the columns near it: the same edit similarity hole by hole
        // as whole-canvas refreshes, in 11-15% less time.
        ..server(
            "refreshRadius",
            count(MAX_CONTEXT),
            DefaultValue::Int(64),
            |c| Field::MaybeCount(&mut c.sampler.refresh_radius),
        )
    },
    Setting {
        doc: "Sampling temperature; `0` is greedy.",
        cli: Cli::Flag("temperature"),
        ..server(
            "temperature",
            Kind::Number {
                min: Min::Inclusive(0.0),
                max: 10.0,
            },
            DefaultValue::Number(0.0),
            |c| Field::Number(&mut c.sampler.temperature),
        )
    },
    Setting {
        doc: "Nucleus sampling; `1` is off.",
        ..server(
            "topP",
            Kind::Number {
                min: Min::Exclusive(0.0),
                max: 1.0,
            },
            DefaultValue::Number(1.0),
            |c| Field::Number(&mut c.sampler.top_p),
        )
    },
    Setting {
        doc: "The sampling seed: the same seed gives the same answer.",
        cli: Cli::Flag("seed"),
        ..server(
            "seed",
            Kind::Int { min: 0, max: None },
            DefaultValue::Int(0),
            |c| Field::Seed(&mut c.sampler.seed),
        )
    },
    Setting {
        doc: "The LSP language ids to serve; empty: all of them.",
        ..server(
            "languages",
            Kind::List {
                items: Some(&Language::LANGUAGE_IDS),
            },
            DefaultValue::EmptyList,
            |c| Field::List(&mut c.languages),
        )
    },
    Setting {
        doc: "Extra hole markers for Fill holes, beside `todo!()`, `unimplemented!()`, `pass`, \
              `...`, `raise NotImplementedError`, `panic(\"not implemented\")` and \
              `TODO`/`FIXME` comments: `name!` adds a macro, anything else a comment tag.",
        ..server(
            "holeMarkers",
            Kind::List { items: None },
            DefaultValue::EmptyList,
            |c| Field::List(&mut c.hole_markers),
        )
    },
    Setting {
        doc: "Tokens of context the model sees on each side of the span.",
        ..server(
            "contextTokens",
            count(MAX_CONTEXT),
            DefaultValue::Int(1024),
            |c| Field::Count(&mut c.context_tokens),
        )
    },
    Setting {
        doc: "Re-masking rounds for a candidate that adds syntax errors; one that still adds \
              them is not offered.",
        ..server(
            "repairRounds",
            Kind::Int {
                min: 0,
                max: Some(8),
            },
            DefaultValue::Int(2),
            |c| Field::Count(&mut c.repair_rounds),
        )
    },
    Setting {
        doc: "Show an inline suggestion (inline completion, completion) only when the model's \
              confidence in it is at least this: the lowest probability the model gave its \
              tokens and what ended them (for a single line, the line break). Code actions, \
              which you ask for, still answer, and their titles say when confidence was low. \
              0 shows every suggestion; a remote engine's have no confidence and are shown.",
        // Calibrated on held-out holes: the lowest threshold at which half the single lines
        // shown are exact (models/default/README.md, "Confidence gate").
        ..server(
            "minConfidence",
            Kind::Number {
                min: Min::Inclusive(0.0),
                max: 1.0,
            },
            DefaultValue::Number(MIN_CONFIDENCE_DEFAULT),
            |c| Field::Number(&mut c.min_confidence),
        )
    },
    Setting {
        doc: "Suggest the edit that follows the one you just made (`dllm/nextEdit`): after a \
              rename, the same name at the next use; after a new parameter, a call site; after \
              a changed literal, the same change in a parallel line. Editors ask after a pause \
              in typing; `false` turns the feature off.",
        ..server(
            "nextEditSuggestions",
            Kind::Bool,
            DefaultValue::Bool(true),
            |c| Field::Bool(&mut c.next_edit),
        )
    },
    Setting {
        doc: "Where completions and code actions come from: the local model, or a remote \
              engine over HTTP (`endpoint`, `api`, `remoteModel`, `apiKeyEnv`). Rename here \
              needs the local model and is not offered while this is `remote`.",
        ..server(
            "backend",
            Kind::Choice {
                choices: BACKENDS,
                spelling: Spelling::Exact,
            },
            DefaultValue::Text("local"),
            |c| Field::Text(&mut c.backend),
        )
    },
    Setting {
        null_means: Some("none (needed when `backend` is `remote`)"),
        doc: "The remote engine's base URL, for example `https://api.inceptionlabs.ai/v1` or \
              `http://127.0.0.1:8080/v1`. Requests go to this URL plus the path of `api`. \
              On the command line, giving it selects the remote backend.",
        cli: Cli::Flag("endpoint"),
        scope: Scope::MachineOverridable,
        ..server(
            "endpoint",
            Kind::Text { expected: "a URL" },
            DefaultValue::Null,
            |c| Field::MaybeText(&mut c.endpoint),
        )
    },
    Setting {
        doc: "How the remote engine is spoken to. An instructed Rewrite selection always sends \
              a chat request (`{endpoint}/chat/completions`).",
        cli: Cli::Flag("api"),
        ..server(
            "api",
            Kind::Choice {
                choices: APIS,
                spelling: Spelling::Exact,
            },
            DefaultValue::Text("fim"),
            |c| Field::Text(&mut c.api),
        )
    },
    Setting {
        null_means: Some("no model field (servers with one model)"),
        doc: "The model name sent to the remote engine, for example `mercury-edit-2`.",
        cli: Cli::Flag("remote-model"),
        ..server(
            "remoteModel",
            Kind::Text {
                expected: "a model name",
            },
            DefaultValue::Null,
            |c| Field::MaybeText(&mut c.remote_model),
        )
    },
    Setting {
        null_means: Some("no key is sent"),
        doc: "The *name* of the environment variable that holds the remote engine's API key \
              (sent as `Authorization: Bearer`), for example `INCEPTION_API_KEY`. The key is \
              read from the server's environment at each request and never appears in \
              settings, logs, messages or the status.",
        cli: Cli::Flag("api-key-env"),
        ..server(
            "apiKeyEnv",
            Kind::Text {
                expected: "an environment variable's name",
            },
            DefaultValue::Null,
            |c| Field::MaybeText(&mut c.api_key_env),
        )
    },
    Setting {
        doc: "How long a remote request may take in all, retries of 429 and 5xx answers \
              included, in milliseconds.",
        // Long enough for a loaded local server's first answer, short enough that a dead
        // endpoint is reported while the user still waits.
        ..server(
            "requestTimeoutMs",
            Kind::Int {
                min: MIN_TIMEOUT_MS,
                max: Some(MAX_TIMEOUT_MS),
            },
            DefaultValue::Int(15_000),
            |c| Field::Count(&mut c.request_timeout_ms),
        )
    },
    Setting {
        doc: "The server's log level. The server sets up its log when it starts, and a \
              `DLLM_LOG` environment variable wins over this key.",
        on_change: OnChange::NeedsRestart,
        ..server(
            "logLevel",
            Kind::Choice {
                choices: LOG_LEVELS,
                spelling: Spelling::Exact,
            },
            DefaultValue::Text("info"),
            |c| Field::Text(&mut c.log_level),
        )
    },
];

/// Settings of the VS Code extension itself: in its `package.json`, never sent to the server.
pub const EDITOR_SETTINGS: &[Setting] = &[
    Setting {
        doc: "Path to the `dllm-ls` binary. Empty: `dllm-ls` on `PATH` (install it with \
              `cargo install --path server` in the dllm-ls repository). A bare name is looked \
              up on `PATH`, a relative path is taken from the first workspace folder, `~` is \
              your home directory.",
        on_change: OnChange::NeedsRestart,
        scope: Scope::MachineOverridable,
        ..editor(
            "serverPath",
            Kind::Text { expected: "a path" },
            DefaultValue::Text(""),
        )
    },
    Setting {
        doc: "Show the server's suggestions as inline ghost text (also needs \
              `editor.inlineSuggest.enabled`). Accept with `Tab`, word by word with \
              `Ctrl+Right` (`Cmd+Right` on macOS), line by line with **Accept Line** \
              (`editor.action.inlineSuggest.acceptNextLine`).",
        ..editor(
            "inlineCompletion.enabled",
            Kind::Bool,
            DefaultValue::Bool(true),
        )
    },
    Setting {
        doc: "Wait this long after typing stops before asking the model for an inline \
              suggestion (explicit triggers are not delayed).",
        // Long enough not to start a request per keystroke, short enough to feel immediate.
        ..editor(
            "inlineCompletion.debounceMs",
            Kind::Int {
                min: 0,
                max: Some(5000),
            },
            DefaultValue::Int(150),
        )
    },
    Setting {
        doc: "Wait this long after typing stops before asking for a next-edit suggestion \
              (`dllm.nextEditSuggestions`).",
        // Longer than the inline debounce: a next edit follows a finished change, not a
        // keystroke.
        ..editor(
            "nextEdit.debounceMs",
            Kind::Int {
                min: 0,
                max: Some(5000),
            },
            DefaultValue::Int(500),
        )
    },
    Setting {
        doc: "Also offer the suggestion in the completion list (`textDocument/completion`). \
              Off by default: it runs the model a second time for the same position and \
              cancels the inline request.",
        ..editor(
            "completionItems.enabled",
            Kind::Bool,
            DefaultValue::Bool(false),
        )
    },
    Setting {
        doc: "Log the LSP messages between VS Code and the server (in the `dllm-ls` output \
              channel).",
        ..editor(
            "trace.server",
            Kind::Choice {
                choices: TRACE_LEVELS,
                spelling: Spelling::Exact,
            },
            DefaultValue::Text("off"),
        )
    },
];

const KEY_COUNT: usize = SETTINGS.len();

const fn keys() -> [&'static str; KEY_COUNT] {
    let mut keys = [""; KEY_COUNT];
    let mut i = 0;
    while i < KEY_COUNT {
        keys[i] = SETTINGS[i].key;
        i += 1;
    }
    keys
}

/// The server's keys, in table order.
pub const KEYS: &[&str] = &keys();

/// The server setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

impl Setting {
    /// The command-line flag, without its dashes.
    pub fn flag(&self) -> Option<&'static str> {
        match self.cli {
            Cli::No => None,
            Cli::Flag(name) | Cli::FlagWithDoc(name, _) => Some(name),
        }
    }
}
