//! Execution plans: what each field does at run time, compiled once at start-up from the
//! Blueprint and the prepared statements, so resolvers do no lookups by name on the hot path.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Name, Value};
use tributary_connectors::sql::{SqlSource, Statement};
use tributary_schema::{SourceKey, Template};

/// Every field's plan, by type then field name (for look-ahead prefetching).
#[derive(Default)]
pub struct Plans {
    pub types: HashMap<String, HashMap<String, Arc<FieldPlan>>>,
}

impl Plans {
    pub fn field(&self, type_name: &str, field: &str) -> Option<&Arc<FieldPlan>> {
        self.types
            .get(type_name)
            .and_then(|fields| fields.get(field))
    }
}

pub struct FieldPlan {
    pub resolver: ResolverPlan,
    pub output: Output,
    /// Argument defaults, applied the same way by the resolver and by look-ahead prefetching,
    /// so both compute the same batch group.
    pub arg_defaults: Vec<(Name, Value)>,
    /// `@publish` (mutations): events sent once the field succeeded.
    pub publish: Vec<super::live::PublishPlan>,
    /// `@invalidate` tags (mutations): dropped from the cache once the field succeeded.
    pub invalidate: Vec<tributary_schema::Template>,
    /// Whether the field's type is nullable: a failure then nulls just this field (with the
    /// error at its path) instead of propagating.
    pub nullable: bool,
}

pub enum ResolverPlan {
    Parent(ParentKey),
    Value(Value),
    Sql(Arc<SqlPlan>),
    Http(Arc<super::http::HttpPlan>),
    Subscribe(Arc<super::live::SubscribePlan>),
}

/// Where a parent-resolved field finds its value (see `SourceKey`).
#[derive(Clone)]
pub enum ParentKey {
    Rule { name: Name, snake: Option<Name> },
    Explicit(Name),
}

impl ParentKey {
    pub fn from_source_key(key: &SourceKey) -> Self {
        match key {
            SourceKey::Rule { name, snake } => ParentKey::Rule {
                name: Name::new(name),
                snake: (snake != name).then(|| Name::new(snake)),
            },
            SourceKey::Explicit(from) => ParentKey::Explicit(Name::new(from)),
        }
    }

    /// A key written by the user (`parentKey`, `{{parent.x}}`) is read exactly, then by the
    /// name rule, so `categoryId` and `category_id` both work.
    pub fn for_reference(name: &str) -> Self {
        let snake = tributary_schema::snake_case(name);
        ParentKey::Rule {
            name: Name::new(name),
            snake: (snake != name).then(|| Name::new(snake)),
        }
    }

    pub fn read<'a>(&self, data: &'a indexmap::IndexMap<Name, Value>) -> Option<&'a Value> {
        match self {
            ParentKey::Explicit(key) => data.get(key),
            ParentKey::Rule { name, snake } => data
                .get(name)
                .or_else(|| snake.as_ref().and_then(|s| data.get(s))),
        }
    }
}

/// The shape of a field's GraphQL output, for turning rows into values.
#[derive(Clone)]
pub struct Output {
    pub list: bool,
    pub kind: OutputKind,
    /// The named type (for look-ahead into its fields).
    pub type_name: String,
    /// `ID` serializes as a string even when the column is an integer (GraphQL spec).
    pub is_id: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Object,
    /// Interface or union: the concrete type comes from `__typename` in the data.
    Abstract,
    Enum,
    Scalar,
}

pub struct SqlPlan {
    /// Unique per plan: the per-request loader groups keys by it.
    pub id: usize,
    /// `Type.field`, for logs.
    pub field: String,
    pub source_name: String,
    pub source: Arc<dyn SqlSource>,
    pub stmt: Arc<Statement>,
    pub params: Vec<Template>,
    pub batch: Option<BatchPlan>,
    pub steps: Vec<StepPlan>,
    pub output: Output,
    /// `@cache` on the field.
    pub cache: Option<Arc<super::caching::CachePolicy>>,
}

pub struct BatchPlan {
    /// Result column holding the parent's key.
    pub key: Name,
    pub parent_key: ParentKey,
}

pub struct StepPlan {
    pub stmt: Arc<Statement>,
    pub params: Vec<Template>,
    pub for_each: Option<Template>,
    pub name: Option<String>,
}
