//! A setting's JSON value, checked against its table entry and stored in its field.

use serde_json::Value;

use super::table::{Choice, DefaultValue, Field, Kind, Min, Setting, Spelling};

/// A value that passed its setting's checks.
#[derive(Debug)]
pub(super) enum Parsed {
    Null,
    Bool(bool),
    Int(u64),
    Number(f32),
    Text(String),
    List(Vec<String>),
}

/// What a setting accepts, as a refusal says it ("expected …").
fn expected(setting: &Setting) -> String {
    match setting.kind {
        Kind::Bool => "expected true or false".into(),
        Kind::Int { min: 0, max: None } => "expected a non-negative integer".into(),
        Kind::Int { min, max: None } => format!("expected an integer of {min} or more"),
        Kind::Int {
            min,
            max: Some(max),
        } => format!("expected an integer from {min} to {max}"),
        Kind::Number {
            min: Min::Inclusive(min),
            max,
        } => format!("expected a number from {min} to {max}"),
        Kind::Number {
            min: Min::Exclusive(min),
            max,
        } => format!("expected a number in ({min}, {max}]"),
        Kind::Choice { choices, .. } => expected_choice(choices),
        Kind::Text { expected } => format!("expected {expected}"),
        Kind::List { .. } => "expected a list of strings".into(),
    }
}

fn expected_choice(choices: &[Choice]) -> String {
    match choices {
        [a, b] => format!("expected \"{}\" or \"{}\"", a.name, b.name),
        _ => {
            let names: Vec<&str> = choices.iter().map(|c| c.name).collect();
            format!("expected one of {}", names.join(", "))
        }
    }
}

/// Checks a value against its setting: `Err` says what was expected.
pub(super) fn parse(setting: &Setting, v: &Value) -> Result<Parsed, String> {
    if v.is_null() {
        return match setting.null_means {
            Some(_) => Ok(Parsed::Null),
            None => Err(expected(setting)),
        };
    }
    parse_value(setting.kind, v).ok_or_else(|| expected(setting))
}

fn parse_value(kind: Kind, v: &Value) -> Option<Parsed> {
    match kind {
        Kind::Bool => v.as_bool().map(Parsed::Bool),
        Kind::Int { min, max } => v
            .as_u64()
            .filter(|n| *n >= min && max.is_none_or(|max| *n <= max))
            .map(Parsed::Int),
        Kind::Number { min, max } => v
            .as_f64()
            .and_then(|x| number_within(x, min, max))
            .map(Parsed::Number),
        Kind::Choice {
            choices,
            spelling: Spelling::Exact,
        } => v
            .as_str()
            .filter(|s| choices.iter().any(|c| c.name == *s))
            .map(|s| Parsed::Text(s.to_string())),
        Kind::Choice {
            spelling: Spelling::Lenient,
            ..
        }
        | Kind::Text { .. } => v.as_str().map(|s| Parsed::Text(s.to_string())),
        Kind::List { .. } => v
            .as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Parsed::List),
    }
}

/// Within the bounds both as given and as the f32 the sampler keeps: a tiny positive number
/// would round to a `topP` of 0.
fn number_within(x: f64, min: Min, max: f64) -> Option<f32> {
    let within = |x: f64| {
        x <= max
            && match min {
                Min::Inclusive(m) => x >= m,
                Min::Exclusive(m) => x > m,
            }
    };
    let narrow = x as f32;
    (within(x) && within(f64::from(narrow))).then_some(narrow)
}

/// Sets `slot`; whether its value changed.
fn put<T: PartialEq>(slot: &mut T, value: T) -> bool {
    let changed = *slot != value;
    *slot = value;
    changed
}

/// Stores a checked value in its field; whether the field changed. A value of the wrong type
/// for its field is a mistake in the table, refused like a bad value (the table's tests apply
/// every default and bound, so it is never reached).
pub(super) fn store(field: Field<'_>, value: Parsed) -> Result<bool, String> {
    Ok(match (field, value) {
        (Field::Bool(f), Parsed::Bool(b)) => put(f, b),
        (Field::Count(f), Parsed::Int(n)) => put(f, n as usize),
        (Field::MaybeCount(f), Parsed::Int(n)) => put(f, Some(n as usize)),
        (Field::MaybeCount(f), Parsed::Null) => put(f, None),
        (Field::Seed(f), Parsed::Int(n)) => put(f, n),
        (Field::Number(f), Parsed::Number(x)) => put(f, x),
        (Field::MaybeNumber(f), Parsed::Number(x)) => put(f, Some(x)),
        (Field::MaybeNumber(f), Parsed::Null) => put(f, None),
        (Field::Text(f), Parsed::Text(s)) => put(f, s),
        (Field::MaybeText(f), Parsed::Text(s)) => put(f, Some(s)),
        (Field::MaybeText(f), Parsed::Null) => put(f, None),
        (Field::Strategy(f), Parsed::Text(s)) => put(f, s.parse().map_err(|e| format!("{e}"))?),
        (Field::List(f), Parsed::List(l)) => put(f, l),
        (_, value) => return Err(format!("the settings table has no field for {value:?}")),
    })
}

impl DefaultValue {
    pub fn to_json(self) -> Value {
        match self {
            DefaultValue::Null => Value::Null,
            DefaultValue::Bool(b) => b.into(),
            DefaultValue::Int(n) => n.into(),
            DefaultValue::Number(x) => x.into(),
            DefaultValue::Text(s) => s.into(),
            DefaultValue::EmptyList => Value::Array(vec![]),
        }
    }
}

/// A key or value as a warning quotes it: warnings reach the user as they are, so a huge value
/// is cut short.
pub(super) fn brief(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
