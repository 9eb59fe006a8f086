//! Null propagation (GraphQL spec, "Handling Field Errors"): a field error at a non-null
//! position nulls the nearest nullable ancestor, up to `data` itself.
//!
//! async-graphql's dynamic schema leaves a failed field out of its parent instead, whatever
//! its nullability. This pass runs only on responses with errors: it follows each error's
//! path through the document (aliases and fragments included) to learn the type of every
//! position, then writes the `null` where the spec puts it.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{PathSegment, Response, Value};
use tributary_schema::{Blueprint, TypeDef, TypeRef};

/// Field types by type and field name, for walking paths.
#[derive(Default)]
pub struct TypeIndex {
    fields: HashMap<String, HashMap<String, TypeRef>>,
    /// Object types that can stand for an interface or union.
    possible: HashMap<String, Vec<String>>,
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
}

impl TypeIndex {
    pub fn new(bp: &Blueprint) -> Self {
        let mut index = TypeIndex {
            query: bp.query.clone(),
            mutation: bp.mutation.clone(),
            subscription: bp.subscription.clone(),
            possible: bp.possible_types(),
            ..TypeIndex::default()
        };
        for ty in bp.types.values() {
            if let TypeDef::Object(o) | TypeDef::Interface(o) = ty {
                index.fields.insert(
                    o.name.clone(),
                    o.fields
                        .values()
                        .map(|f| (f.name.clone(), f.ty.clone()))
                        .collect(),
                );
            }
        }
        index
    }

    fn field_type(&self, type_name: &str, field: &str) -> Option<&TypeRef> {
        if let Some(t) = self.fields.get(type_name).and_then(|f| f.get(field)) {
            return Some(t);
        }
        self.possible
            .get(type_name)?
            .iter()
            .find_map(|member| self.fields.get(member).and_then(|f| f.get(field)))
    }
}

/// Finds the field name behind a response key in a selection set (fragments expanded) and
/// the merged sub-selections of every occurrence.
fn find<'a>(
    set: &'a SelectionSet,
    doc: &'a ExecutableDocument,
    key: &str,
    name: &mut Option<String>,
    subs: &mut Vec<&'a SelectionSet>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for sel in &set.items {
        match &sel.node {
            Selection::Field(f) => {
                if f.node.response_key().node.as_str() == key {
                    if name.is_none() {
                        *name = Some(f.node.name.node.to_string());
                    }
                    subs.push(&f.node.selection_set.node);
                }
            }
            Selection::InlineFragment(fr) => {
                find(&fr.node.selection_set.node, doc, key, name, subs, depth + 1)
            }
            Selection::FragmentSpread(sp) => {
                if let Some(fr) = doc.fragments.get(&sp.node.fragment_name.node) {
                    find(&fr.node.selection_set.node, doc, key, name, subs, depth + 1);
                }
            }
        }
    }
}

/// Applies null propagation to `response` for every error that has a path.
pub fn propagate(
    response: &mut Response,
    doc: &ExecutableDocument,
    operation: Option<&str>,
    types: &TypeIndex,
) {
    let Some(op) = super::selected_operation(doc, operation) else {
        return;
    };
    let root = match op.ty {
        OperationType::Query => Some(types.query.clone()),
        OperationType::Mutation => types.mutation.clone(),
        OperationType::Subscription => types.subscription.clone(),
    };
    let Some(root) = root else { return };
    let paths: Vec<Vec<PathSegment>> = response
        .errors
        .iter()
        .filter(|e| !e.path.is_empty())
        .map(|e| e.path.clone())
        .collect();
    for path in paths {
        // The type of each position along the path.
        let mut positions: Vec<TypeRef> = Vec::with_capacity(path.len());
        let mut sets: Vec<&SelectionSet> = vec![&op.selection_set.node];
        let mut parent_type = root.clone();
        let mut current: Option<TypeRef> = None;
        let mut ok = true;
        for seg in &path {
            match seg {
                PathSegment::Field(key) => {
                    let mut name = None;
                    let mut subs = Vec::new();
                    for set in &sets {
                        find(set, doc, key, &mut name, &mut subs, 0);
                    }
                    let Some(ty) = name.and_then(|n| types.field_type(&parent_type, &n)) else {
                        ok = false;
                        break;
                    };
                    parent_type = ty.name().to_string();
                    sets = subs;
                    positions.push(ty.clone());
                    current = Some(ty.clone());
                }
                PathSegment::Index(_) => {
                    let item = match current.take() {
                        Some(TypeRef::NonNull(inner)) => match *inner {
                            TypeRef::List(item) => *item,
                            _ => {
                                ok = false;
                                break;
                            }
                        },
                        Some(TypeRef::List(item)) => *item,
                        _ => {
                            ok = false;
                            break;
                        }
                    };
                    positions.push(item.clone());
                    current = Some(item);
                }
            }
        }
        if !ok || positions.len() != path.len() {
            continue;
        }
        // The nearest nullable position at or above the error.
        let mut at = path.len();
        while at > 0 && positions[at - 1].is_non_null() {
            at -= 1;
        }
        if at == 0 {
            response.data = Value::Null;
            return;
        }
        set_null(&mut response.data, &path[..at]);
    }
}

fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = data;
    for seg in parents {
        node = match (seg, node) {
            (PathSegment::Field(k), Value::Object(map)) => match map.get_mut(k.as_str()) {
                Some(v) => v,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (last, node) {
        (PathSegment::Field(k), Value::Object(map)) => {
            map.insert(async_graphql::Name::new(k), Value::Null);
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(v) = items.get_mut(*i) {
                *v = Value::Null;
            }
        }
        _ => {}
    }
}
