//! Evaluating `{{...}}` templates against a resolver's scope.
//!
//! A template that is exactly one expression yields the value itself, typed; mixed text yields a
//! string. The result is a bound parameter, never SQL text.

use std::collections::HashMap;

use async_graphql::{Name, Value};
use indexmap::IndexMap;
use tributary_schema::{Expr, Root, Template, TemplatePart};

/// What templates can read while a field resolves.
#[derive(Default)]
pub struct Scope<'a> {
    pub args: Option<&'a IndexMap<Name, Value>>,
    pub parent: Option<&'a IndexMap<Name, Value>>,
    pub steps: Option<&'a HashMap<String, IndexMap<Name, Value>>>,
    pub item: Option<&'a Value>,
    /// Allow-listed client headers, by lower-case name.
    pub headers: Option<&'a HashMap<String, String>>,
}

impl Scope<'_> {
    fn lookup(&self, expr: &Expr) -> Value {
        let mut path = expr.path.iter();
        let start: Option<&Value> = match expr.root {
            Root::Args => path
                .next()
                .and_then(|k| self.args.and_then(|a| a.get(k.as_str()))),
            Root::Parent => path
                .next()
                .and_then(|k| self.parent.and_then(|p| p.get(k.as_str()))),
            Root::Steps => {
                let step = path
                    .next()
                    .and_then(|s| self.steps.and_then(|st| st.get(s)));
                match (step, path.next()) {
                    (Some(row), Some(col)) => row.get(col.as_str()),
                    _ => None,
                }
            }
            Root::Item => self.item,
            Root::Headers => {
                let value = path
                    .next()
                    .and_then(|h| self.headers.and_then(|hs| hs.get(&h.to_ascii_lowercase())));
                return value
                    .map(|v| Value::String(v.clone()))
                    .unwrap_or(Value::Null);
            }
        };
        let mut current = start;
        for key in path {
            current = match current {
                Some(Value::Object(map)) => map.get(key.as_str()),
                _ => None,
            };
        }
        current.cloned().unwrap_or(Value::Null)
    }

    /// Evaluates a template to a value.
    pub fn eval(&self, template: &Template) -> Value {
        if let [TemplatePart::Expr(expr)] = template.parts.as_slice() {
            return self.lookup(expr);
        }
        let mut out = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Expr(expr) => match self.lookup(expr) {
                    Value::Null => {}
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Value::String(out)
    }
}

/// A value as it is bound (SQL parameters, HTTP paths, queries and bodies): enums travel as
/// their names, everywhere inside lists and objects too.
pub fn bound(value: Value) -> Value {
    match value {
        Value::Enum(name) => Value::String(name.to_string()),
        Value::List(items) => Value::List(items.into_iter().map(bound).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, bound(v))).collect()),
        other => other,
    }
}

/// Reads a parent-data key as a batch key: scalars by their text, so that `1` and `"1"` (an
/// integer column and an `ID`) match. `None` for null or a missing key.
pub fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Enum(e) => Some(e.to_string()),
        other => Some(other.to_string()),
    }
}
