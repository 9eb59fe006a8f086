//! Request limits: Tributary's own checks of a GraphQL document, before async-graphql sees it.
//!
//! async-graphql's dynamic schema limits depth and complexity only, and only after parsing
//! and validating the whole document. A public endpoint needs more, and needs it cheaply:
//!
//! 1. On the source text, before parsing ([`Limits::check_source`]): its size in bytes
//!    (`graphql.max_document_bytes`) and its number of lexical tokens (`graphql.max_tokens`),
//!    counted by a small scanner that builds nothing and stops at the limit. The scanner also
//!    refuses bracket nesting deeper than [`MAX_NESTING`], which no real document reaches and
//!    which would otherwise cost the recursive parser its stack.
//! 2. On the parsed document, before validation ([`Limits::check_document`]): depth
//!    (`graphql.max_depth`), complexity (`graphql.max_complexity`), aliases
//!    (`graphql.max_aliases`) and root fields (`graphql.max_root_fields`). Fragments count
//!    where they are spread, each fragment measured once (memoized), so a "fragment bomb"
//!    (fragments spreading others many times) is measured in linear time and refused by its
//!    expanded size. Fragment cycles are refused here too.
//!
//! Depth and complexity follow async-graphql's own definitions (a field is 1 plus its
//! children; depth counts nested fields; every operation of the document counts), so its
//! checks, still configured with the same values, stay a backstop that never fires first.
//!
//! Each refusal is a request error with `extensions.code = "LIMIT_EXCEEDED"`,
//! `extensions.limit` (the setting's name, e.g. `graphql.max_aliases`) and `extensions.max`.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError};

/// Brackets (`{`, `[`, `(`) nested deeper than this are refused before parsing, whatever the
/// settings: async-graphql's parser recurses per level (and refuses selection sets nested
/// deeper than 64 anyway).
pub const MAX_NESTING: usize = 128;

/// The limits of one server (from `[graphql]`); `0` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_document_bytes: usize,
    pub max_tokens: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

impl Default for Limits {
    /// The documented defaults (see `GraphqlSettings`).
    fn default() -> Self {
        Limits {
            max_document_bytes: 128 * 1024,
            max_tokens: 15_000,
            max_depth: 15,
            max_complexity: 1000,
            max_aliases: 50,
            max_root_fields: 20,
        }
    }
}

/// A refused document: which limit, its value, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The setting, e.g. `graphql.max_tokens`.
    pub limit: &'static str,
    /// The setting's value.
    pub max: usize,
    pub message: String,
}

impl LimitExceeded {
    fn new(limit: &'static str, max: usize, message: String) -> Self {
        LimitExceeded {
            limit,
            max,
            message,
        }
    }

    /// The GraphQL error: `LIMIT_EXCEEDED` with `limit` and `max`.
    pub fn to_server_error(&self) -> ServerError {
        let mut error = ServerError::new(self.message.clone(), None);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", "LIMIT_EXCEEDED");
        ext.set("limit", self.limit);
        ext.set("max", self.max as u64);
        error.extensions = Some(ext);
        error
    }
}

/// Why a parsed document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentRefusal {
    Limit(LimitExceeded),
    /// A fragment spreads itself (directly or not): invalid, and infinite when expanded.
    FragmentCycle(String),
}

impl Limits {
    /// Checks the source text: bytes, then tokens (and bracket nesting), without parsing.
    pub fn check_source(&self, text: &str) -> Result<(), LimitExceeded> {
        if self.max_document_bytes > 0 && text.len() > self.max_document_bytes {
            return Err(LimitExceeded::new(
                "graphql.max_document_bytes",
                self.max_document_bytes,
                format!(
                    "the document is {} bytes, more than graphql.max_document_bytes ({})",
                    text.len(),
                    self.max_document_bytes
                ),
            ));
        }
        let budget = if self.max_tokens == 0 {
            usize::MAX
        } else {
            self.max_tokens
        };
        match scan(text, budget) {
            Scan::Tokens(_) => Ok(()),
            Scan::TooManyTokens => Err(LimitExceeded::new(
                "graphql.max_tokens",
                self.max_tokens,
                format!(
                    "the document has more than graphql.max_tokens ({}) tokens",
                    self.max_tokens
                ),
            )),
            Scan::TooDeep => Err(LimitExceeded::new(
                "graphql.max_nesting",
                MAX_NESTING,
                format!("the document nests brackets more than {MAX_NESTING} levels deep"),
            )),
        }
    }

    /// Checks the parsed document: depth, complexity, aliases, root fields.
    pub fn check_document(&self, doc: &ExecutableDocument) -> Result<(), DocumentRefusal> {
        let m = measure(doc)?;
        let checks = [
            (
                "graphql.max_depth",
                self.max_depth,
                m.depth,
                "the query is nested",
                "levels deep",
            ),
            (
                "graphql.max_complexity",
                self.max_complexity,
                m.complexity,
                "the query selects",
                "fields (its complexity)",
            ),
            (
                "graphql.max_aliases",
                self.max_aliases,
                m.aliases,
                "the query has",
                "aliases",
            ),
            (
                "graphql.max_root_fields",
                self.max_root_fields,
                m.root_fields,
                "an operation selects",
                "root fields",
            ),
        ];
        for (limit, max, actual, what, unit) in checks {
            if max > 0 && actual > max {
                return Err(DocumentRefusal::Limit(LimitExceeded::new(
                    limit,
                    max,
                    format!("{what} {actual} {unit}, more than {limit} ({max})"),
                )));
            }
        }
        Ok(())
    }
}

/// What a document costs, fragments expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// The deepest field nesting (a root field is 1).
    pub depth: usize,
    /// Fields selected: each field is 1 plus its children (async-graphql's default).
    pub complexity: usize,
    /// Aliased fields.
    pub aliases: usize,
    /// The most root fields of one operation.
    pub root_fields: usize,
}

/// The cost of one selection set.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    depth: usize,
    complexity: usize,
    aliases: usize,
    /// Fields at this level (fragments expanded): the root field count of an operation.
    fields: usize,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.complexity = self.complexity.saturating_add(other.complexity);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.fields = self.fields.saturating_add(other.fields);
    }
}

/// Measures every operation of a document (as async-graphql's validation does).
pub fn measure(doc: &ExecutableDocument) -> Result<Measure, DocumentRefusal> {
    let mut walker = Walker {
        doc,
        memo: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut out = Measure::default();
    for (_, op) in doc.operations.iter() {
        let cost = walker.selection_set(&op.node.selection_set.node)?;
        out.depth = out.depth.max(cost.depth);
        out.complexity = out.complexity.saturating_add(cost.complexity);
        out.aliases = out.aliases.saturating_add(cost.aliases);
        out.root_fields = out.root_fields.max(cost.fields);
    }
    Ok(out)
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    /// Fragment name → its selection set's cost (a fragment's cost does not depend on where
    /// it is spread).
    memo: HashMap<&'a str, Cost>,
    /// Fragments being measured (cycle detection).
    visiting: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Cost, DocumentRefusal> {
        let mut cost = Cost::default();
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let children = self.selection_set(&f.node.selection_set.node)?;
                    cost.add(Cost {
                        depth: children.depth + 1,
                        complexity: children.complexity.saturating_add(1),
                        aliases: children.aliases + usize::from(f.node.alias.is_some()),
                        fields: 1,
                    });
                }
                Selection::InlineFragment(fr) => {
                    cost.add(self.selection_set(&fr.node.selection_set.node)?);
                }
                Selection::FragmentSpread(sp) => {
                    cost.add(self.fragment(sp.node.fragment_name.node.as_str())?);
                }
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &str) -> Result<Cost, DocumentRefusal> {
        if let Some(cost) = self.memo.get(name) {
            return Ok(*cost);
        }
        // An unknown fragment costs nothing here: validation reports it.
        let Some((key, fragment)) = self.doc.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        let key: &'a str = key.as_str();
        if self.visiting.contains(&key) {
            return Err(DocumentRefusal::FragmentCycle(key.to_string()));
        }
        self.visiting.push(key);
        let cost = self.selection_set(&fragment.node.selection_set.node);
        self.visiting.pop();
        let cost = cost?;
        self.memo.insert(key, cost);
        Ok(cost)
    }
}

/// The outcome of [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Within the budget: the number of tokens.
    Tokens(usize),
    TooManyTokens,
    TooDeep,
}

/// Counts GraphQL lexical tokens (punctuators, names, numbers, strings, block strings) in
/// `text`, stopping as soon as there are more than `budget`. Ignored tokens (white space,
/// line terminators, commas, comments, the byte order mark) do not count. Invalid characters
/// count as one token each: the parser reports them. Also refuses bracket nesting deeper than
/// [`MAX_NESTING`].
pub fn scan(text: &str, budget: usize) -> Scan {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut tokens = 0usize;
    let mut nesting = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            // The byte order mark (EF BB BF).
            0xEF if bytes.get(i + 1) == Some(&0xBB) && bytes.get(i + 2) == Some(&0xBF) => {
                i += 3;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i = if bytes[i..].starts_with(b"\"\"\"") {
                    skip_block_string(bytes, i + 3)
                } else {
                    skip_string(bytes, i + 1)
                };
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'{' | b'[' | b'(' => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Scan::TooDeep;
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                i += 1;
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                // IntValue / FloatValue: sign, digits, fraction, exponent (a malformed number
                // is still one token here; the parser reports it).
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'.'
                        || ((bytes[i] == b'+' || bytes[i] == b'-')
                            && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
            }
            _ => {
                // A punctuator (`! $ & : = @ | .`) or an invalid character: one token.
                i += 1;
                while i < bytes.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
            }
        }
        tokens += 1;
        if tokens > budget {
            return Scan::TooManyTokens;
        }
    }
    Scan::Tokens(tokens)
}

/// Skips a string's body after its opening quote; returns the index after the closing quote
/// (or the line end / text end of an unterminated string).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Skips a block string's body after its opening `"""`; returns the index after the closing
/// `"""` (`\"""` does not close it).
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> usize {
        match scan(text, usize::MAX) {
            Scan::Tokens(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tokens_are_counted_as_the_lexer_sees_them() {
        assert_eq!(tokens("{ a }"), 3);
        assert_eq!(
            tokens("query Q($id: ID!) { product(id: $id) { ...F } }"),
            22
        );
        assert_eq!(tokens("{ a(x: -1.5e+10, y: 42) }"), 11);
        assert_eq!(tokens("\u{feff}{ a, b, c }"), 5);
    }

    #[test]
    fn strings_block_strings_and_comments_are_one_token_or_none() {
        assert_eq!(tokens(r#"{ a(s: "x { y } \" z") }"#), 8);
        assert_eq!(tokens("{ a(s: \"\"\" { \\\"\"\" } \"\"\") }"), 8);
        assert_eq!(tokens("# { a b c }\n{ a } # more { }"), 3);
        assert_eq!(tokens("{ a(s: \"unterminated\n) }"), 8);
    }

    #[test]
    fn counting_stops_past_the_budget() {
        let huge = "{ a }".repeat(1_000_000);
        assert_eq!(scan(&huge, 10), Scan::TooManyTokens);
        assert_eq!(scan("{ a }", 3), Scan::Tokens(3));
        assert_eq!(scan("{ a }", 2), Scan::TooManyTokens);
    }

    #[test]
    fn deep_bracket_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "{a".repeat(200), "}".repeat(200));
        assert_eq!(scan(&deep, usize::MAX), Scan::TooDeep);
        let value = format!("{{ a(x: {}1{}) }}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(scan(&value, usize::MAX), Scan::Tokens(_)));
    }

    fn measured(q: &str) -> Measure {
        let doc = async_graphql::parser::parse_query(q).expect("parses");
        measure(&doc).expect("measures")
    }

    #[test]
    fn depth_complexity_aliases_and_root_fields_expand_fragments() {
        let m = measured(
            "query { a { b { c } } x: a { ...F } __typename } fragment F on A { y: b { c } d }",
        );
        assert_eq!(m.depth, 3);
        // a(1+b(1+c 1)) = 3; x(1 + y(1+c) + d) = 4; __typename 1
        assert_eq!(m.complexity, 8);
        assert_eq!(m.aliases, 2);
        assert_eq!(m.root_fields, 3);
    }

    #[test]
    fn a_fragment_bomb_is_measured_in_linear_time() {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
                n = i + 1
            ));
        }
        q.push_str("fragment F40 on Query { a }\n");
        let m = measured(&q);
        assert_eq!(m.complexity, 1 << 40);
        assert!(Limits::default()
            .check_document(&async_graphql::parser::parse_query(&q).expect("parses"))
            .is_err());
    }

    #[test]
    fn a_fragment_cycle_is_refused() {
        let doc = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        )
        .expect("parses");
        assert!(matches!(
            measure(&doc),
            Err(DocumentRefusal::FragmentCycle(_))
        ));
    }

    #[test]
    fn each_limit_is_reported_with_its_setting_and_value() {
        let limits = Limits {
            max_aliases: 1,
            ..Limits::default()
        };
        let doc = async_graphql::parser::parse_query("{ a: x b: x }").expect("parses");
        let Err(DocumentRefusal::Limit(e)) = limits.check_document(&doc) else {
            panic!("refused");
        };
        assert_eq!(e.limit, "graphql.max_aliases");
        assert_eq!(e.max, 1);
        let err = limits
            .check_source(&"x".repeat(200 * 1024))
            .expect_err("too big");
        assert_eq!(err.limit, "graphql.max_document_bytes");
    }
}
