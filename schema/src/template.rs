//! The `{{...}}` template syntax, as text: what a template says, not whether it makes sense
//! where it is used (the builder checks roots and paths against the field it is on).
//!
//! Grammar: `{{ root(.segment)* ( | default: 'text' )? }}` where root is `args`, `parent`,
//! `env`, `steps`, `item` or `headers`, segments are names or list indexes (a header name may
//! also hold `-`: `{{headers.x-trace}}`), and the `default` filter (single or double quotes)
//! only applies to `env`.

use crate::names;

/// The roots a template may start with, for messages.
pub(crate) const ROOTS: [&str; 6] = ["args", "parent", "env", "steps", "item", "headers"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawRoot {
    Args,
    Parent,
    Env,
    Steps,
    Item,
    Headers,
}

/// One `{{...}}` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawExpr {
    pub root: RawRoot,
    pub path: Vec<String>,
    /// `| default: '...'` (env only).
    pub default: Option<String>,
    /// Byte offset of the `{{` in the string, for positions.
    pub offset: usize,
    /// The whole `{{...}}`, for messages.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawPart {
    Literal(String),
    Expr(RawExpr),
}

/// A malformed template, at byte `offset` of the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

const SHAPE_HINT: &str =
    "a template is {{root.name}} with root args, parent, env, steps, item or headers, \
                          e.g. {{args.id}} or {{env.NAME | default: 'value'}}";

/// Splits a string into literal text and `{{...}}` expressions.
pub(crate) fn parse(text: &str) -> Result<Vec<RawPart>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest_start = 0;
    while let Some(found) = text[rest_start..].find("{{") {
        let open = rest_start + found;
        if open > rest_start {
            parts.push(RawPart::Literal(text[rest_start..open].to_string()));
        }
        let inner_start = open + 2;
        let close = text[inner_start..].find("}}").map(|i| inner_start + i);
        let nested = text[inner_start..].find("{{").map(|i| inner_start + i);
        let close = match (close, nested) {
            (Some(c), Some(n)) if n < c => None,
            (c, _) => c,
        };
        let Some(close) = close else {
            let shown: String = text[open..].chars().take(40).collect();
            return Err(TemplateError {
                offset: open,
                message: format!("unclosed template `{shown}`: missing `}}}}`"),
                hint: Some("close it: {{args.id}}".to_string()),
            });
        };
        let whole = &text[open..close + 2];
        parts.push(RawPart::Expr(parse_expr(
            &text[inner_start..close],
            open,
            whole,
        )?));
        rest_start = close + 2;
    }
    if rest_start < text.len() {
        parts.push(RawPart::Literal(text[rest_start..].to_string()));
    }
    Ok(parts)
}

fn parse_expr(inner: &str, offset: usize, whole: &str) -> Result<RawExpr, TemplateError> {
    let err = |message: String, hint: Option<String>| TemplateError {
        offset,
        message,
        hint,
    };
    let (path_text, filter) = match inner.split_once('|') {
        Some((p, f)) => (p.trim(), Some(f.trim())),
        None => (inner.trim(), None),
    };
    if path_text.is_empty() {
        return Err(err(
            format!("empty template `{whole}`"),
            Some(SHAPE_HINT.to_string()),
        ));
    }
    let segments: Vec<&str> = path_text.split('.').collect();
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // `-` only in a header name, the one segment after `headers`.
    let well_formed = segments.iter().enumerate().all(|(i, s)| {
        !s.is_empty()
            && s.bytes()
                .all(|b| name_byte(b) || (b == b'-' && i == 1 && segments[0] == "headers"))
    });
    if !well_formed {
        return Err(err(
            format!("malformed template `{whole}`: `{path_text}` is not a dotted path"),
            Some(SHAPE_HINT.to_string()),
        ));
    }
    let root = match segments[0] {
        "args" => RawRoot::Args,
        "parent" => RawRoot::Parent,
        "env" => RawRoot::Env,
        "steps" => RawRoot::Steps,
        "item" => RawRoot::Item,
        "headers" => RawRoot::Headers,
        other => {
            let roots = "templates start with args, parent, env, steps, item or headers";
            let hint = match names::did_you_mean(other, ROOTS) {
                Some(dym) => format!("{dym} {roots}"),
                None => roots.to_string(),
            };
            return Err(err(
                format!("unknown template root `{other}` in `{whole}`"),
                Some(hint),
            ));
        }
    };
    let path: Vec<String> = segments[1..].iter().map(|s| s.to_string()).collect();
    match root {
        RawRoot::Env if path.len() != 1 => {
            return Err(err(
                format!("`{whole}` must name one environment variable"),
                Some("write {{env.NAME}} or {{env.NAME | default: 'value'}}".to_string()),
            ));
        }
        RawRoot::Headers if path.len() != 1 => {
            return Err(err(
                format!("`{whole}` must name one client header"),
                Some("write {{headers.NAME}}, e.g. {{headers.authorization}}".to_string()),
            ));
        }
        RawRoot::Steps if path.is_empty() => {
            return Err(err(
                format!("`{whole}` must name a step"),
                Some("write {{steps.NAME.column}}, NAME being a step's `as`".to_string()),
            ));
        }
        _ => {}
    }
    let default = match filter {
        None => None,
        Some(filter) => {
            let value = parse_default(filter).ok_or_else(|| {
                err(
                    format!("malformed filter in `{whole}`"),
                    Some("the only filter is `| default: 'value'` (on env)".to_string()),
                )
            })?;
            if root != RawRoot::Env {
                return Err(err(
                    format!("`| default:` only applies to env, in `{whole}`"),
                    Some("give a fallback to environment variables only: {{env.NAME | default: 'value'}}".to_string()),
                ));
            }
            Some(value)
        }
    };
    Ok(RawExpr {
        root,
        path,
        default,
        offset,
        text: whole.to_string(),
    })
}

/// `default: 'v'` or `default: "v"` → `v`.
fn parse_default(filter: &str) -> Option<String> {
    let rest = filter
        .strip_prefix("default")?
        .trim_start()
        .strip_prefix(':')?
        .trim();
    let quote = rest.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let body = rest[1..].strip_suffix(quote)?;
    (!body.contains(quote)).then(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(root: RawRoot, path: &[&str], offset: usize, text: &str) -> RawPart {
        RawPart::Expr(RawExpr {
            root,
            path: path.iter().map(|s| s.to_string()).collect(),
            default: None,
            offset,
            text: text.to_string(),
        })
    }

    #[test]
    fn a_string_splits_into_literals_and_expressions() {
        assert_eq!(
            parse("id: {{ args.input.id }}!"),
            Ok(vec![
                RawPart::Literal("id: ".into()),
                expr(RawRoot::Args, &["input", "id"], 4, "{{ args.input.id }}"),
                RawPart::Literal("!".into()),
            ])
        );
        assert_eq!(parse("plain"), Ok(vec![RawPart::Literal("plain".into())]));
    }

    #[test]
    fn env_defaults_accept_single_and_double_quotes() {
        for text in [
            "{{env.URL | default: 'sqlite://x.db'}}",
            "{{env.URL|default:\"sqlite://x.db\"}}",
        ] {
            let Ok(parts) = parse(text) else {
                panic!("{text} should parse")
            };
            let RawPart::Expr(e) = &parts[0] else {
                panic!("expected an expression")
            };
            assert_eq!(e.default.as_deref(), Some("sqlite://x.db"));
        }
    }

    #[test]
    fn malformed_templates_are_errors_at_their_opening_braces() {
        let unclosed = parse("x {{args.id").err();
        assert_eq!(unclosed.as_ref().map(|e| e.offset), Some(2));
        assert!(unclosed.is_some_and(|e| e.message.contains("unclosed")));
        assert!(parse("{{}}").is_err_and(|e| e.message.contains("empty")));
        assert!(parse("{{args..id}}").is_err_and(|e| e.message.contains("malformed")));
        let unknown = parse("{{arg.id}}").err();
        assert!(
            unknown.is_some_and(|e| e.hint.is_some_and(|h| h.contains("did you mean \"args\"?")))
        );
        assert!(parse("{{args.id | default: 'x'}}")
            .is_err_and(|e| e.message.contains("only applies to env")));
        assert!(parse("{{env.A.B}}").is_err());
        assert!(parse("{{steps}}").is_err());
        assert!(parse("{{headers}}").is_err_and(|e| e.message.contains("one client header")));
        assert!(parse("{{headers.a.b}}").is_err());
        assert!(parse("{{args.x-y}}").is_err_and(|e| e.message.contains("malformed")));
    }

    #[test]
    fn header_names_may_hold_dashes() {
        assert_eq!(
            parse("{{headers.x-trace}}"),
            Ok(vec![expr(
                RawRoot::Headers,
                &["x-trace"],
                0,
                "{{headers.x-trace}}"
            )])
        );
    }
}
