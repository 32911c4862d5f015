//! The languages dllm-ls understands, found by LSP language id or file extension, and the node
//! kinds of each grammar that the rest of the crate climbs to.

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

    /// The LSP language ids editors send for these languages. The editor integrations' lists
    /// (VS Code's activation events, menus and `languages` setting, Neovim's filetypes, the
    /// README) are generated from this one by server/tests/settings_table.rs.
    pub const LANGUAGE_IDS: [&'static str; 7] = [
        "rust",
        "python",
        "javascript",
        "javascriptreact",
        "typescript",
        "typescriptreact",
        "go",
    ];

    /// By LSP `languageId`. JSX goes to the JavaScript grammar, which parses JSX itself.
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

    /// By file extension, without the dot (`"rs"`, `"pyi"`, `"mts"`, …). Case-sensitive, as
    /// editors report it.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "rs" => Language::Rust,
            "py" | "pyi" => Language::Python,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            _ => return None,
        })
    }

    pub fn from_path(path: &Path) -> Option<Self> {
        Self::from_extension(path.extension()?.to_str()?)
    }

    /// A short lowercase name; [`Language::from_language_id`] maps it back.
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

    /// The tree-sitter grammar. TypeScript and TSX are separate grammars: `<T>x` is a cast in
    /// one and a JSX element in the other.
    pub fn tree_sitter_language(self) -> tree_sitter::Language {
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
                    | "generator_function"
            ),
            Language::Go => matches!(
                kind,
                "function_declaration" | "method_declaration" | "func_literal"
            ),
        }
    }

    /// Node kinds that are blocks: braces around statements or members (or, in Python, an
    /// indented suite). Go's `statement_list` is not one: it sits inside a `block`, which is
    /// the node that owns the braces.
    pub(crate) fn is_block(self, kind: &str) -> bool {
        match self {
            Language::Rust => matches!(kind, "block" | "declaration_list"),
            Language::Python => kind == "block",
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                matches!(kind, "statement_block" | "class_body")
            }
            Language::Go => kind == "block",
        }
    }

    /// Node kinds whose children are statements: blocks, Go's statement lists and the file.
    pub(crate) fn holds_statements(self, kind: &str) -> bool {
        self.is_block(kind)
            || matches!(kind, "source_file" | "module" | "program")
            || (self == Language::Go && kind == "statement_list")
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
    fn every_language_id_and_extension_of_the_brief() {
        let ids = [
            ("rust", Language::Rust),
            ("python", Language::Python),
            ("javascript", Language::JavaScript),
            ("javascriptreact", Language::JavaScript),
            ("typescript", Language::TypeScript),
            ("typescriptreact", Language::Tsx),
            ("go", Language::Go),
        ];
        for (id, lang) in ids {
            assert_eq!(Language::from_language_id(id), Some(lang), "{id}");
        }
        let exts = [
            ("rs", Language::Rust),
            ("py", Language::Python),
            ("pyi", Language::Python),
            ("js", Language::JavaScript),
            ("mjs", Language::JavaScript),
            ("cjs", Language::JavaScript),
            ("jsx", Language::JavaScript),
            ("ts", Language::TypeScript),
            ("mts", Language::TypeScript),
            ("cts", Language::TypeScript),
            ("tsx", Language::Tsx),
            ("go", Language::Go),
        ];
        for (ext, lang) in exts {
            assert_eq!(Language::from_extension(ext), Some(lang), "{ext}");
            let path = format!("dir.d/file.{ext}");
            assert_eq!(Language::from_path(Path::new(&path)), Some(lang), "{path}");
        }
        for unknown in ["cobol", "", "Rust", "c"] {
            assert_eq!(Language::from_language_id(unknown), None, "{unknown}");
        }
        for unknown in ["c", "", "RS", "txt"] {
            assert_eq!(Language::from_extension(unknown), None, "{unknown}");
        }
        assert_eq!(Language::from_path(Path::new("Makefile")), None);
        assert_eq!(Language::from_path(Path::new("rs")), None);
        for l in Language::ALL {
            assert_eq!(Language::from_language_id(l.name()), Some(l));
        }
    }

    #[test]
    fn the_editors_language_ids_reach_every_language() {
        let reached: Vec<Language> = Language::LANGUAGE_IDS
            .iter()
            .map(|id| Language::from_language_id(id).unwrap_or_else(|| panic!("{id}")))
            .collect();
        for l in Language::ALL {
            assert!(reached.contains(&l), "no editor language id for {l:?}");
        }
    }

    #[test]
    fn every_grammar_loads_and_is_abi_compatible() {
        for l in Language::ALL {
            let mut parser = tree_sitter::Parser::new();
            parser
                .set_language(&l.tree_sitter_language())
                .unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
    }
}
