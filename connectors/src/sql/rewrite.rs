//! Portable statement text → each backend's own placeholder syntax.
//!
//! Statements are written once in `schema.graphql` with `$1..$n` for positional parameters and
//! `IN ($keys)` for the key list of a batched statement. This module rewrites them:
//!
//! | portable | PostgreSQL | SQLite |
//! |---|---|---|
//! | `$n` | `$n` | `?n` |
//! | `IN ($keys)` | `= ANY($k)` | `IN (SELECT value FROM json_each(?k))` |
//! | `NOT IN ($keys)` | `<> ALL($k)` | `NOT IN (SELECT value FROM json_each(?k))` |
//!
//! where `k` is the highest positional index plus one, so the key list is always bound after
//! the positional parameters. Both backends bind the whole key list as *one* parameter (a typed
//! array, a JSON array), so a batched statement's text, and hence its prepared plan, is the
//! same whatever the number of keys.
//!
//! The scanner knows enough SQL lexing not to rewrite text that only looks like a
//! placeholder: string literals (`'...'`, with `''` escapes, and PostgreSQL `E'...'` with
//! backslash escapes), quoted identifiers (`"..."`, `` `...` ``), dollar-quoted strings
//! (`$$...$$`, `$tag$...$tag$`), and `--` / `/* */` comments are copied untouched.
//!
//! Mistakes that would otherwise surface as confusing database errors, or worse, silently
//! bind `NULL` on SQLite, are rejected here with a message that says what to write instead:
//! `$keys` outside `IN ($keys)`, `$0`, gaps in the numbering, unknown `$names`, and (for
//! SQLite) bare `?` placeholders.

use std::fmt;

use super::SqlBackend;

/// A statement in a backend's own syntax, with what the rewrite learned about its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The statement in the backend's syntax.
    pub sql: String,
    /// The number of positional parameters (`$1..$n`): the highest index used.
    pub param_count: usize,
    /// Whether the statement has an `IN ($keys)` list.
    pub batched: bool,
}

impl Rewritten {
    /// The 1-based index the key list is bound at (`param_count + 1`), for a batched statement.
    pub fn key_index(&self) -> Option<usize> {
        self.batched.then_some(self.param_count + 1)
    }
}

/// Why a statement could not be rewritten. `offset` is the 1-based character position in the
/// statement as written, for pointing at the mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteError {
    pub message: String,
    pub offset: usize,
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset)
    }
}

impl std::error::Error for RewriteError {}

/// Rewrites a portable statement for `backend`.
pub fn rewrite(sql: &str, backend: SqlBackend) -> Result<Rewritten, RewriteError> {
    let target = match backend {
        SqlBackend::Postgres => Target::Postgres,
        SqlBackend::Sqlite => Target::Sqlite,
    };
    rewrite_for(sql, target)
}

/// Rewrites a portable statement for SQLite with every placeholder replaced by `NULL`.
///
/// SQLite does not accept parameters in a view, and a temporary view is the only way (without
/// the C API) to learn the *declared* type of each result column (`JSON`, `BOOLEAN`, ...): the
/// SQLite source creates one from this text and reads `PRAGMA table_info`.
pub(crate) fn rewrite_sqlite_for_describe(sql: &str) -> Result<Rewritten, RewriteError> {
    rewrite_for(sql, Target::SqliteDescribe)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Postgres,
    Sqlite,
    SqliteDescribe,
}

/// One piece of the statement to replace: the byte range `start..end` of the original text.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    kind: EditKind,
}

#[derive(Debug)]
enum EditKind {
    /// `$n`.
    Positional(usize),
    /// `IN ($keys)`; `negated` when the range also covers a preceding `NOT`.
    Keys { negated: bool },
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    // `$` is allowed inside PostgreSQL identifiers (`a$b`) and SQLite accepts it too.
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The 1-based character position of byte offset `byte` in `sql`.
fn char_position(sql: &str, byte: usize) -> usize {
    sql.get(..byte)
        .map_or(byte, |prefix| prefix.chars().count())
        + 1
}

struct Scanner<'a> {
    sql: &'a str,
    b: &'a [u8],
    target: Target,
    edits: Vec<Edit>,
    /// Positional indexes seen.
    used: Vec<bool>,
    /// The last identifier word, if only whitespace followed it so far: `(start, is_not)`.
    prev_word: Option<(usize, bool)>,
    /// Where the first `;` outside quotes and comments was, if any.
    semicolon: Option<usize>,
}

impl<'a> Scanner<'a> {
    fn error(&self, byte: usize, message: impl Into<String>) -> RewriteError {
        RewriteError {
            message: message.into(),
            offset: char_position(self.sql, byte),
        }
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while i < self.b.len() && self.b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }

    fn word_end(&self, mut i: usize) -> usize {
        while i < self.b.len() && is_ident_char(self.b[i]) {
            i += 1;
        }
        i
    }

    /// Scans a quoted section starting at `i` (the opening quote) and returns the index after
    /// the closing quote. A doubled quote is an escaped quote; with `backslash`, `\x` escapes.
    fn quoted(
        &self,
        i: usize,
        quote: u8,
        backslash: bool,
        what: &str,
    ) -> Result<usize, RewriteError> {
        let mut j = i + 1;
        while j < self.b.len() {
            let c = self.b[j];
            if backslash && c == b'\\' {
                j += 2;
                continue;
            }
            if c == quote {
                if self.b.get(j + 1) == Some(&quote) {
                    j += 2;
                    continue;
                }
                return Ok(j + 1);
            }
            j += 1;
        }
        Err(self.error(i, format!("unterminated {what}")))
    }

    /// Tries to match `( $keys )` starting at `i` (just after an `IN`); returns its end.
    fn keys_list_end(&self, i: usize) -> Option<usize> {
        let mut j = self.skip_ws(i);
        if self.b.get(j) != Some(&b'(') {
            return None;
        }
        j = self.skip_ws(j + 1);
        if self.b.get(j) != Some(&b'$') {
            return None;
        }
        let name_end = self.word_end(j + 1);
        if !self.sql.get(j + 1..name_end)?.eq_ignore_ascii_case("keys") {
            return None;
        }
        j = self.skip_ws(name_end);
        (self.b.get(j) == Some(&b')')).then_some(j + 1)
    }

    fn scan(&mut self) -> Result<(), RewriteError> {
        let len = self.b.len();
        let mut i = 0;
        while i < len {
            let c = self.b[i];
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let next = self.b.get(i + 1).copied();
            let comment = (c == b'-' && next == Some(b'-')) || (c == b'/' && next == Some(b'*'));
            if let Some(at) = self.semicolon {
                if !comment && c != b';' {
                    // PostgreSQL refuses several commands in one prepared statement and SQLite
                    // would run them all: one directive, one statement.
                    return Err(self.error(
                        at,
                        "only one SQL statement is allowed here (use transaction steps for several)",
                    ));
                }
            }
            // Anything but whitespace after a word ends the `NOT IN` window, except the word
            // handling below, which sets it again.
            let prev_word = self.prev_word.take();
            match c {
                b';' => {
                    self.semicolon = Some(i);
                    i += 1;
                }
                b'\'' => i = self.quoted(i, b'\'', false, "string literal")?,
                b'"' => i = self.quoted(i, b'"', false, "quoted identifier")?,
                b'`' => i = self.quoted(i, b'`', false, "quoted identifier")?,
                b'-' if self.b.get(i + 1) == Some(&b'-') => {
                    while i < len && self.b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if self.b.get(i + 1) == Some(&b'*') => {
                    // PostgreSQL block comments nest; SQLite's do not, but a nested `/*` inside
                    // a SQLite comment is unusual enough not to matter.
                    let mut depth = 0usize;
                    loop {
                        if i >= len {
                            return Err(self.error(len, "unterminated /* comment"));
                        }
                        if self.b[i] == b'/' && self.b.get(i + 1) == Some(&b'*') {
                            depth += 1;
                            i += 2;
                        } else if self.b[i] == b'*' && self.b.get(i + 1) == Some(&b'/') {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        } else {
                            i += 1;
                        }
                    }
                }
                b'$' => i = self.dollar(i)?,
                b'?' if self.target != Target::Postgres => {
                    // In PostgreSQL `?` is a jsonb operator; in SQLite it is a placeholder that
                    // would be numbered behind our back.
                    return Err(self.error(
                        i,
                        "`?` placeholders are not portable: write $1, $2, ... (or IN ($keys))",
                    ));
                }
                _ if is_ident_start(c) => {
                    let end = self.word_end(i);
                    let word = &self.sql[i..end];
                    if (word == "E" || word == "e") && self.b.get(end) == Some(&b'\'') {
                        // PostgreSQL escape string: backslash escapes apply.
                        i = self.quoted(end, b'\'', true, "string literal")?;
                    } else if word.eq_ignore_ascii_case("in") {
                        if let Some(list_end) = self.keys_list_end(end) {
                            let (start, negated) = match prev_word {
                                Some((not_start, true)) => (not_start, true),
                                _ => (i, false),
                            };
                            // SQLite keeps `NOT`: only the list is replaced.
                            let (start, negated) = if self.target == Target::Postgres {
                                (start, negated)
                            } else {
                                (i, false)
                            };
                            self.edits.push(Edit {
                                start,
                                end: list_end,
                                kind: EditKind::Keys { negated },
                            });
                            i = list_end;
                        } else {
                            i = end;
                        }
                    } else {
                        self.prev_word = Some((i, word.eq_ignore_ascii_case("not")));
                        i = end;
                    }
                }
                _ if c.is_ascii_digit() => {
                    // A number (or `1e5`, `0x1F`): skip it whole so its letters are not words.
                    i = self.word_end(i);
                }
                _ => i += 1,
            }
        }
        Ok(())
    }

    /// Handles a `$` at `i`: a positional parameter, a dollar-quoted string, or a mistake.
    fn dollar(&mut self, i: usize) -> Result<usize, RewriteError> {
        let len = self.b.len();
        let next = self.b.get(i + 1).copied();
        match next {
            Some(d) if d.is_ascii_digit() => {
                let mut end = i + 1;
                while end < len && self.b[end].is_ascii_digit() {
                    end += 1;
                }
                let digits = &self.sql[i + 1..end];
                let n: usize = digits
                    .parse()
                    .map_err(|_| self.error(i, format!("parameter ${digits} is too large")))?;
                if n == 0 {
                    return Err(self.error(i, "parameters are numbered from $1, not $0"));
                }
                if n > 65_535 {
                    return Err(self.error(i, format!("parameter ${n} is too large")));
                }
                if self.used.len() < n {
                    self.used.resize(n, false);
                }
                self.used[n - 1] = true;
                self.edits.push(Edit {
                    start: i,
                    end,
                    kind: EditKind::Positional(n),
                });
                Ok(end)
            }
            Some(b'$') => self.dollar_quoted(i, i + 2),
            Some(s) if is_ident_start(s) => {
                let mut end = i + 1;
                while end < len
                    && (self.b[end].is_ascii_alphanumeric()
                        || self.b[end] == b'_'
                        || self.b[end] >= 0x80)
                {
                    end += 1;
                }
                if self.b.get(end) == Some(&b'$') {
                    return self.dollar_quoted(i, end + 1);
                }
                let name = &self.sql[i + 1..end];
                if name.eq_ignore_ascii_case("keys") {
                    Err(self.error(
                        i,
                        "$keys is the key list of a batched statement and must be written as `IN ($keys)`",
                    ))
                } else {
                    Err(self.error(
                        i,
                        format!("unknown placeholder ${name}: use $1, $2, ... for parameters and `IN ($keys)` for the key list"),
                    ))
                }
            }
            _ => Ok(i + 1),
        }
    }

    /// Skips a dollar-quoted string whose opening delimiter is `start..body`.
    fn dollar_quoted(&self, start: usize, body: usize) -> Result<usize, RewriteError> {
        let delimiter = &self.sql[start..body];
        match self.sql[body..].find(delimiter) {
            Some(at) => Ok(body + at + delimiter.len()),
            None => Err(self.error(start, format!("unterminated {delimiter}-quoted string"))),
        }
    }
}

fn rewrite_for(sql: &str, target: Target) -> Result<Rewritten, RewriteError> {
    let mut scanner = Scanner {
        sql,
        b: sql.as_bytes(),
        target,
        edits: Vec::new(),
        used: Vec::new(),
        prev_word: None,
        semicolon: None,
    };
    scanner.scan()?;

    if let Some(missing) = scanner.used.iter().position(|used| !used) {
        return Err(RewriteError {
            message: format!(
                "${} is used but ${} is not: parameters must be numbered $1, $2, ... without gaps",
                scanner.used.len(),
                missing + 1
            ),
            offset: 1,
        });
    }
    let param_count = scanner.used.len();
    let key_index = param_count + 1;
    let batched = scanner
        .edits
        .iter()
        .any(|edit| matches!(edit.kind, EditKind::Keys { .. }));

    let mut out = String::with_capacity(sql.len() + 32);
    let mut copied = 0;
    for edit in &scanner.edits {
        out.push_str(&sql[copied..edit.start]);
        match (&edit.kind, target) {
            (EditKind::Positional(_), Target::Postgres) => out.push_str(&sql[edit.start..edit.end]),
            (EditKind::Positional(n), Target::Sqlite) => {
                out.push('?');
                out.push_str(&n.to_string());
            }
            (EditKind::Positional(_), Target::SqliteDescribe) => out.push_str("NULL"),
            (EditKind::Keys { negated: false }, Target::Postgres) => {
                out.push_str(&format!("= ANY(${key_index})"));
            }
            (EditKind::Keys { negated: true }, Target::Postgres) => {
                out.push_str(&format!("<> ALL(${key_index})"));
            }
            (EditKind::Keys { .. }, Target::Sqlite) => {
                out.push_str(&format!("IN (SELECT value FROM json_each(?{key_index}))"));
            }
            (EditKind::Keys { .. }, Target::SqliteDescribe) => {
                out.push_str("IN (SELECT value FROM json_each(NULL))");
            }
        }
        copied = edit.end;
    }
    out.push_str(&sql[copied..]);

    Ok(Rewritten {
        sql: out,
        param_count,
        batched,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn pg(sql: &str) -> Rewritten {
        rewrite(sql, SqlBackend::Postgres).unwrap()
    }

    fn lite(sql: &str) -> Rewritten {
        rewrite(sql, SqlBackend::Sqlite).unwrap()
    }

    fn pg_err(sql: &str) -> RewriteError {
        rewrite(sql, SqlBackend::Postgres).unwrap_err()
    }

    fn lite_err(sql: &str) -> RewriteError {
        rewrite(sql, SqlBackend::Sqlite).unwrap_err()
    }

    #[test]
    fn positional_parameters() {
        let sql = "SELECT * FROM products WHERE id = $1 AND price < $2";
        let r = pg(sql);
        assert_eq!(r.sql, sql);
        assert_eq!(r.param_count, 2);
        assert!(!r.batched);
        assert_eq!(r.key_index(), None);

        let r = lite(sql);
        assert_eq!(r.sql, "SELECT * FROM products WHERE id = ?1 AND price < ?2");
        assert_eq!(r.param_count, 2);
    }

    #[test]
    fn repeated_and_out_of_order_parameters() {
        let r = lite("SELECT $2, $1, $2, $10, $3, $4, $5, $6, $7, $8, $9");
        assert_eq!(r.sql, "SELECT ?2, ?1, ?2, ?10, ?3, ?4, ?5, ?6, ?7, ?8, ?9");
        assert_eq!(r.param_count, 10);
    }

    #[test]
    fn no_parameters() {
        let r = lite("SELECT 1");
        assert_eq!(r.sql, "SELECT 1");
        assert_eq!(r.param_count, 0);
        assert!(!r.batched);
    }

    #[test]
    fn keys_postgres() {
        let r = pg("SELECT * FROM categories WHERE id IN ($keys)");
        assert_eq!(r.sql, "SELECT * FROM categories WHERE id = ANY($1)");
        assert!(r.batched);
        assert_eq!(r.param_count, 0);
        assert_eq!(r.key_index(), Some(1));
    }

    #[test]
    fn keys_after_positional_parameters() {
        let sql = "SELECT * FROM reviews WHERE product_id IN ($keys) AND rating >= $1 LIMIT $2";
        let r = pg(sql);
        assert_eq!(
            r.sql,
            "SELECT * FROM reviews WHERE product_id = ANY($3) AND rating >= $1 LIMIT $2"
        );
        assert_eq!(r.key_index(), Some(3));
        let r = lite(sql);
        assert_eq!(
            r.sql,
            "SELECT * FROM reviews WHERE product_id IN (SELECT value FROM json_each(?3)) AND rating >= ?1 LIMIT ?2"
        );
        assert_eq!(r.param_count, 2);
        assert_eq!(r.key_index(), Some(3));
    }

    #[test]
    fn keys_sqlite() {
        let r = lite("SELECT * FROM categories WHERE id IN ($keys)");
        assert_eq!(
            r.sql,
            "SELECT * FROM categories WHERE id IN (SELECT value FROM json_each(?1))"
        );
        assert!(r.batched);
    }

    #[test]
    fn keys_case_and_whitespace_insensitive() {
        for sql in [
            "SELECT * FROM t WHERE id in($keys)",
            "SELECT * FROM t WHERE id In ( $keys )",
            "SELECT * FROM t WHERE id IN\n(\t$KEYS\n)",
            "SELECT * FROM t WHERE id iN (  $Keys)",
        ] {
            assert_eq!(pg(sql).sql, "SELECT * FROM t WHERE id = ANY($1)", "{sql}");
            assert_eq!(
                lite(sql).sql,
                "SELECT * FROM t WHERE id IN (SELECT value FROM json_each(?1))",
                "{sql}"
            );
        }
    }

    #[test]
    fn not_in_keys() {
        let r = pg("SELECT * FROM t WHERE id NOT IN ($keys)");
        assert_eq!(r.sql, "SELECT * FROM t WHERE id <> ALL($1)");
        let r = pg("SELECT * FROM t WHERE id not\n in ($keys)");
        assert_eq!(r.sql, "SELECT * FROM t WHERE id <> ALL($1)");
        let r = lite("SELECT * FROM t WHERE id NOT IN ($keys)");
        assert_eq!(
            r.sql,
            "SELECT * FROM t WHERE id NOT IN (SELECT value FROM json_each(?1))"
        );
        // `NOT` that is not directly before `IN` stays.
        let r = pg("SELECT * FROM t WHERE NOT (id IN ($keys))");
        assert_eq!(r.sql, "SELECT * FROM t WHERE NOT (id = ANY($1))");
    }

    #[test]
    fn keys_used_twice() {
        let r = pg("SELECT * FROM a WHERE id IN ($keys) UNION ALL SELECT * FROM b WHERE id IN ($keys) AND x = $1");
        assert_eq!(
            r.sql,
            "SELECT * FROM a WHERE id = ANY($2) UNION ALL SELECT * FROM b WHERE id = ANY($2) AND x = $1"
        );
    }

    #[test]
    fn words_containing_in_are_not_keywords() {
        let r = pg("SELECT * FROM t JOIN u ON t.id = u.id WHERE t.x IN ($keys) AND t.y = $1");
        assert_eq!(
            r.sql,
            "SELECT * FROM t JOIN u ON t.id = u.id WHERE t.x = ANY($2) AND t.y = $1"
        );
        // `IN` as an ordinary `IN (...)` list is left alone.
        let r = lite("SELECT * FROM t WHERE id IN (1, 2, $1)");
        assert_eq!(r.sql, "SELECT * FROM t WHERE id IN (1, 2, ?1)");
        assert!(!r.batched);
    }

    #[test]
    fn string_literals_are_not_rewritten() {
        let sql = "SELECT 'costs $1', 'IN ($keys)', 'it''s $2' FROM t WHERE a = $1";
        let r = lite(sql);
        assert_eq!(
            r.sql,
            "SELECT 'costs $1', 'IN ($keys)', 'it''s $2' FROM t WHERE a = ?1"
        );
        assert_eq!(r.param_count, 1);
        assert!(!r.batched);
        assert_eq!(pg(sql).sql, sql);
    }

    #[test]
    fn quoted_identifiers_are_not_rewritten() {
        let r = lite(r#"SELECT "weird $1 col", "a""$2" FROM t WHERE "in" = $1"#);
        assert_eq!(
            r.sql,
            r#"SELECT "weird $1 col", "a""$2" FROM t WHERE "in" = ?1"#
        );
        let r = lite("SELECT `col $1` FROM t WHERE x = $1");
        assert_eq!(r.sql, "SELECT `col $1` FROM t WHERE x = ?1");
    }

    #[test]
    fn escape_strings() {
        let r = pg(r"SELECT E'it\'s $1' , e'\\' FROM t WHERE a = $1");
        assert_eq!(r.sql, r"SELECT E'it\'s $1' , e'\\' FROM t WHERE a = $1");
        assert_eq!(r.param_count, 1);
        // In a normal string a backslash is just a character.
        let r = lite(r"SELECT '\' FROM t WHERE a = $1");
        assert_eq!(r.sql, r"SELECT '\' FROM t WHERE a = ?1");
    }

    #[test]
    fn comments_are_not_rewritten() {
        let r = lite("SELECT 1 -- $1 and IN ($keys)\nFROM t /* $2 /* nested $3 */ IN ($keys) */ WHERE a = $1");
        assert_eq!(
            r.sql,
            "SELECT 1 -- $1 and IN ($keys)\nFROM t /* $2 /* nested $3 */ IN ($keys) */ WHERE a = ?1"
        );
        assert_eq!(r.param_count, 1);
        assert!(!r.batched);
    }

    #[test]
    fn dollar_quoted_strings_are_not_rewritten() {
        let sql = "SELECT $$costs $1$$, $tag$ IN ($keys) $x$ $tag$ FROM t WHERE a = $1";
        let r = pg(sql);
        assert_eq!(r.sql, sql);
        assert_eq!(r.param_count, 1);
        assert!(!r.batched);
    }

    #[test]
    fn jsonb_question_mark_operator_is_kept_on_postgres() {
        let r = pg("SELECT * FROM t WHERE data ? 'a' AND id = $1");
        assert_eq!(r.sql, "SELECT * FROM t WHERE data ? 'a' AND id = $1");
    }

    #[test]
    fn casts_and_identifiers_with_dollars() {
        let r = pg("SELECT $1::int8, a$b FROM t");
        assert_eq!(r.sql, "SELECT $1::int8, a$b FROM t");
        assert_eq!(r.param_count, 1);
        let r = lite("SELECT CAST($1 AS INTEGER), a$b FROM t");
        assert_eq!(r.sql, "SELECT CAST(?1 AS INTEGER), a$b FROM t");
    }

    #[test]
    fn non_ascii_text_is_preserved() {
        let r = lite("SELECT 'héllo wörld $1', \"naïve\" FROM t WHERE ñ = $1 -- ünïcode");
        assert_eq!(
            r.sql,
            "SELECT 'héllo wörld $1', \"naïve\" FROM t WHERE ñ = ?1 -- ünïcode"
        );
    }

    #[test]
    fn keys_outside_in_is_an_error() {
        for sql in [
            "SELECT * FROM t WHERE id = $keys",
            "SELECT * FROM t WHERE id = ANY($keys)",
            "SELECT * FROM t WHERE id IN $keys",
            "SELECT * FROM t WHERE id IN (1, $keys)",
            "SELECT * FROM t WHERE id IN ($keys, 1)",
        ] {
            let e = pg_err(sql);
            assert!(e.message.contains("IN ($keys)"), "{sql}: {e}");
            let e = lite_err(sql);
            assert!(e.message.contains("IN ($keys)"), "{sql}: {e}");
        }
        let e = pg_err("SELECT * FROM t WHERE id = $keys");
        assert_eq!(e.offset, 28);
        assert!(e.to_string().ends_with("(at character 28)"));
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let e = pg_err("SELECT * FROM t WHERE id = $id");
        assert!(e.message.contains("unknown placeholder $id"), "{e}");
    }

    #[test]
    fn zero_and_gaps_are_errors() {
        let e = pg_err("SELECT $0");
        assert!(e.message.contains("$0"), "{e}");
        let e = lite_err("SELECT $1, $3");
        assert!(e.message.contains("$3 is used but $2 is not"), "{e}");
        let e = lite_err("SELECT $99999999999999999999999");
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn bare_question_mark_is_an_error_on_sqlite() {
        let e = lite_err("SELECT * FROM t WHERE id = ?");
        assert!(e.message.contains("not portable"), "{e}");
        // Inside a literal it is just text.
        assert_eq!(lite("SELECT '?'").sql, "SELECT '?'");
    }

    #[test]
    fn unterminated_sections_are_errors() {
        assert!(pg_err("SELECT 'abc")
            .message
            .contains("unterminated string"));
        assert!(pg_err("SELECT \"abc")
            .message
            .contains("unterminated quoted identifier"));
        assert!(pg_err("SELECT /* abc").message.contains("unterminated /*"));
        assert!(pg_err("SELECT $$abc")
            .message
            .contains("unterminated $$-quoted"));
    }

    #[test]
    fn one_statement_only() {
        let r = lite("SELECT * FROM t WHERE id = $1;  -- trailing comment\n/* and block */ ;");
        assert_eq!(r.param_count, 1);
        assert_eq!(lite("SELECT ';' AS semi").sql, "SELECT ';' AS semi");
        let e = lite_err("SELECT 1; DELETE FROM t");
        assert!(e.message.contains("only one SQL statement"), "{e}");
        assert_eq!(e.offset, 9);
        let e = pg_err("UPDATE t SET a = 1; SELECT 1");
        assert!(e.message.contains("only one SQL statement"), "{e}");
    }

    #[test]
    fn lone_dollar_and_numbers_with_letters() {
        let r = pg("SELECT 1e5, 0x1F, $ FROM t");
        assert_eq!(r.sql, "SELECT 1e5, 0x1F, $ FROM t");
        assert_eq!(r.param_count, 0);
    }

    #[test]
    fn describe_form_replaces_every_placeholder_with_null() {
        let r = rewrite_sqlite_for_describe(
            "SELECT * FROM r WHERE product_id IN ($keys) AND rating >= $1 LIMIT $2",
        )
        .unwrap();
        assert_eq!(
            r.sql,
            "SELECT * FROM r WHERE product_id IN (SELECT value FROM json_each(NULL)) AND rating >= NULL LIMIT NULL"
        );
        assert_eq!(r.param_count, 2);
        assert!(r.batched);
    }

    #[test]
    fn injection_text_in_literals_is_untouched() {
        let sql = "SELECT * FROM products WHERE name = '''; DROP TABLE products; --' AND id = $1";
        assert_eq!(
            lite(sql).sql,
            "SELECT * FROM products WHERE name = '''; DROP TABLE products; --' AND id = ?1"
        );
    }
}
