//! What the settings table generates: the README's table, the model flags' help, VS Code's
//! settings ([`vscode`]) and the editors' language lists. Each `update_*` function takes a
//! file's text and gives it back with its generated part as the table says;
//! `server/tests/settings_table.rs` writes the results and fails when anything changed.

mod json;
pub mod vscode;

use dllm_grammars::Language;

pub use json::Json;

use super::table::{Choice, Cli, DefaultValue, Kind, Min, OnChange, Setting, SETTINGS};

/// The command that regenerates every generated file.
pub const REGENERATE: &str = "cargo test -p dllm-ls --test settings_table";

const README_BEGIN: &str = "<!-- settings:begin -->\n";
const README_END: &str = "<!-- settings:end -->";

/// What a setting accepts, as a phrase: "an integer from 1 to 4096", "`f32` or `bf16`".
pub fn allowed(setting: &Setting) -> String {
    match setting.kind {
        Kind::Bool => "`true` or `false`".into(),
        Kind::Int { min, max: None } => format!("an integer of {min} or more"),
        Kind::Int {
            min,
            max: Some(max),
        } => format!("an integer from {min} to {max}"),
        Kind::Number {
            min: Min::Inclusive(min),
            max,
        } => format!("a number from {min} to {max}"),
        Kind::Number {
            min: Min::Exclusive(min),
            max,
        } => format!("a number above {min} and at most {max}"),
        Kind::Choice { choices, .. } => either(&names(choices)),
        Kind::Text { expected } => expected.into(),
        Kind::List { items: None } => "a list of strings".into(),
        Kind::List { items: Some(items) } => format!("a list of {}", either(items)),
    }
}

fn names(choices: &[Choice]) -> Vec<&'static str> {
    choices.iter().map(|c| c.name).collect()
}

/// "`a` or `b`", "`a`, `b` or `c`".
fn either(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The default as the README and `--help` show it.
fn default_text(setting: &Setting) -> String {
    match setting.default {
        DefaultValue::Null => "null".into(),
        DefaultValue::Bool(b) => format!("`{b}`"),
        DefaultValue::Int(n) => n.to_string(),
        DefaultValue::Number(x) => x.to_string(),
        DefaultValue::Text(s) => format!("`{s}`"),
        DefaultValue::EmptyList => "`[]`".into(),
    }
}

/// The README's "meaning" of a setting: its doc, what it accepts and what a change does.
fn readme_meaning(setting: &Setting) -> String {
    let null = setting
        .null_means
        .map_or_else(String::new, |means| format!("; null: {means}"));
    let change = match setting.on_change {
        OnChange::Applies => "",
        OnChange::ReloadsModel => " A change reloads the model.",
        OnChange::NeedsRestart => {
            " A running server checks a new value and applies it at its next start."
        }
    };
    format!(
        "{} {}{null}.{change}",
        setting.doc,
        capitalized(&allowed(setting))
    )
}

/// The README's settings table, between its markers.
pub fn readme_table() -> String {
    let mut out = format!(
        "<!-- Generated from server/src/config/table.rs: edit the table there and run `{REGENERATE}`. -->\n\
         | key | meaning | default |\n|---|---|---|\n"
    );
    for s in SETTINGS {
        let cells = [format!("`{}`", s.key), readme_meaning(s), default_text(s)];
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// The README with its settings table as the table says; `None` without the markers.
pub fn update_readme(text: &str) -> Option<String> {
    let start = text.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + text[start..].find(README_END)?;
    Some(format!(
        "{}{}{}",
        &text[..start],
        readme_table(),
        &text[end..]
    ))
}

/// The `--help` text of a setting's flag: plain text, no Markdown.
pub fn flag_help(setting: &Setting) -> String {
    let allowed = capitalized(&allowed(setting));
    let text = match setting.cli {
        Cli::FlagWithDoc(_, doc) => format!("{doc} {allowed}."),
        Cli::Flag(_) | Cli::No => {
            let default = match setting.default {
                DefaultValue::Null => setting.null_means.unwrap_or("null").to_string(),
                _ => default_text(setting),
            };
            format!("{} {allowed}; default: {default}.", setting.doc)
        }
    };
    text.replace(['`', '*'], "")
}

/// VS Code's `when` clause for the served languages: `editorLangId =~ /^(rust|…)$/`.
pub fn language_filter() -> String {
    format!("editorLangId =~ /^({})$/", Language::LANGUAGE_IDS.join("|"))
}

/// Every `editorLangId =~ /^(…)$/` in `text` naming the served languages.
fn update_language_filters(text: &str) -> String {
    const OPEN: &str = "editorLangId =~ /^(";
    const CLOSE: &str = ")$/";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let Some(len) = rest[at..].find(CLOSE) else {
            break;
        };
        out.push_str(&rest[..at]);
        out.push_str(&language_filter());
        rest = &rest[at + len + CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

/// VS Code's `package.json` with its settings, activation events and menu filters as the
/// table and grammars/ say; `None` when a part to replace is not found.
pub fn update_package_json(text: &str) -> Option<String> {
    let events = Json::Array(
        Language::LANGUAGE_IDS
            .iter()
            .map(|id| Json::Str(format!("onLanguage:{id}")))
            .collect(),
    );
    let text = json::splice_value(text, "{", "activationEvents", &events)?;
    let text = json::splice_value(
        &text,
        "\"configuration\"",
        "properties",
        &vscode::properties(),
    )?;
    Some(update_language_filters(&text))
}

/// Neovim's `filetypes` default: the served languages.
pub fn nvim_filetypes() -> String {
    let quoted: Vec<String> = Language::LANGUAGE_IDS
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect();
    format!("  filetypes = {{ {} }},", quoted.join(", "))
}

/// The Neovim plugin's config.lua with its `filetypes` line as grammars/ says.
pub fn update_nvim_config(text: &str) -> Option<String> {
    let start = text.find("\n  filetypes = {")? + 1;
    let end = start + text[start..].find('\n')?;
    Some(format!(
        "{}{}{}",
        &text[..start],
        nvim_filetypes(),
        &text[end..]
    ))
}
