//! The response's `Cache-Control`, computed from the operation by Apollo's cache-control rules:
//!
//! - a field's policy is its own `@cache`, else its return type's `@cache`;
//! - root fields and fields returning an object (or a list of them) without a policy are
//!   uncacheable; scalar and enum fields without one inherit their parent's, so they change
//!   nothing;
//! - the response gets the smallest `max-age` of its fields and the most restrictive scope:
//!   anything PRIVATE makes it `private`, anything uncacheable `no-store`.
//!
//! Mutations, subscriptions and responses with errors are `no-store`.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use tributary_schema::{Blueprint, CacheScope, Resolver, TypeDef, TypeRef};

/// The cache policy of every field and type, for computing `Cache-Control`.
#[derive(Default)]
pub struct PolicyIndex {
    fields: HashMap<String, HashMap<String, FieldInfo>>,
    types: HashMap<String, (Duration, CacheScope)>,
    possible: HashMap<String, Vec<String>>,
    query: String,
}

struct FieldInfo {
    ty: TypeRef,
    policy: Option<(Duration, CacheScope)>,
    /// Returns an object, interface or union (not a leaf).
    composite: bool,
    /// Resolves without any source: `@value`, or read from its parent's data (which, under a
    /// constant parent, is constant too).
    constant: bool,
}

/// The response-wide policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsePolicy {
    NoStore,
    Cache { max_age: u64, private: bool },
}

impl ResponsePolicy {
    pub fn header_value(self) -> String {
        match self {
            ResponsePolicy::NoStore => "no-store".to_string(),
            ResponsePolicy::Cache {
                max_age,
                private: true,
            } => format!("max-age={max_age}, private"),
            ResponsePolicy::Cache {
                max_age,
                private: false,
            } => format!("max-age={max_age}, public"),
        }
    }
}

impl PolicyIndex {
    pub fn new(bp: &Blueprint) -> Self {
        let mut index = PolicyIndex {
            query: bp.query.clone(),
            possible: bp.possible_types(),
            ..PolicyIndex::default()
        };
        for ty in bp.types.values() {
            if let TypeDef::Object(o) | TypeDef::Interface(o) = ty {
                if let Some(c) = &o.cache {
                    index.types.insert(o.name.clone(), (c.ttl, c.scope));
                }
            }
        }
        for ty in bp.types.values() {
            let (TypeDef::Object(o) | TypeDef::Interface(o)) = ty else {
                continue;
            };
            let fields = o
                .fields
                .values()
                .map(|f| {
                    let composite = matches!(
                        bp.types.get(f.ty.name()),
                        Some(TypeDef::Object(_) | TypeDef::Interface(_) | TypeDef::Union(_))
                    );
                    let policy = f
                        .cache
                        .as_ref()
                        .map(|c| (c.ttl, c.scope))
                        .or_else(|| index.types.get(f.ty.name()).copied());
                    (
                        f.name.clone(),
                        FieldInfo {
                            ty: f.ty.clone(),
                            policy,
                            composite,
                            constant: matches!(f.resolver, Resolver::Value(_) | Resolver::Parent),
                        },
                    )
                })
                .collect();
            index.fields.insert(o.name.clone(), fields);
        }
        index
    }

    fn field(&self, type_name: &str, field: &str) -> Option<&FieldInfo> {
        if let Some(f) = self.fields.get(type_name).and_then(|f| f.get(field)) {
            return Some(f);
        }
        self.possible
            .get(type_name)?
            .iter()
            .find_map(|member| self.fields.get(member).and_then(|f| f.get(field)))
    }

    /// The policy of an operation (before execution: it depends only on the selection).
    pub fn policy(&self, doc: &ExecutableDocument, operation: Option<&str>) -> ResponsePolicy {
        let Some(op) = super::selected_operation(doc, operation) else {
            return ResponsePolicy::NoStore;
        };
        if op.ty != OperationType::Query {
            return ResponsePolicy::NoStore;
        }
        let mut acc = Acc {
            max_age: None,
            private: false,
            no_store: false,
        };
        self.walk(&op.selection_set.node, doc, &self.query, true, &mut acc, 0);
        match (acc.no_store, acc.max_age) {
            (true, _) | (false, None) => ResponsePolicy::NoStore,
            (false, Some(max_age)) => ResponsePolicy::Cache {
                max_age,
                private: acc.private,
            },
        }
    }

    /// Whether the operation's response is the same for every request that sends it: a query
    /// whose every selected field is `@value`, read from a constant parent, `__typename` or
    /// introspection (the schema does not change while the server runs). No source is asked,
    /// and nothing of the request but the operation itself (document, variables) is read, so
    /// its serialized response can be kept and served again (`server::constant`).
    pub fn is_constant(&self, doc: &ExecutableDocument, operation: Option<&str>) -> bool {
        super::selected_operation(doc, operation).is_some_and(|op| {
            op.ty == OperationType::Query
                && self.all_constant(&op.selection_set.node, doc, &self.query, 0)
        })
    }

    fn all_constant(
        &self,
        set: &SelectionSet,
        doc: &ExecutableDocument,
        type_name: &str,
        depth: usize,
    ) -> bool {
        if depth > 64 {
            return false;
        }
        set.items.iter().all(|sel| match &sel.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                if name.starts_with("__") {
                    return true;
                }
                match self.field(type_name, name) {
                    Some(info) if info.constant => {
                        !info.composite
                            || self.all_constant(
                                &f.node.selection_set.node,
                                doc,
                                info.ty.name(),
                                depth + 1,
                            )
                    }
                    _ => false,
                }
            }
            fragment => match fragment_selection(fragment, doc, type_name) {
                Some((set, ty)) => self.all_constant(set, doc, &ty, depth + 1),
                None => false,
            },
        })
    }

    fn walk(
        &self,
        set: &SelectionSet,
        doc: &ExecutableDocument,
        type_name: &str,
        root: bool,
        acc: &mut Acc,
        depth: usize,
    ) {
        if depth > 64 || acc.no_store {
            return;
        }
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    let Some(info) = self.field(type_name, name) else {
                        continue;
                    };
                    match info.policy {
                        Some((ttl, scope)) => {
                            let secs = ttl.as_secs();
                            acc.max_age = Some(acc.max_age.map_or(secs, |m| m.min(secs)));
                            if scope == CacheScope::Private {
                                acc.private = true;
                            }
                        }
                        None if root || info.composite => {
                            acc.no_store = true;
                            return;
                        }
                        None => {}
                    }
                    if info.composite {
                        self.walk(
                            &f.node.selection_set.node,
                            doc,
                            info.ty.name(),
                            false,
                            acc,
                            depth + 1,
                        );
                    }
                }
                fragment => {
                    if let Some((set, ty)) = fragment_selection(fragment, doc, type_name) {
                        self.walk(set, doc, &ty, root, acc, depth + 1);
                    }
                }
            }
        }
    }
}

/// The selection set of an inline fragment or fragment spread and the type it applies to
/// (the enclosing `type_name` for an inline fragment without a condition); `None` for a
/// field or a spread of an unknown fragment.
fn fragment_selection<'a>(
    selection: &'a Selection,
    doc: &'a ExecutableDocument,
    type_name: &str,
) -> Option<(&'a SelectionSet, String)> {
    match selection {
        Selection::Field(_) => None,
        Selection::InlineFragment(fr) => Some((
            &fr.node.selection_set.node,
            fr.node
                .type_condition
                .as_ref()
                .map(|c| c.node.on.node.to_string())
                .unwrap_or_else(|| type_name.to_string()),
        )),
        Selection::FragmentSpread(sp) => doc.fragments.get(&sp.node.fragment_name.node).map(|fr| {
            (
                &fr.node.selection_set.node,
                fr.node.type_condition.node.on.node.to_string(),
            )
        }),
    }
}

struct Acc {
    max_age: Option<u64>,
    private: bool,
    no_store: bool,
}
