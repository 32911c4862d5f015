//! JSON in a chosen key order, printed as `JSON.stringify(value, null, 2)` prints it (serde_json
//! sorts object keys), and spliced into a file's text without touching the rest.

/// A JSON value whose objects keep their keys in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(u64),
    Number(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    pub fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Json {
        Json::Array(items.into_iter().map(Json::str).collect())
    }

    /// Two-space indented, the first line unindented and the rest `indent` spaces further in:
    /// the text that follows `"key": ` on a line indented by `indent`.
    pub fn pretty(&self, indent: usize) -> String {
        let mut out = String::new();
        self.write(&mut out, indent);
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            // Rust prints 1.0 as "1" and 0.9 as "0.9", as JavaScript does.
            Json::Number(x) => out.push_str(&x.to_string()),
            Json::Str(s) => out.push_str(&quote(s)),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Object(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Array(items) => {
                let items: Vec<String> = items.iter().map(|v| v.pretty(indent + 2)).collect();
                write_block(out, indent, ('[', ']'), &items);
            }
            Json::Object(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), v.pretty(indent + 2)))
                    .collect();
                write_block(out, indent, ('{', '}'), &fields);
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn write_block(out: &mut String, indent: usize, (open, close): (char, char), items: &[String]) {
    let inner = " ".repeat(indent + 2);
    out.push(open);
    out.push('\n');
    out.push_str(&format!("{inner}{}", items.join(&format!(",\n{inner}"))));
    out.push('\n');
    out.push_str(&" ".repeat(indent));
    out.push(close);
}

/// `text` with the value of the first `"key":` after `anchor` replaced by `value` (an object
/// or an array), indented as the key's line is; `None` when either is not found.
pub fn splice_value(text: &str, anchor: &str, key: &str, value: &Json) -> Option<String> {
    let from = text.find(anchor)?;
    let quoted = format!("{}:", quote(key));
    let key_at = from + text[from..].find(&quoted)?;
    let start = key_at + quoted.len() + leading_spaces(&text[key_at + quoted.len()..]);
    let end = start + value_len(&text[start..])?;
    let line_start = text[..key_at].rfind('\n').map_or(0, |i| i + 1);
    let indent = leading_spaces(&text[line_start..]);
    Some(format!(
        "{}{}{}",
        &text[..start],
        value.pretty(indent),
        &text[end..]
    ))
}

fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches([' ', '\t']).len()
}

/// The length of the object or array that `text` starts with, skipping brackets in strings.
fn value_len(text: &str) -> Option<usize> {
    if !text.starts_with(['{', '[']) {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '{' | '[') => depth += 1,
            (false, _, '}' | ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            (false, _, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_javascript_does_and_keeps_key_order() {
        let v = Json::Object(vec![
            ("b".into(), Json::strings(["x", "y\"}"])),
            ("a".into(), Json::Number(1.0)),
            ("c".into(), Json::Array(vec![])),
            ("d".into(), Json::Number(0.9)),
        ]);
        assert_eq!(
            v.pretty(2),
            "{\n    \"b\": [\n      \"x\",\n      \"y\\\"}\"\n    ],\n    \"a\": 1,\n    \"c\": [],\n    \"d\": 0.9\n  }"
        );
    }

    #[test]
    fn splices_one_value_and_leaves_the_rest() {
        let text = "{\n  \"x\": {\"k\": \"}\"},\n  \"c\": {\n    \"k\": [1, {\"a\": 2}],\n    \"z\": 1\n  }\n}\n";
        let spliced = splice_value(text, "\"c\"", "k", &Json::strings(["n"])).unwrap();
        assert_eq!(
            spliced,
            "{\n  \"x\": {\"k\": \"}\"},\n  \"c\": {\n    \"k\": [\n      \"n\"\n    ],\n    \"z\": 1\n  }\n}\n"
        );
        assert_eq!(splice_value(text, "\"nope\"", "k", &Json::Null), None);
    }
}
