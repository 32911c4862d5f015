//! The next-edit benchmark's cases: held-out files, one edit a user made in each, and the edit
//! that should follow it (or none), with how a suggestion is graded and the rule-only baseline.

#[cfg(feature = "testing")]
pub mod fixtures;
pub mod grade;
pub mod make;
pub mod naming;
pub mod report;
pub mod rule;
pub mod typing;

use std::ops::Range;

/// What the user did, and so what should follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A parameter renamed at its definition: its next use follows.
    RenameParameter,
    /// A parameter added at the end of a definition: the next call site gets an argument.
    AddArgument,
    /// A field renamed (at its declaration or a use): its next use follows.
    RenameField,
    /// A literal changed in one of several parallel lines: the same change on the next line.
    ParallelLiteral,
    /// A parameter or field renamed that has no other occurrence in the window: nothing.
    NoneUnused,
    /// A parameter renamed whose own function never uses it, while another function in the
    /// window has a variable of the same name: nothing.
    NoneOtherFunction,
    /// A parameter added to a function with no call site in the window: nothing.
    NoneNoCall,
    /// A literal changed whose spelling appears nowhere else in the window: nothing.
    NoneLoneLiteral,
    /// A word inserted into a comment: nothing.
    NoneComment,
    /// A blank line inserted before a function: nothing.
    NoneWhitespace,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::RenameParameter,
        Kind::AddArgument,
        Kind::RenameField,
        Kind::ParallelLiteral,
        Kind::NoneUnused,
        Kind::NoneOtherFunction,
        Kind::NoneNoCall,
        Kind::NoneLoneLiteral,
        Kind::NoneComment,
        Kind::NoneWhitespace,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::RenameParameter => "rename parameter",
            Kind::AddArgument => "add argument",
            Kind::RenameField => "rename field",
            Kind::ParallelLiteral => "parallel literal",
            Kind::NoneUnused => "none: unused name",
            Kind::NoneOtherFunction => "none: other function's local",
            Kind::NoneNoCall => "none: no call in window",
            Kind::NoneLoneLiteral => "none: lone literal",
            Kind::NoneComment => "none: comment edit",
            Kind::NoneWhitespace => "none: blank line",
        }
    }

    /// Whether a case of this kind has an expected edit.
    pub fn expects_edit(self) -> bool {
        matches!(
            self,
            Kind::RenameParameter | Kind::AddArgument | Kind::RenameField | Kind::ParallelLiteral
        )
    }
}

/// Replace `range` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub range: Range<usize>,
    pub text: String,
}

impl Replacement {
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        out.replace_range(self.range.clone(), &self.text);
        out
    }
}

/// The edit that should follow, in the text after the user's edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Nothing,
    /// This exact replacement (judged by the document it makes).
    Replace(Replacement),
    /// One more argument at the end of this argument list (parentheses included).
    AppendArgument {
        arguments: Range<usize>,
    },
}

/// One case: a held-out file, the user's edit, and what should follow.
#[derive(Debug, Clone)]
pub struct Case {
    pub lang: String,
    pub path: String,
    pub kind: Kind,
    pub before: String,
    /// The user's edit, in `before`.
    pub edit: Replacement,
    pub after: String,
    /// Where the cursor is after the edit: the end of its new text.
    pub cursor: usize,
    pub expected: Expected,
}

impl Case {
    pub fn new(
        lang: &str,
        path: &str,
        kind: Kind,
        before: &str,
        edit: Replacement,
        expected: Expected,
    ) -> Self {
        let after = edit.apply(before);
        Case {
            lang: lang.to_string(),
            path: path.to_string(),
            kind,
            before: before.to_string(),
            cursor: edit.range.start + edit.text.len(),
            edit,
            after,
            expected,
        }
    }

    /// Where the user's edit lies in `after`, and the text it replaced.
    pub fn edited(&self) -> (Range<usize>, &str) {
        let start = self.edit.range.start;
        (
            start..start + self.edit.text.len(),
            &self.before[self.edit.range.clone()],
        )
    }
}

/// splitmix64: a seeded generator, so the same seed gives the same cases on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Whether `c` can be part of an identifier.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every occurrence of `word` in `text[within]` not glued to other identifier characters.
pub fn whole_word_occurrences(text: &str, word: &str, within: Range<usize>) -> Vec<Range<usize>> {
    if word.is_empty() {
        return Vec::new();
    }
    let glued_left = word.starts_with(is_word_char);
    let glued_right = word.ends_with(is_word_char);
    let mut out = Vec::new();
    let mut from = within.start;
    while let Some(i) = text[from..within.end].find(word) {
        let (start, end) = (from + i, from + i + word.len());
        let left_ok = !glued_left || !text[..start].ends_with(is_word_char);
        let right_ok = !glued_right || !text[end..].starts_with(is_word_char);
        if left_ok && right_ok {
            out.push(start..end);
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// Of `candidates`, the nearest that starts at or after `after`, else the nearest that ends at
/// or before `before`: the "next" occurrence of the rule the cases follow.
pub fn nearest(candidates: &[Range<usize>], before: usize, after: usize) -> Option<Range<usize>> {
    let next = candidates
        .iter()
        .filter(|r| r.start >= after)
        .min_by_key(|r| r.start);
    let previous = || {
        candidates
            .iter()
            .filter(|r| r.end <= before)
            .max_by_key(|r| r.end)
    };
    next.or_else(previous).cloned()
}
