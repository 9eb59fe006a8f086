//! The client-facing SDL: what clients (codegen, IDEs, `buildSchema`) see. Printed from the
//! Blueprint, so Tributary's directives, `@source` and how fields are resolved never leak,
//! while descriptions, deprecations and defaults are kept.

use std::fmt::Write;

use crate::blueprint::{ArgDef, Blueprint, FieldDef, ObjectDef, TypeDef};
use crate::values;

pub(crate) fn client_schema(bp: &Blueprint) -> String {
    let mut out = String::new();
    // Without a schema block, GraphQL tools take the types named Query, Mutation and
    // Subscription as the roots; the block is written only when that would be wrong, and
    // then lists every root.
    let by_name = |name: &'static str| bp.types.contains_key(name).then_some(name);
    let defaults = bp.query == "Query"
        && bp.mutation.as_deref() == by_name("Mutation")
        && bp.subscription.as_deref() == by_name("Subscription");
    if !defaults {
        let _ = writeln!(out, "schema {{\n  query: {}", bp.query);
        if let Some(m) = &bp.mutation {
            let _ = writeln!(out, "  mutation: {m}");
        }
        if let Some(s) = &bp.subscription {
            let _ = writeln!(out, "  subscription: {s}");
        }
        out.push_str("}\n");
    }
    for def in bp.types.values() {
        if !out.is_empty() {
            out.push('\n');
        }
        match def {
            TypeDef::Scalar(s) => {
                description(&mut out, s.description.as_deref(), "");
                let _ = writeln!(out, "scalar {}", s.name);
            }
            TypeDef::Object(o) => object(&mut out, "type", o),
            TypeDef::Interface(o) => object(&mut out, "interface", o),
            TypeDef::Union(u) => {
                description(&mut out, u.description.as_deref(), "");
                let _ = writeln!(out, "union {} = {}", u.name, u.members.join(" | "));
            }
            TypeDef::Enum(e) => {
                description(&mut out, e.description.as_deref(), "");
                let _ = writeln!(out, "enum {} {{", e.name);
                for v in &e.values {
                    description(&mut out, v.description.as_deref(), "  ");
                    let _ = write!(out, "  {}", v.name);
                    deprecated(&mut out, v.deprecation.as_deref());
                    out.push('\n');
                }
                out.push_str("}\n");
            }
            TypeDef::Input(i) => {
                description(&mut out, i.description.as_deref(), "");
                let _ = writeln!(out, "input {} {{", i.name);
                for f in i.fields.values() {
                    description(&mut out, f.description.as_deref(), "  ");
                    out.push_str("  ");
                    input_value(&mut out, f);
                    out.push('\n');
                }
                out.push_str("}\n");
            }
        }
    }
    out
}

fn object(out: &mut String, keyword: &str, o: &ObjectDef) {
    description(out, o.description.as_deref(), "");
    let _ = write!(out, "{keyword} {}", o.name);
    if !o.implements.is_empty() {
        let _ = write!(out, " implements {}", o.implements.join(" & "));
    }
    out.push_str(" {\n");
    for f in o.fields.values() {
        field(out, f);
    }
    out.push_str("}\n");
}

fn field(out: &mut String, f: &FieldDef) {
    description(out, f.description.as_deref(), "  ");
    let _ = write!(out, "  {}", f.name);
    if !f.args.is_empty() {
        // One argument per line when any has a description (descriptions need their own lines).
        let multiline = f.args.values().any(|a| a.description.is_some());
        out.push('(');
        for (i, a) in f.args.values().enumerate() {
            if multiline {
                out.push('\n');
                description(out, a.description.as_deref(), "    ");
                out.push_str("    ");
            } else if i > 0 {
                out.push_str(", ");
            }
            input_value(out, a);
        }
        if multiline {
            out.push_str("\n  ");
        }
        out.push(')');
    }
    let _ = write!(out, ": {}", f.ty);
    deprecated(out, f.deprecation.as_deref());
    out.push('\n');
}

fn input_value(out: &mut String, a: &ArgDef) {
    let _ = write!(out, "{}: {}", a.name, a.ty);
    if let Some(d) = &a.default {
        let _ = write!(out, " = {}", values::to_graphql(d));
    }
}

fn deprecated(out: &mut String, reason: Option<&str>) {
    if let Some(reason) = reason {
        out.push_str(" @deprecated(reason: ");
        values::write_string(out, reason);
        out.push(')');
    }
}

/// A description on its own line(s): a plain string when it is one line, else a block string
/// with `"""` escaped. Block strings drop common indentation, so the indent added here for
/// nesting does not change the text.
fn description(out: &mut String, text: Option<&str>, indent: &str) {
    let Some(text) = text else { return };
    out.push_str(indent);
    if !text.contains(['\n', '\r']) {
        values::write_string(out, text);
        out.push('\n');
        return;
    }
    let _ = writeln!(out, "\"\"\"");
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{}", line.replace("\"\"\"", "\\\"\"\""));
        }
    }
    let _ = writeln!(out, "{indent}\"\"\"");
}
