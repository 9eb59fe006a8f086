//! What the checker needs to know about SQL text without a database: the placeholders a
//! statement uses, whether `$keys` is written `IN ($keys)`, and the top-level SELECT list.
//!
//! A small lexer skips string literals, quoted identifiers, comments and PostgreSQL
//! dollar-quoted strings, so `'$5 off'` or `-- $1` are not mistaken for placeholders. The
//! database itself checks the statement at start-up; this only catches what can be known
//! from the text, early and with a precise position.

/// A token of SQL text, with its byte offset and parenthesis depth.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    offset: usize,
    depth: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    /// A keyword or identifier (quoted identifiers without their quotes).
    Word(String),
    /// `$1`, `$2`, ...
    Numbered(usize),
    /// `$keys` or any other `$name`.
    Named(String),
    /// One punctuation character.
    Punct(char),
    /// A string literal or other opaque text.
    Opaque,
}

fn tokens(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                continue;
            }
            b'\'' => {
                i = skip_quoted(b, i, b'\'');
                TokenKind::Opaque
            }
            b'"' | b'`' => {
                let end = skip_quoted(b, i, c);
                let inner = sql
                    .get(i + 1..end.saturating_sub(1).max(i + 1))
                    .unwrap_or("");
                i = end;
                TokenKind::Word(inner.to_string())
            }
            b'$' => {
                let rest = &b[i + 1..];
                if rest.first().is_some_and(u8::is_ascii_digit) {
                    let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                    let n = sql[i + 1..i + 1 + len].parse().unwrap_or(usize::MAX);
                    i += 1 + len;
                    TokenKind::Numbered(n)
                } else {
                    let len = rest
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    if rest.get(len) == Some(&b'$') {
                        // Dollar-quoted string: `$$...$$` or `$tag$...$tag$`.
                        let tag = &sql[i..i + len + 2];
                        let body = i + tag.len();
                        i = sql[body..]
                            .find(tag)
                            .map_or(b.len(), |e| body + e + tag.len());
                        TokenKind::Opaque
                    } else if len > 0 {
                        i += 1 + len;
                        TokenKind::Named(sql[start + 1..i].to_string())
                    } else {
                        i += 1;
                        TokenKind::Punct('$')
                    }
                }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                TokenKind::Word(sql[start..i].to_string())
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or('?');
                i += ch.len_utf8();
                TokenKind::Punct(ch)
            }
        };
        let token_depth = depth;
        match kind {
            TokenKind::Punct('(') => depth += 1,
            TokenKind::Punct(')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        out.push(Token {
            kind,
            offset: start,
            depth: token_depth,
        });
    }
    out
}

/// The index after a quoted run starting at `i` (a doubled quote is an escaped quote).
fn skip_quoted(b: &[u8], mut i: usize, quote: u8) -> usize {
    i += 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// A `$...` placeholder of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `$N`, bound from `params[N-1]`.
    Numbered(usize),
    /// `$keys`, the batched form's key list.
    Keys {
        /// Whether it is written as `IN ($keys)` (the only form the backends rewrite).
        in_list: bool,
    },
    /// Any other `$name`: not a placeholder Tributary knows.
    Unknown(String),
}

/// The placeholders of a statement with their byte offsets, in text order.
pub(crate) fn placeholders(sql: &str) -> Vec<(usize, Placeholder)> {
    let toks = tokens(sql);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let p = match &t.kind {
            TokenKind::Numbered(n) => Placeholder::Numbered(*n),
            TokenKind::Named(name) if name == "keys" => {
                let before = i.checked_sub(2).map(|j| (&toks[j].kind, &toks[j + 1].kind));
                let after = toks.get(i + 1).map(|t| &t.kind);
                let in_list = matches!(before, Some((TokenKind::Word(w), TokenKind::Punct('('))) if w.eq_ignore_ascii_case("in"))
                    && after == Some(&TokenKind::Punct(')'));
                Placeholder::Keys { in_list }
            }
            TokenKind::Named(name) => Placeholder::Unknown(name.clone()),
            _ => continue,
        };
        out.push((t.offset, p));
    }
    out
}

/// The top-level SELECT list (between the outermost `SELECT` and its `FROM`), if the
/// statement has one. Tokens inside a CTE or a subquery are at a deeper level and skipped.
fn select_list(toks: &[Token]) -> Option<&[Token]> {
    let is_word =
        |t: &Token, w: &str| matches!(&t.kind, TokenKind::Word(x) if x.eq_ignore_ascii_case(w));
    let select = toks
        .iter()
        .position(|t| t.depth == 0 && is_word(t, "select"))?;
    let from = toks[select + 1..]
        .iter()
        .position(|t| t.depth == 0 && is_word(t, "from"))?;
    Some(&toks[select + 1..select + 1 + from])
}

/// Whether the batched statement's result rows can carry the column `key`: the top-level
/// select list is `*`, has a `table.*`, or names `key` somewhere (`id`, `p.id`, `x AS id`).
/// Statements without a recognisable `SELECT ... FROM` are left to the start-up check.
pub(crate) fn selects_column(sql: &str, key: &str) -> bool {
    let toks = tokens(sql);
    let Some(list) = select_list(&toks) else {
        return true;
    };
    list.iter().enumerate().any(|(i, t)| match &t.kind {
        TokenKind::Punct('*') => match i.checked_sub(1).map(|j| &list[j].kind) {
            None | Some(TokenKind::Punct(',' | '.')) => true,
            // `SELECT DISTINCT ON (a) *`: a top-level `*` after a parenthesis. (Rarely a
            // multiplication; then the database's check at start-up still catches a missing key.)
            Some(TokenKind::Punct(')')) => t.depth == 0,
            Some(TokenKind::Word(w)) => {
                w.eq_ignore_ascii_case("distinct") || w.eq_ignore_ascii_case("all")
            }
            _ => false,
        },
        TokenKind::Word(w) => w.eq_ignore_ascii_case(key),
        _ => false,
    })
}

/// The byte offset of the first `{{` in a statement: templates are never spliced into SQL.
pub(crate) fn template_in_text(sql: &str) -> Option<usize> {
    sql.find("{{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_skip_strings_comments_and_dollar_quotes() {
        let sql = "SELECT '$9', \"$8\", $$ $7 $$ FROM t -- $6\n WHERE a = $1 /* $5 */ AND b IN ($keys) AND c = $name";
        let found: Vec<Placeholder> = placeholders(sql).into_iter().map(|(_, p)| p).collect();
        assert_eq!(
            found,
            vec![
                Placeholder::Numbered(1),
                Placeholder::Keys { in_list: true },
                Placeholder::Unknown("name".into())
            ]
        );
        let keys_alone = placeholders("SELECT * FROM t WHERE id = ANY($keys)");
        assert_eq!(keys_alone[0].1, Placeholder::Keys { in_list: false });
    }

    #[test]
    fn the_batch_key_must_be_in_the_top_level_select_list() {
        assert!(selects_column("SELECT * FROM c WHERE id IN ($keys)", "id"));
        assert!(selects_column("select p.*, x from p", "category_id"));
        assert!(selects_column(
            "SELECT name, category_id FROM p",
            "category_id"
        ));
        assert!(selects_column("SELECT name, p.ID FROM p", "id"));
        assert!(!selects_column(
            "SELECT name, price FROM p WHERE category_id IN ($keys)",
            "category_id"
        ));
        assert!(!selects_column(
            "SELECT count(*) AS n FROM p",
            "category_id"
        ));
        assert!(!selects_column(
            "WITH x AS (SELECT category_id FROM p) SELECT name FROM x",
            "category_id"
        ));
        assert!(selects_column("UPDATE p SET a = 1 RETURNING *", "id"));
        assert!(selects_column("SELECT DISTINCT ON (p.kind) * FROM p", "id"));
    }
}
