//! The checkpoint's chat template (`tokenizer_config.json` → `chat_template`), for instruction-
//! following checkpoints (LLaDA-Instruct, Dream-Instruct, DiffuCoder-Instruct). A checkpoint
//! without one does not follow instructions, and callers say so instead of pretending.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".into(),
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

/// `"<s>"` or `{"content": "<s>", ...}` in `tokenizer_config.json`.
fn token_string(json: &Value, key: &str) -> String {
    match json.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

impl ChatTemplate {
    /// The template of a parsed `tokenizer_config.json`, if it has one. (A list of named
    /// templates takes the one named "default".)
    pub fn from_tokenizer_config(json: &Value) -> Option<Self> {
        let source = match json.get("chat_template")? {
            Value::String(s) => s.clone(),
            Value::Array(list) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))?
                .get("template")?
                .as_str()?
                .to_string(),
            _ => return None,
        };
        Some(ChatTemplate {
            source,
            bos_token: token_string(json, "bos_token"),
            eos_token: token_string(json, "eos_token"),
        })
    }

    /// The prompt for `messages`, ending where the assistant's answer starts.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let mut env = Environment::new();
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(|e| Error::InvalidRequest(format!("chat template: {e}")))?;
        let template = env
            .get_template("chat")
            .map_err(|e| Error::InvalidRequest(format!("chat template: {e}")))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| Error::InvalidRequest(format!("chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_chatml_template_with_the_generation_prompt() {
        let config = serde_json::json!({
            "bos_token": {"content": "<s>"},
            "chat_template": "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        });
        let t = ChatTemplate::from_tokenizer_config(&config).unwrap();
        let out = t.render(&[ChatMessage::user(" make it faster ")]).unwrap();
        assert_eq!(
            out,
            "<s><|im_start|>user\nmake it faster<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(ChatTemplate::from_tokenizer_config(&serde_json::json!({})).is_none());
        let bad = ChatTemplate::from_tokenizer_config(
            &serde_json::json!({"chat_template": "{{ raise_exception('no') }}"}),
        )
        .unwrap();
        assert!(bad.render(&[]).unwrap_err().to_string().contains("no"));
    }
}
