//! Positions inside `schema.graphql` below what the parser reports.
//!
//! The parser gives positions for directive arguments but not for the elements of a list or
//! object value (`params: ["{{args.id}}", ...]`), nor for text inside a string. Errors are most
//! useful at the exact element or `{{`, so this module re-scans a value's source text from the
//! position the parser gave (a small scanner for GraphQL constant values) and maps offsets
//! inside string literals back to `line:col`.

use async_graphql_value::ConstValue;

use crate::blueprint::Pos;

/// The parser's positions are the same 1-based line and column.
impl From<async_graphql_parser::Pos> for Pos {
    fn from(p: async_graphql_parser::Pos) -> Self {
        Pos {
            line: p.line,
            column: p.column,
        }
    }
}

/// The schema text with a line index, to convert between the parser's `line:col` (1-based,
/// columns count characters) and byte offsets.
#[derive(Debug)]
pub(crate) struct SourceMap<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap { src, line_starts }
    }

    /// The byte offset of a parser position, if it is inside the text.
    pub(crate) fn offset(&self, pos: Pos) -> Option<usize> {
        let start = *self.line_starts.get(pos.line.checked_sub(1)?)?;
        let line = &self.src[start..];
        let mut column = 1;
        for (i, c) in line.char_indices() {
            if column == pos.column {
                return Some(start + i);
            }
            if c == '\n' {
                return None;
            }
            column += 1;
        }
        (column == pos.column).then_some(self.src.len())
    }

    /// The parser-style position of a byte offset.
    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.src.len());
        let line_index = self
            .line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.line_starts[line_index];
        let column = self.src.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        Pos {
            line: line_index + 1,
            column,
        }
    }

    /// Re-scans the constant value that starts at `pos` (as reported by the parser).
    pub(crate) fn locate(&self, pos: Pos) -> Option<Located> {
        let mut i = self.offset(pos)?;
        scan_value(self.src.as_bytes(), &mut i)
    }

    /// The position of the character at `decoded_offset` (a byte offset into the string's
    /// value, after escapes are decoded) inside the string literal starting at `start`. Block
    /// strings have their indentation rewritten by the parser, so for them (and anything
    /// unexpected) the literal's own position is the answer.
    pub(crate) fn pos_in_string(&self, start: usize, decoded_offset: usize) -> Pos {
        let bytes = self.src.as_bytes();
        if bytes.get(start) != Some(&b'"') || self.src[start..].starts_with("\"\"\"") {
            return self.pos(start);
        }
        let mut raw = start + 1;
        let mut decoded = 0;
        while decoded < decoded_offset {
            let Some(c) = self.src[raw..].chars().next() else {
                break;
            };
            match c {
                '"' | '\n' => break,
                '\\' => {
                    let escaped = self.src[raw + 1..].chars().next();
                    match escaped {
                        Some('u') => {
                            let hex = self.src.get(raw + 2..raw + 6).unwrap_or("");
                            let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            decoded += ch.map_or(1, char::len_utf8);
                            raw += 2 + hex.len();
                        }
                        Some(e) => {
                            decoded += 1;
                            raw += 1 + e.len_utf8();
                        }
                        None => break,
                    }
                }
                c => {
                    decoded += c.len_utf8();
                    raw += c.len_utf8();
                }
            }
        }
        self.pos(raw)
    }
}

/// Where a constant value and its parts are in the text (byte offsets).
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub start: usize,
    pub kind: LocatedKind,
}

#[derive(Debug, Clone)]
pub(crate) enum LocatedKind {
    /// Numbers, strings, booleans, `null`, enum values.
    Leaf,
    List(Vec<Located>),
    /// Entries in written order: name, offset of the name, value.
    Object(Vec<(String, usize, Located)>),
}

fn skip_ignored(b: &[u8], i: &mut usize) {
    while let Some(&c) = b.get(*i) {
        match c {
            b' ' | b'\t' | b',' | b'\n' | b'\r' => *i += 1,
            b'#' => {
                while b.get(*i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    *i += 1;
                }
            }
            // U+FEFF (byte order mark) is ignored like whitespace in GraphQL.
            0xEF if b.get(*i + 1..*i + 3) == Some(&[0xBB, 0xBF]) => *i += 3,
            _ => return,
        }
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn scan_value(b: &[u8], i: &mut usize) -> Option<Located> {
    skip_ignored(b, i);
    let start = *i;
    match *b.get(*i)? {
        b'"' => {
            if b.get(*i..*i + 3) == Some(b"\"\"\"") {
                *i += 3;
                loop {
                    match b.get(*i..*i + 3)? {
                        b"\"\"\"" => break,
                        [b'\\', b'"', b'"'] if b.get(*i + 3) == Some(&b'"') => *i += 4,
                        _ => *i += 1,
                    }
                }
                *i += 3;
            } else {
                *i += 1;
                loop {
                    match *b.get(*i)? {
                        b'\\' => *i += 2,
                        b'"' => break,
                        _ => *i += 1,
                    }
                }
                *i += 1;
            }
            Some(Located {
                start,
                kind: LocatedKind::Leaf,
            })
        }
        b'[' => {
            *i += 1;
            let mut items = Vec::new();
            loop {
                skip_ignored(b, i);
                if *b.get(*i)? == b']' {
                    *i += 1;
                    break;
                }
                items.push(scan_value(b, i)?);
            }
            Some(Located {
                start,
                kind: LocatedKind::List(items),
            })
        }
        b'{' => {
            *i += 1;
            let mut entries = Vec::new();
            loop {
                skip_ignored(b, i);
                if *b.get(*i)? == b'}' {
                    *i += 1;
                    break;
                }
                let name_start = *i;
                while b.get(*i).is_some_and(|&c| is_name_byte(c)) {
                    *i += 1;
                }
                if *i == name_start {
                    return None;
                }
                let name = String::from_utf8_lossy(&b[name_start..*i]).into_owned();
                skip_ignored(b, i);
                if *b.get(*i)? != b':' {
                    return None;
                }
                *i += 1;
                let value = scan_value(b, i)?;
                entries.push((name, name_start, value));
            }
            Some(Located {
                start,
                kind: LocatedKind::Object(entries),
            })
        }
        c if c == b'-' || is_name_byte(c) => {
            while b
                .get(*i)
                .is_some_and(|&c| is_name_byte(c) || matches!(c, b'-' | b'+' | b'.'))
            {
                *i += 1;
            }
            Some(Located {
                start,
                kind: LocatedKind::Leaf,
            })
        }
        _ => None,
    }
}

/// A constant value from the parser together with where it and its parts are, so checks can
/// point at a list element or at the `{{` inside a string. Falls back to the enclosing
/// position when the re-scan does not match (it always should).
#[derive(Debug, Clone)]
pub(crate) struct Val<'a> {
    pub value: &'a ConstValue,
    loc: Option<Located>,
    fallback: Pos,
    map: &'a SourceMap<'a>,
}

impl<'a> Val<'a> {
    /// A value whose text starts at `pos`.
    pub(crate) fn new(value: &'a ConstValue, pos: impl Into<Pos>, map: &'a SourceMap<'a>) -> Self {
        let pos = pos.into();
        Val {
            value,
            loc: map.locate(pos),
            fallback: pos,
            map,
        }
    }

    pub(crate) fn pos(&self) -> Pos {
        self.loc
            .as_ref()
            .map_or(self.fallback, |l| self.map.pos(l.start))
    }

    /// The position of byte `offset` of this string value's content.
    pub(crate) fn pos_in_string(&self, offset: usize) -> Pos {
        match &self.loc {
            Some(l) => self.map.pos_in_string(l.start, offset),
            None => self.fallback,
        }
    }

    /// The elements of a list value (empty for anything else).
    pub(crate) fn items(&self) -> Vec<Val<'a>> {
        let ConstValue::List(items) = self.value else {
            return Vec::new();
        };
        let locs = match &self.loc {
            Some(Located {
                kind: LocatedKind::List(locs),
                ..
            }) if locs.len() == items.len() => Some(locs),
            _ => None,
        };
        items
            .iter()
            .enumerate()
            .map(|(i, value)| Val {
                value,
                loc: locs.and_then(|l| l.get(i)).cloned(),
                fallback: self.pos(),
                map: self.map,
            })
            .collect()
    }

    /// The entries of an object value with the position of each name (empty for anything else).
    pub(crate) fn entries(&self) -> Vec<(&'a str, Pos, Val<'a>)> {
        let ConstValue::Object(map) = self.value else {
            return Vec::new();
        };
        let locs = match &self.loc {
            Some(Located {
                kind: LocatedKind::Object(locs),
                ..
            }) => Some(locs),
            _ => None,
        };
        map.iter()
            .map(|(name, value)| {
                // The last written entry wins in the parsed map, so match it from the end.
                let found = locs.and_then(|l| l.iter().rev().find(|(n, _, _)| n == name.as_str()));
                let key_pos = found.map_or(self.pos(), |(_, at, _)| self.map.pos(*at));
                let val = Val {
                    value,
                    loc: found.map(|(_, _, l)| l.clone()),
                    fallback: key_pos,
                    map: self.map,
                };
                (name.as_str(), key_pos, val)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_positions_round_trip_with_multibyte_text() {
        let src = "type Q {\n  é: String @x(a: [\"b\", \"c\"])\n}\n";
        let map = SourceMap::new(src);
        let pos = Pos {
            line: 2,
            column: 13,
        };
        let offset = map.offset(pos).unwrap_or(usize::MAX);
        assert_eq!(&src[offset..offset + 1], "@");
        assert_eq!(map.pos(offset), pos);
    }

    #[test]
    fn list_elements_and_string_contents_are_located() {
        let src = "[\"a\", # comment\n  \"x\\\"{{y}}\"]";
        let map = SourceMap::new(src);
        let value = ConstValue::List(vec![
            ConstValue::String("a".into()),
            ConstValue::String("x\"{{y}}".into()),
        ]);
        let val = Val::new(&value, Pos { line: 1, column: 1 }, &map);
        let items = val.items();
        assert_eq!(items[1].pos(), Pos { line: 2, column: 3 });
        // `{{` is at byte 2 of the decoded value; in the text it follows `"x\"`.
        assert_eq!(items[1].pos_in_string(2), Pos { line: 2, column: 7 });
    }
}
