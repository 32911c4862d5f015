//! The languages dllm-ls understands, found by LSP language id or file extension.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
}

impl Language {
    pub const ALL: [Language; 6] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
    ];

    pub fn from_language_id(id: &str) -> Option<Self> {
        Some(match id {
            "rust" => Language::Rust,
            "python" => Language::Python,
            "javascript" | "javascriptreact" | "jsx" => Language::JavaScript,
            "typescript" => Language::TypeScript,
            "typescriptreact" | "tsx" => Language::Tsx,
            "go" => Language::Go,
            _ => return None,
        })
    }

    pub fn from_path(path: &Path) -> Option<Self> {
        Some(match path.extension()?.to_str()? {
            "rs" => Language::Rust,
            "py" | "pyi" => Language::Python,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
        }
    }

    pub(crate) fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }

    /// Node kinds that are functions (their body is what "fill holes" works on).
    pub(crate) fn is_function(self, kind: &str) -> bool {
        match self {
            Language::Rust => matches!(kind, "function_item" | "closure_expression"),
            Language::Python => kind == "function_definition",
            Language::JavaScript | Language::TypeScript | Language::Tsx => matches!(
                kind,
                "function_declaration"
                    | "function_expression"
                    | "function"
                    | "arrow_function"
                    | "method_definition"
                    | "generator_function_declaration"
            ),
            Language::Go => matches!(
                kind,
                "function_declaration" | "method_declaration" | "func_literal"
            ),
        }
    }

    /// Node kinds that hold a sequence of statements.
    pub(crate) fn is_block(self, kind: &str) -> bool {
        match self {
            Language::Rust => matches!(kind, "block" | "declaration_list"),
            Language::Python => kind == "block",
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                matches!(kind, "statement_block" | "class_body")
            }
            Language::Go => matches!(kind, "block" | "statement_list"),
        }
    }

    /// Whether blocks are delimited by braces (else by indentation: Python).
    pub(crate) fn braces(self) -> bool {
        self != Language::Python
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_id_and_extension() {
        assert_eq!(
            Language::from_language_id("typescriptreact"),
            Some(Language::Tsx)
        );
        assert_eq!(Language::from_language_id("cobol"), None);
        assert_eq!(
            Language::from_path(Path::new("src/main.rs")),
            Some(Language::Rust)
        );
        assert_eq!(
            Language::from_path(Path::new("a/b.pyi")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::from_path(Path::new("x.mjs")),
            Some(Language::JavaScript)
        );
        assert_eq!(Language::from_path(Path::new("x.go")), Some(Language::Go));
        assert_eq!(Language::from_path(Path::new("Makefile")), None);
        for l in Language::ALL {
            assert_eq!(Language::from_language_id(l.name()), Some(l));
        }
    }
}
