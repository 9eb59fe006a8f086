//! Types, fields, arguments and values: names, references, duplicates, interface
//! implementations, union members, and default values that fit their types.

use std::collections::HashMap;

use async_graphql_parser::types::{BaseType, ConstDirective, InputValueDefinition, Type};
use async_graphql_parser::Positioned;
use async_graphql_value::ConstValue;
use indexmap::IndexMap;

use crate::blueprint::{
    ArgDef, EnumDef, EnumValueDef, InputDef, ObjectDef, Pos, ScalarDef, TypeDef, TypeRef, UnionDef,
};
use crate::directives::{self, Checked, Location};
use crate::names;
use crate::values;

use super::collect::{RawKind, RawType};
use super::{Builder, Kind, Usage};

/// `@deprecated` without a reason means this, per the GraphQL specification.
const DEFAULT_DEPRECATION: &str = "No longer supported";

impl<'a> Builder<'a> {
    pub(super) fn build_types(&mut self) -> IndexMap<String, TypeDef> {
        let raw: Vec<&'a str> = self.types.keys().copied().collect();
        let mut out = IndexMap::new();
        // Where each `implements X` is written, to point interface errors at it.
        let mut implements_pos: HashMap<(String, String), Pos> = HashMap::new();
        for name in raw {
            // A cheap copy (references into the document), so `self` can be borrowed mutably.
            let Some(t) = self.types.get(name).cloned() else {
                continue;
            };
            let t = &t;
            let def = match t.kind {
                RawKind::Scalar => {
                    self.directives_at(&t.directives, Location::Scalar);
                    TypeDef::Scalar(ScalarDef {
                        name: t.name.to_string(),
                        description: t.description.map(str::to_string),
                        pos: t.pos,
                    })
                }
                RawKind::Object | RawKind::Interface => {
                    for i in &t.implements {
                        implements_pos
                            .entry((t.name.to_string(), i.node.to_string()))
                            .or_insert(i.pos.into());
                    }
                    let obj = self.object(t);
                    if t.kind == RawKind::Object {
                        TypeDef::Object(obj)
                    } else {
                        TypeDef::Interface(obj)
                    }
                }
                RawKind::Union => TypeDef::Union(self.union(t)),
                RawKind::Enum => TypeDef::Enum(self.enumeration(t)),
                RawKind::Input => TypeDef::Input(self.input(t)),
            };
            out.insert(name.to_string(), def);
        }
        self.check_implementations(&out, &implements_pos);
        out
    }

    /// Checks directives written on a type (possibly in several `extend`s).
    fn directives_at(
        &mut self,
        lists: &[&'a [Positioned<ConstDirective>]],
        location: Location,
    ) -> Vec<Checked<'a>> {
        let mut out = Vec::new();
        for list in lists {
            out.extend(directives::check(&mut self.sink, self.map, list, location));
        }
        out
    }

    fn object(&mut self, t: &RawType<'a>) -> ObjectDef {
        let interface = t.kind == RawKind::Interface;
        let dirs = self.directives_at(
            &t.directives,
            if interface {
                Location::Interface
            } else {
                Location::Object
            },
        );
        let mut implements: Vec<String> = Vec::new();
        for i in &t.implements {
            let iname = i.node.as_str();
            if implements.iter().any(|x| x == iname) {
                self.sink
                    .error(i.pos, format!("{} lists interface {iname} twice", t.name));
                continue;
            }
            match self.kind(iname) {
                Some(Kind::Interface) if iname == t.name => {
                    self.sink
                        .error(i.pos, format!("interface {iname} cannot implement itself"));
                }
                Some(Kind::Interface) => implements.push(iname.to_string()),
                Some(kind) => self.sink.error_hint(
                    i.pos,
                    format!(
                        "{} implements {iname}, which is {}",
                        t.name,
                        kind.describe()
                    ),
                    "only interfaces can be implemented",
                ),
                None => {
                    let interfaces = self
                        .types
                        .values()
                        .filter(|x| x.kind == RawKind::Interface)
                        .map(|x| x.name)
                        .collect::<Vec<_>>();
                    let hint = names::did_you_mean(iname, interfaces.iter().copied())
                        .unwrap_or_else(|| format!("declare `interface {iname} {{ ... }}`"));
                    self.sink
                        .error_hint(i.pos, format!("unknown interface {iname}"), hint);
                }
            }
        }
        let mut fields = IndexMap::new();
        for f in &t.fields {
            let name = f.node.name.node.as_str();
            if let Some(first) = fields.get(name).map(|x: &crate::blueprint::FieldDef| x.pos) {
                self.sink.error_hint(
                    f.node.name.pos,
                    format!("field {}.{name} is defined twice", t.name),
                    format!("first defined at {first}"),
                );
                continue;
            }
            let field = self.field(t, f);
            fields.insert(name.to_string(), field);
        }
        if fields.is_empty() {
            self.sink.error_hint(
                t.pos,
                format!(
                    "{} {} has no fields",
                    if interface { "interface" } else { "type" },
                    t.name
                ),
                "GraphQL object types and interfaces need at least one field",
            );
        }
        let cache = self.type_cache(t, &dirs);
        ObjectDef {
            name: t.name.to_string(),
            description: t.description.map(str::to_string),
            implements,
            fields,
            cache,
            pos: t.pos,
        }
    }

    /// Arguments of a field or fields of an input type (same shape, same rules).
    pub(super) fn input_values(
        &mut self,
        values: &[&'a Positioned<InputValueDefinition>],
        owner: &str,
        noun: &str,
        location: Location,
    ) -> IndexMap<String, ArgDef> {
        let mut out: IndexMap<String, ArgDef> = IndexMap::new();
        for v in values {
            let def = &v.node;
            let name = def.name.node.as_str();
            if let Some(first) = out.get(name) {
                self.sink.error_hint(
                    def.name.pos,
                    format!("{noun} `{name}` of {owner} is defined twice"),
                    format!("first defined at {}", first.pos),
                );
                continue;
            }
            self.reserved_name(name, def.name.pos.into());
            directives::check(&mut self.sink, self.map, &def.directives, location);
            let what = format!("{noun} `{name}` of {owner}");
            let ty = self.type_ref(&def.ty, Usage::Input, &what);
            let default = def.default_value.as_ref().map(|d| {
                if let Err(problem) = self.fits(&d.node, &def.ty.node, Usage::Input) {
                    self.sink.error(
                        d.pos,
                        format!(
                            "default value of {what} does not fit {}: {problem}",
                            def.ty.node
                        ),
                    );
                }
                d.node.clone()
            });
            out.insert(
                name.to_string(),
                ArgDef {
                    name: name.to_string(),
                    description: def.description.as_ref().map(|d| d.node.clone()),
                    ty,
                    default,
                    pos: def.name.pos.into(),
                },
            );
        }
        out
    }

    pub(super) fn reserved_name(&mut self, name: &str, pos: Pos) {
        if name.starts_with("__") {
            self.sink.error(pos, format!("`{name}` is reserved: names starting with `__` belong to GraphQL introspection"));
        }
    }

    fn input(&mut self, t: &RawType<'a>) -> InputDef {
        self.directives_at(&t.directives, Location::Input);
        let fields = self.input_values(
            &t.input_fields,
            &format!("input {}", t.name),
            "field",
            Location::InputField,
        );
        if fields.is_empty() {
            self.sink
                .error(t.pos, format!("input {} has no fields", t.name));
        }
        InputDef {
            name: t.name.to_string(),
            description: t.description.map(str::to_string),
            fields,
            pos: t.pos,
        }
    }

    fn enumeration(&mut self, t: &RawType<'a>) -> EnumDef {
        self.directives_at(&t.directives, Location::Enum);
        let mut values: Vec<EnumValueDef> = Vec::new();
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for v in &t.values {
            let name = v.node.value.node.as_str();
            if let Some(first) = seen.get(name) {
                self.sink.error_hint(
                    v.node.value.pos,
                    format!("enum value {}.{name} is defined twice", t.name),
                    format!("first defined at {first}"),
                );
                continue;
            }
            seen.insert(name, v.node.value.pos.into());
            self.reserved_name(name, v.node.value.pos.into());
            let dirs = directives::check(
                &mut self.sink,
                self.map,
                &v.node.directives,
                Location::EnumValue,
            );
            values.push(EnumValueDef {
                name: name.to_string(),
                description: v.node.description.as_ref().map(|d| d.node.clone()),
                deprecation: deprecation(&dirs),
            });
        }
        if values.is_empty() {
            self.sink
                .error(t.pos, format!("enum {} has no values", t.name));
        }
        EnumDef {
            name: t.name.to_string(),
            description: t.description.map(str::to_string),
            values,
            pos: t.pos,
        }
    }

    fn union(&mut self, t: &RawType<'a>) -> UnionDef {
        self.directives_at(&t.directives, Location::Union);
        let mut members: Vec<String> = Vec::new();
        for m in &t.members {
            let name = m.node.as_str();
            if members.iter().any(|x| x == name) {
                self.sink
                    .error(m.pos, format!("union {} lists {name} twice", t.name));
                continue;
            }
            match self.kind(name) {
                Some(Kind::Object) => members.push(name.to_string()),
                Some(kind) => self.sink.error_hint(
                    m.pos,
                    format!(
                        "union {} includes {name}, which is {}",
                        t.name,
                        kind.describe()
                    ),
                    "union members must be object types",
                ),
                None => {
                    let objects: Vec<&str> = self
                        .types
                        .values()
                        .filter(|x| x.kind == RawKind::Object)
                        .map(|x| x.name)
                        .collect();
                    let hint = names::did_you_mean(name, objects)
                        .unwrap_or_else(|| format!("declare `type {name} {{ ... }}`"));
                    self.sink.error_hint(
                        m.pos,
                        format!("unknown type {name} in union {}", t.name),
                        hint,
                    );
                }
            }
        }
        if t.members.is_empty() {
            self.sink
                .error(t.pos, format!("union {} has no members", t.name));
        }
        UnionDef {
            name: t.name.to_string(),
            description: t.description.map(str::to_string),
            members,
            pos: t.pos,
        }
    }

    /// Every field of each implemented interface must be on the implementing type, with a
    /// compatible type and the interface's arguments.
    fn check_implementations(
        &mut self,
        types: &IndexMap<String, TypeDef>,
        implements_pos: &HashMap<(String, String), Pos>,
    ) {
        for def in types.values() {
            let obj = match def {
                TypeDef::Object(o) | TypeDef::Interface(o) => o,
                _ => continue,
            };
            for iname in &obj.implements {
                let Some(TypeDef::Interface(iface)) = types.get(iname) else {
                    continue;
                };
                let at = implements_pos
                    .get(&(obj.name.clone(), iname.clone()))
                    .copied()
                    .unwrap_or(obj.pos);
                let missing: Vec<&str> = iface
                    .fields
                    .keys()
                    .filter(|f| !obj.fields.contains_key(*f))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    let plural = if missing.len() == 1 { "" } else { "s" };
                    self.sink.error_hint(
                        at,
                        format!(
                            "{} implements {iname} but lacks its field{plural} {}",
                            obj.name,
                            missing
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        format!(
                            "add {} to {}",
                            missing
                                .iter()
                                .filter_map(|m| iface.fields.get(*m))
                                .map(|f| format!("`{}: {}`", f.name, f.ty))
                                .collect::<Vec<_>>()
                                .join(", "),
                            obj.name
                        ),
                    );
                }
                for (fname, ifield) in &iface.fields {
                    let Some(field) = obj.fields.get(fname) else {
                        continue;
                    };
                    if !self.is_subtype(types, &field.ty, &ifield.ty) {
                        self.sink.error_hint(
                            field.pos,
                            format!(
                                "field {}.{fname} has type {}, but interface {iname} declares {}",
                                obj.name, field.ty, ifield.ty
                            ),
                            format!("make it {} (or a more specific type)", ifield.ty),
                        );
                    }
                    for (aname, iarg) in &ifield.args {
                        match field.args.get(aname) {
                            None => self.sink.error_hint(
                                field.pos,
                                format!("field {}.{fname} lacks argument `{aname}` of interface {iname}", obj.name),
                                format!("add `{aname}: {}`", iarg.ty),
                            ),
                            Some(arg) if arg.ty != iarg.ty => self.sink.error(
                                arg.pos,
                                format!(
                                    "argument `{aname}` of {}.{fname} has type {}, but interface {iname} declares {}",
                                    obj.name, arg.ty, iarg.ty
                                ),
                            ),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }

    /// Whether a field of type `sub` may implement an interface field of type `sup`
    /// (GraphQL's covariance: same type, a member/implementation of it, or non-null of it).
    fn is_subtype(&self, types: &IndexMap<String, TypeDef>, sub: &TypeRef, sup: &TypeRef) -> bool {
        match (sub, sup) {
            (TypeRef::NonNull(a), TypeRef::NonNull(b)) => self.is_subtype(types, a, b),
            (TypeRef::NonNull(a), b) => self.is_subtype(types, a, b),
            (TypeRef::List(a), TypeRef::List(b)) => self.is_subtype(types, a, b),
            (TypeRef::Named(a), TypeRef::Named(b)) => {
                a == b
                    || match (types.get(a), types.get(b)) {
                        (
                            Some(TypeDef::Object(o) | TypeDef::Interface(o)),
                            Some(TypeDef::Interface(_)),
                        ) => o.implements.contains(b),
                        (Some(TypeDef::Object(_)), Some(TypeDef::Union(u))) => {
                            u.members.contains(a)
                        }
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    /// Whether a constant fits a type: `Err` says why not. For input (defaults), GraphQL's
    /// input coercion; for output (`@value`), the value must already have the field's shape.
    pub(super) fn fits(&self, v: &ConstValue, ty: &Type, usage: Usage) -> Result<(), String> {
        if matches!(v, ConstValue::Null) {
            return if ty.nullable {
                Ok(())
            } else {
                Err(format!("null is not allowed for {ty}"))
            };
        }
        match &ty.base {
            BaseType::List(item) => match v {
                ConstValue::List(items) => {
                    for (i, x) in items.iter().enumerate() {
                        self.fits(x, item, usage)
                            .map_err(|e| format!("element {i}: {e}"))?;
                    }
                    Ok(())
                }
                _ if usage == Usage::Input => self.fits(v, item, usage),
                _ => Err(format!("expected a list, found {}", values::describe(v))),
            },
            BaseType::Named(name) => {
                let name = name.as_str();
                let wrong = || Err(format!("expected {name}, found {}", values::describe(v)));
                let integer =
                    |v: &ConstValue| matches!(v, ConstValue::Number(n) if n.is_i64() || n.is_u64());
                match self.kind(name) {
                    None => Ok(()), // reported as an unknown type already
                    Some(Kind::Builtin) => {
                        let ok = match name {
                            "Int" => match v {
                                ConstValue::Number(n) => {
                                    n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                                }
                                _ => false,
                            },
                            "Float" => matches!(v, ConstValue::Number(_)),
                            "String" => matches!(v, ConstValue::String(_)),
                            "Boolean" => matches!(v, ConstValue::Boolean(_)),
                            _ => matches!(v, ConstValue::String(_)) || integer(v), // ID
                        };
                        if ok {
                            Ok(())
                        } else {
                            wrong()
                        }
                    }
                    Some(Kind::WellKnown) => {
                        let ok = match name {
                            "JSON" => true,
                            "Decimal" => matches!(v, ConstValue::String(_) | ConstValue::Number(_)),
                            _ => matches!(v, ConstValue::String(_)),
                        };
                        if ok {
                            Ok(())
                        } else {
                            wrong()
                        }
                    }
                    Some(Kind::Scalar) => Ok(()),
                    Some(Kind::Enum) => {
                        let given = match v {
                            ConstValue::Enum(e) => e.as_str(),
                            ConstValue::String(s) if usage == Usage::Output => s.as_str(),
                            ConstValue::String(s) => {
                                return Err(format!(
                                    "enum values are written without quotes: {s}, not \"{s}\""
                                ));
                            }
                            _ => return wrong(),
                        };
                        let Some(t) = self.types.get(name) else {
                            return Ok(());
                        };
                        let valid: Vec<&str> = t
                            .values
                            .iter()
                            .map(|x| x.node.value.node.as_str())
                            .collect();
                        if valid.contains(&given) {
                            Ok(())
                        } else {
                            Err(format!(
                                "{given} is not a value of enum {name} (values: {})",
                                names::list(valid)
                            ))
                        }
                    }
                    Some(Kind::Input) => {
                        let ConstValue::Object(fields) = v else {
                            return wrong();
                        };
                        let Some(t) = self.types.get(name) else {
                            return Ok(());
                        };
                        for (k, x) in fields {
                            let Some(f) = t.input_field(k) else {
                                return Err(format!("input {name} has no field `{k}`"));
                            };
                            self.fits(x, &f.ty.node, usage)
                                .map_err(|e| format!("field `{k}`: {e}"))?;
                        }
                        for f in &t.input_fields {
                            let f = &f.node;
                            if !f.ty.node.nullable
                                && f.default_value.is_none()
                                && !fields.contains_key(&f.name.node)
                            {
                                return Err(format!(
                                    "required field `{}` of input {name} is missing",
                                    f.name.node
                                ));
                            }
                        }
                        Ok(())
                    }
                    Some(Kind::Object | Kind::Interface | Kind::Union) => {
                        if matches!(v, ConstValue::Object(_)) {
                            Ok(())
                        } else {
                            wrong()
                        }
                    }
                }
            }
        }
    }
}

/// The reason of a checked `@deprecated`, if there is one.
pub(super) fn deprecation(dirs: &[Checked<'_>]) -> Option<String> {
    dirs.iter().find(|d| d.name == "deprecated").map(|d| {
        d.string("reason")
            .map_or_else(|| DEFAULT_DEPRECATION.to_string(), |(r, _)| r.to_string())
    })
}
