//! VS Code's side of the table: `contributes.configuration.properties` of its package.json and
//! `src/settings.generated.ts`, which settings.ts builds on.

use dllm_grammars::Language;

use super::{Json, REGENERATE};
use crate::config::table::{
    DefaultValue, Kind, Min, OnChange, Scope, Setting, EDITOR_SETTINGS, SETTINGS,
};

/// The settings UI cannot write `null`: a cleared field is `""`, and for counts `0` stands for
/// `null` (settings.ts turns both back into `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleared {
    /// `null` is refused: nothing stands for it.
    Never,
    Zero,
    Blank,
}

fn cleared(setting: &Setting) -> Cleared {
    match (setting.null_means, setting.kind) {
        (None, _) => Cleared::Never,
        (Some(_), Kind::Int { .. }) => Cleared::Zero,
        (Some(_), _) => Cleared::Blank,
    }
}

/// The type and choices of a setting as JSON schema.
fn schema(setting: &Setting) -> Vec<(String, Json)> {
    let nullable = |t: &str| match cleared(setting) {
        Cleared::Never => Json::str(t),
        Cleared::Zero | Cleared::Blank => Json::strings([t, "null"]),
    };
    let field = |k: &str, v: Json| (k.to_string(), v);
    match setting.kind {
        Kind::Bool => vec![field("type", Json::str("boolean"))],
        Kind::Int { .. } => vec![field("type", nullable("integer"))],
        Kind::Number { .. } => vec![field("type", nullable("number"))],
        Kind::Choice { choices, .. } => {
            let mut f = vec![
                field("type", Json::str("string")),
                field("enum", Json::strings(choices.iter().map(|c| c.name))),
            ];
            if choices.iter().any(|c| !c.doc.is_empty()) {
                let docs = Json::strings(choices.iter().map(|c| c.doc));
                f.push(field("enumDescriptions", docs));
            }
            f
        }
        // A cleared field is "": the type stays a string.
        Kind::Text { .. } => vec![field("type", Json::str("string"))],
        Kind::List { items } => list_schema(items),
    }
}

/// The bounds of a number as JSON schema; `0` is allowed where it stands for `null`.
fn bounds(setting: &Setting) -> Vec<(String, Json)> {
    match setting.kind {
        Kind::Int { min, max } => {
            let min = if cleared(setting) == Cleared::Zero {
                0
            } else {
                min
            };
            let mut f = vec![("minimum".to_string(), Json::Int(min))];
            f.extend(max.map(|m| ("maximum".to_string(), Json::Int(m))));
            f
        }
        Kind::Number { min, max } => {
            let (name, bound) = match min {
                Min::Inclusive(m) => ("minimum", m),
                Min::Exclusive(m) => ("exclusiveMinimum", m),
            };
            vec![
                (name.to_string(), Json::Number(bound)),
                ("maximum".to_string(), Json::Number(max)),
            ]
        }
        Kind::Bool | Kind::Choice { .. } | Kind::Text { .. } | Kind::List { .. } => vec![],
    }
}

fn list_schema(items: Option<&[&str]>) -> Vec<(String, Json)> {
    let mut item = vec![("type".to_string(), Json::str("string"))];
    let mut schema = vec![("type".to_string(), Json::str("array"))];
    if let Some(items) = items {
        item.push(("enum".into(), Json::strings(items.iter().copied())));
        schema.push(("items".into(), Json::Object(item)));
        schema.push(("uniqueItems".into(), Json::Bool(true)));
    } else {
        schema.push(("items".into(), Json::Object(item)));
    }
    schema
}

/// The contributed default: the table's, with `""` for a text whose default is `null`.
fn contributed_default(setting: &Setting) -> Json {
    match (setting.default, cleared(setting)) {
        (DefaultValue::Null, Cleared::Blank) => Json::str(""),
        (DefaultValue::Null, _) => Json::Null,
        (DefaultValue::Bool(b), _) => Json::Bool(b),
        (DefaultValue::Int(n), _) => Json::Int(n),
        (DefaultValue::Number(x), _) => Json::Number(x),
        (DefaultValue::Text(s), _) => Json::str(s),
        (DefaultValue::EmptyList, _) => Json::Array(vec![]),
    }
}

fn description(setting: &Setting) -> String {
    let null = match (cleared(setting), setting.null_means) {
        (Cleared::Zero, Some(means)) => format!(" Empty or `0`: {means}."),
        (Cleared::Blank, Some(means)) => format!(" Empty: {means}."),
        _ => String::new(),
    };
    let change = match setting.on_change {
        OnChange::Applies => "",
        OnChange::ReloadsModel => " Changing it reloads the model.",
        OnChange::NeedsRestart => " A change applies when the server restarts.",
    };
    format!("{}{null}{change}", setting.doc)
}

fn property(setting: &Setting) -> Json {
    let mut fields = schema(setting);
    fields.push(("default".into(), contributed_default(setting)));
    fields.extend(bounds(setting));
    if setting.scope == Scope::MachineOverridable {
        fields.push(("scope".into(), Json::str("machine-overridable")));
    }
    fields.push((
        "markdownDescription".into(),
        Json::Str(description(setting)),
    ));
    Json::Object(fields)
}

/// `contributes.configuration.properties`: the server's settings, then the extension's own.
pub fn properties() -> Json {
    Json::Object(
        SETTINGS
            .iter()
            .chain(EDITOR_SETTINGS)
            .map(|s| (format!("dllm.{}", s.key), property(s)))
            .collect(),
    )
}

/// A TypeScript string literal.
fn ts_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn ts_type(setting: &Setting) -> String {
    let base = match setting.kind {
        Kind::Bool => "boolean".to_string(),
        Kind::Int { .. } | Kind::Number { .. } => "number".into(),
        // A string: values reach the server as the user wrote them, for it to check.
        Kind::Choice { .. } | Kind::Text { .. } => "string".into(),
        Kind::List { .. } => "string[]".into(),
    };
    match setting.null_means {
        Some(_) => format!("{base} | null"),
        None => base,
    }
}

fn ts_value(default: DefaultValue) -> String {
    match default {
        DefaultValue::Null => "null".into(),
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::Int(n) => n.to_string(),
        DefaultValue::Number(x) => x.to_string(),
        DefaultValue::Text(s) => ts_string(s),
        DefaultValue::EmptyList => "[]".into(),
    }
}

/// `export const NAME = [ … ] as const;` (or typed, where `type_` is given), with a doc line.
fn ts_list<'a>(
    doc: &str,
    name: &str,
    type_: Option<&str>,
    keys: impl Iterator<Item = &'a str>,
) -> String {
    let items: String = keys.map(|k| format!("  {},\n", ts_string(k))).collect();
    let (annotation, suffix) = match type_ {
        Some(t) => (format!(": {t}"), ""),
        None => (String::new(), " as const"),
    };
    format!("/** {doc} */\nexport const {name}{annotation} = [\n{items}]{suffix};\n")
}

fn server_keys_where(keep: impl Fn(&Setting) -> bool) -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(move |s| keep(s)).map(|s| s.key)
}

fn ts_interface() -> String {
    let fields: String = SETTINGS
        .iter()
        .map(|s| format!("  {}: {};\n", s.key, ts_type(s)))
        .collect();
    let defaults: String = SETTINGS
        .iter()
        .map(|s| format!("  {}: {},\n", s.key, ts_value(s.default)))
        .collect();
    format!(
        "/** What the server receives: every key, `null` where the server's \"off\" or \"default\" is `None`. */\n\
         export interface ServerSettings {{\n{fields}}}\n\n\
         /** The server's defaults (`null` where VS Code's contributed default is a blank or `0`). */\n\
         export const SERVER_DEFAULTS: ServerSettings = {{\n{defaults}}};\n"
    )
}

/// `editors/vscode/src/settings.generated.ts`.
pub fn settings_ts() -> String {
    let restart = SETTINGS
        .iter()
        .chain(EDITOR_SETTINGS)
        .filter(|s| s.on_change == OnChange::NeedsRestart)
        .map(|s| s.key);
    let sections = [
        ts_list(
            "The server's settings keys.",
            "SERVER_KEYS",
            None,
            server_keys_where(|_| true),
        ),
        "export type ServerKey = (typeof SERVER_KEYS)[number];\n".to_string(),
        ts_interface(),
        ts_list(
            "Settings of the extension itself, never sent to the server.",
            "CLIENT_KEYS",
            None,
            EDITOR_SETTINGS.iter().map(|s| s.key),
        ),
        ts_list(
            "Keys whose change makes the server load its model again.",
            "RELOAD_KEYS",
            Some("readonly ServerKey[]"),
            server_keys_where(|s| s.on_change == OnChange::ReloadsModel),
        ),
        ts_list(
            "Keys whose change needs a new server process rather than didChangeConfiguration.",
            "RESTART_KEYS",
            None,
            restart,
        ),
        ts_list(
            "Keys whose `null` the settings UI cannot write: `0` stands for it.",
            "ZERO_MEANS_NULL",
            Some("readonly ServerKey[]"),
            server_keys_where(|s| cleared(s) == Cleared::Zero),
        ),
        ts_list(
            "Keys whose blank value (a cleared field of the settings UI) means `null`.",
            "BLANK_MEANS_NULL",
            Some("readonly ServerKey[]"),
            server_keys_where(|s| cleared(s) == Cleared::Blank),
        ),
        ts_list(
            "The LSP language ids the server serves (grammars/src/language.rs).",
            "LANGUAGE_IDS",
            None,
            Language::LANGUAGE_IDS.iter().copied(),
        ),
    ];
    format!(
        "// Generated from the settings table, server/src/config/table.rs: edit the table and run\n\
         // `{REGENERATE}`, which rewrites this file.\n\n{}",
        sections.join("\n")
    )
}
