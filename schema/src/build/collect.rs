//! First pass: gathers the definitions of the document by type name, merging `extend`
//! definitions into the type they extend, so later passes see each type once and complete
//! (types may be used before they are defined, and extensions may come before or after).

use async_graphql_parser::types::{
    ConstDirective, EnumValueDefinition, FieldDefinition, InputValueDefinition, SchemaDefinition,
    ServiceDocument, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::Positioned;
use async_graphql_value::Name;
use indexmap::IndexMap;

use crate::blueprint::Pos;
use crate::diagnostic::Sink;
use crate::{directives, names};

use super::{BUILTIN_SCALARS, WELL_KNOWN_SCALARS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawKind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    Input,
}

impl RawKind {
    pub(super) fn describe(self) -> &'static str {
        match self {
            RawKind::Scalar => "a scalar",
            RawKind::Object => "an object type",
            RawKind::Interface => "an interface",
            RawKind::Union => "a union",
            RawKind::Enum => "an enum",
            RawKind::Input => "an input type",
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            RawKind::Scalar => "scalar",
            RawKind::Object => "type",
            RawKind::Interface => "interface",
            RawKind::Union => "union",
            RawKind::Enum => "enum",
            RawKind::Input => "input",
        }
    }
}

/// A type with its extensions merged in.
#[derive(Debug, Clone)]
pub(super) struct RawType<'a> {
    pub name: &'a str,
    /// Position of the name in the (first, non-extension) definition.
    pub pos: Pos,
    pub description: Option<&'a str>,
    pub kind: RawKind,
    pub directives: Vec<&'a [Positioned<ConstDirective>]>,
    pub implements: Vec<&'a Positioned<Name>>,
    pub fields: Vec<&'a Positioned<FieldDefinition>>,
    pub input_fields: Vec<&'a Positioned<InputValueDefinition>>,
    pub members: Vec<&'a Positioned<Name>>,
    pub values: Vec<&'a Positioned<EnumValueDefinition>>,
}

impl<'a> RawType<'a> {
    fn new(def: &'a TypeDefinition, kind: RawKind) -> Self {
        let mut t = RawType {
            name: def.name.node.as_str(),
            pos: def.name.pos.into(),
            description: def.description.as_ref().map(|d| d.node.as_str()),
            kind,
            directives: Vec::new(),
            implements: Vec::new(),
            fields: Vec::new(),
            input_fields: Vec::new(),
            members: Vec::new(),
            values: Vec::new(),
        };
        t.merge(def);
        t
    }

    fn merge(&mut self, def: &'a TypeDefinition) {
        self.directives.push(&def.directives);
        match &def.kind {
            TypeKind::Scalar => {}
            TypeKind::Object(o) => {
                self.implements.extend(&o.implements);
                self.fields.extend(&o.fields);
            }
            TypeKind::Interface(i) => {
                self.implements.extend(&i.implements);
                self.fields.extend(&i.fields);
            }
            TypeKind::Union(u) => self.members.extend(&u.members),
            TypeKind::Enum(e) => self.values.extend(&e.values),
            TypeKind::InputObject(i) => self.input_fields.extend(&i.fields),
        }
    }

    pub(super) fn input_field(&self, name: &str) -> Option<&'a InputValueDefinition> {
        self.input_fields
            .iter()
            .map(|f| &f.node)
            .find(|f| f.name.node == name)
    }
}

pub(super) fn kind_of(kind: &TypeKind) -> RawKind {
    match kind {
        TypeKind::Scalar => RawKind::Scalar,
        TypeKind::Object(_) => RawKind::Object,
        TypeKind::Interface(_) => RawKind::Interface,
        TypeKind::Union(_) => RawKind::Union,
        TypeKind::Enum(_) => RawKind::Enum,
        TypeKind::InputObject(_) => RawKind::Input,
    }
}

#[derive(Debug)]
pub(super) struct Collected<'a> {
    pub types: IndexMap<&'a str, RawType<'a>>,
    pub schemas: Vec<&'a Positioned<SchemaDefinition>>,
}

pub(super) fn collect<'a>(sink: &mut Sink, doc: &'a ServiceDocument) -> Collected<'a> {
    let mut types: IndexMap<&'a str, RawType<'a>> = IndexMap::new();
    let mut schemas = Vec::new();
    let mut extensions = Vec::new();
    for def in &doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => schemas.push(s),
            TypeSystemDefinition::Directive(d) => {
                // Copies of Tributary's own directive definitions (kept for editor support)
                // are fine; other directives would have no meaning.
                let name = d.node.name.node.as_str();
                if !directives::DIRECTIVES.iter().any(|spec| spec.name == name) {
                    sink.error_hint(
                        d.pos,
                        format!("custom directive @{name} is not supported"),
                        "Tributary's directives (@source, @sql, @http, @timeout, @value, @map, @cache, @invalidate) are built in; remove this definition",
                    );
                }
            }
            TypeSystemDefinition::Type(t) if t.node.extend => extensions.push(t),
            TypeSystemDefinition::Type(t) => {
                let def = &t.node;
                let name = def.name.node.as_str();
                let kind = kind_of(&def.kind);
                if BUILTIN_SCALARS.contains(&name) {
                    sink.error_hint(
                        def.name.pos,
                        format!("{name} is a built-in scalar and cannot be defined"),
                        "rename this type",
                    );
                    continue;
                }
                if name.starts_with("__") {
                    sink.error(def.name.pos, format!("type name {name} is reserved: names starting with `__` belong to GraphQL introspection"));
                    continue;
                }
                if WELL_KNOWN_SCALARS.iter().any(|(n, _)| *n == name) && kind != RawKind::Scalar {
                    sink.error_hint(
                        def.name.pos,
                        format!("{name} is one of Tributary's scalars and can only be declared as `scalar {name}`"),
                        "rename this type",
                    );
                    continue;
                }
                if let Some(first) = types.get(name) {
                    sink.error_hint(
                        def.name.pos,
                        format!("type {name} is defined twice"),
                        format!(
                            "first defined at {}; to add fields to it, write `extend {} {name}`",
                            first.pos,
                            kind.keyword()
                        ),
                    );
                    continue;
                }
                types.insert(name, RawType::new(def, kind));
            }
        }
    }
    for ext in extensions {
        let def = &ext.node;
        let name = def.name.node.as_str();
        let kind = kind_of(&def.kind);
        match types.get_mut(name) {
            Some(t) if t.kind == kind => t.merge(def),
            Some(t) => sink.error(
                def.name.pos,
                format!(
                    "`extend {} {name}` does not match: {name} is {}",
                    kind.keyword(),
                    t.kind.describe()
                ),
            ),
            None => {
                let hint = names::did_you_mean(name, types.keys().copied()).unwrap_or_else(|| {
                    format!("define it first: `{} {name} {{ ... }}`", kind.keyword())
                });
                sink.error_hint(
                    def.name.pos,
                    format!("cannot extend unknown type {name}"),
                    hint,
                );
            }
        }
    }
    Collected { types, schemas }
}
