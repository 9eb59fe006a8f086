//! Constant values as GraphQL text: for messages ("found 3") and for printing defaults in
//! the client SDL. Written here rather than using `ConstValue`'s `Display` so that control
//! characters are escaped the way GraphQL parsers expect (`\u000B`, in hex).

use std::fmt::Write;

use async_graphql_value::ConstValue;

/// A value as GraphQL text.
pub(crate) fn to_graphql(v: &ConstValue) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &ConstValue) {
    match v {
        ConstValue::Null => out.push_str("null"),
        ConstValue::Number(n) => {
            let _ = write!(out, "{n}");
        }
        ConstValue::String(s) => write_string(out, s),
        ConstValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        ConstValue::Binary(bytes) => {
            out.push('[');
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{b}");
            }
            out.push(']');
        }
        ConstValue::Enum(name) => out.push_str(name),
        ConstValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        ConstValue::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{k}: ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A GraphQL string literal.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value for an error message: its text and kind (`3 (an integer)`), shortened if long.
pub(crate) fn describe(v: &ConstValue) -> String {
    let kind = match v {
        ConstValue::Null => return "null".to_string(),
        ConstValue::Number(n) if n.is_f64() => "a float",
        ConstValue::Number(_) => "an integer",
        ConstValue::String(_) => "a string",
        ConstValue::Boolean(_) => "a boolean",
        ConstValue::Binary(_) => "binary data",
        ConstValue::Enum(_) => "an enum value",
        ConstValue::List(_) => "a list",
        ConstValue::Object(_) => "an object",
    };
    let mut text = to_graphql(v);
    if text.chars().count() > 40 {
        text = text.chars().take(37).collect::<String>() + "...";
    }
    format!("{text} ({kind})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_graphql_text_with_hex_escapes() {
        let v = ConstValue::List(vec![
            ConstValue::String("a\"b\u{b}".into()),
            ConstValue::Enum(async_graphql_value::Name::new("ACTIVE")),
            ConstValue::Number(3.into()),
        ]);
        assert_eq!(to_graphql(&v), "[\"a\\\"b\\u000B\", ACTIVE, 3]");
        assert_eq!(describe(&ConstValue::Number(3.into())), "3 (an integer)");
    }
}
