//! `@http` fields: building calls from templates, batching them per request, and turning
//! answers into field values.
//!
//! A call is built per parent from the field's templates: path values become `PathPart`
//! values (percent-encoded by the connector, which also keeps every call under the source's
//! base URL), query values stay typed, the body is JSON. Under a list, the engine's look-ahead
//! loads all parents at once: with a batch form, one call per distinct set of other parameters
//! (the keys travel in the batch parameter); without one, the distinct calls concurrently,
//! each once per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Name, Value};
use tributary_connectors::http::{
    HeaderName, HeaderValue, HttpRequest, HttpSource, Method, PathPart,
};
use tributary_connectors::ConnectorError;
use tributary_schema::{BodyTemplate, HttpMethod, Template, TemplatePart};

use super::plan::{Output, OutputKind};
use super::template::{bound, key_text, Scope};

pub struct HttpPlan {
    /// Unique across all plans: the per-request loader keys by it.
    pub id: usize,
    /// `Type.field`, for logs.
    pub field: String,
    pub source_name: String,
    pub source: Arc<dyn HttpSource>,
    pub method: Method,
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<BodyTemplate>,
    pub select: Vec<Name>,
    pub batch: Option<HttpBatchPlan>,
    pub timeout: Option<Duration>,
    pub output: Output,
    /// `@cache` on the field.
    pub cache: Option<Arc<super::caching::CachePolicy>>,
}

pub struct HttpBatchPlan {
    /// The query parameter that carries the keys (one of `query`).
    pub param: String,
    /// The response items' field matched against the parents' keys.
    pub key: Name,
    /// `Some(",")`: keys joined in one value (`?ids=1,2`); `None`: the parameter repeated.
    pub separator: Option<String>,
}

pub fn method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    }
}

/// One call, built for one parent, with the text that identifies it within a request.
pub struct Call {
    pub request: HttpRequest,
    /// Method, path, query, headers and body: identical calls in one request run once.
    pub identity: String,
    /// For a batched plan: this parent's key (text, value).
    pub key: Option<(String, Value)>,
    /// The cache tags of this parent's entry (`@cache(tags:)`).
    pub tags: Vec<String>,
    /// Whether the call forwards client credentials upstream (then a PUBLIC cache is not used).
    pub credentialed: bool,
}

pub(crate) fn eval_body(scope: &Scope<'_>, body: &BodyTemplate) -> Value {
    match body {
        BodyTemplate::Template(t) => scope.eval(t),
        BodyTemplate::Literal(v) => v.clone(),
        BodyTemplate::List(items) => {
            Value::List(items.iter().map(|b| eval_body(scope, b)).collect())
        }
        BodyTemplate::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, b)| (Name::new(k), eval_body(scope, b)))
                .collect(),
        ),
    }
}

impl HttpPlan {
    /// Builds the call for one parent. For a batched plan the batch parameter is left out of
    /// the request (the loader adds all keys) and returned as `key`.
    pub fn call(&self, scope: &Scope<'_>) -> Result<Call, ConnectorError> {
        let mut path = Vec::with_capacity(self.path.parts.len());
        for part in &self.path.parts {
            match part {
                TemplatePart::Literal(text) => path.push(PathPart::Literal(text.clone())),
                TemplatePart::Expr(_) => {
                    let single = Template {
                        text: String::new(),
                        parts: vec![part.clone()],
                    };
                    let value = bound(scope.eval(&single));
                    if value == Value::Null {
                        return Err(ConnectorError::BadInput {
                            message: format!("a value for the path of {} is missing", self.field),
                        });
                    }
                    path.push(PathPart::Value(value));
                }
            }
        }
        let mut request = HttpRequest::new(self.method.clone(), path);
        let mut key = None;
        for (name, template) in &self.query {
            let value = bound(scope.eval(template));
            if let Some(batch) = &self.batch {
                if *name == batch.param {
                    key = key_text(&value).map(|t| (t, value));
                    continue;
                }
            }
            request.query.push((name.clone(), value));
        }
        for (name, template) in &self.headers {
            let value = match scope.eval(template) {
                Value::Null => continue,
                Value::String(s) => s,
                other => other.to_string(),
            };
            if value.is_empty() {
                continue;
            }
            let value = HeaderValue::from_str(&value).map_err(|_| ConnectorError::BadInput {
                message: format!("a header value for {} is not valid in HTTP", self.field),
            })?;
            request.headers.push((name.clone(), value));
        }
        if let Some(body) = &self.body {
            request.body = Some(bound(eval_body(scope, body)));
        }
        request.timeout = self.timeout;
        let identity = identity(&request);
        let tags = self
            .cache
            .as_ref()
            .map(|c| super::caching::tags(&c.tags, scope))
            .unwrap_or_default();
        let credentialed = request.headers.iter().any(|(name, _)| {
            matches!(
                name.as_str(),
                "authorization" | "cookie" | "proxy-authorization"
            )
        });
        Ok(Call {
            request,
            identity,
            key,
            tags,
            credentialed,
        })
    }

    /// The cache context for a call, if the field is cached and the call may use the cache.
    pub fn cache_ctx(
        &self,
        call: &Call,
        cache: Option<&Arc<dyn tributary_connectors::cache::Cache>>,
        identity: Option<&String>,
    ) -> Option<super::caching::CacheCtx> {
        let policy = self.cache.as_ref()?;
        if call.credentialed
            && policy.scope == tributary_schema::CacheScope::Public
            && !policy.public_with_credentials
        {
            return None;
        }
        Some(super::caching::CacheCtx {
            cache: cache?.clone(),
            policy: policy.clone(),
            source: self.source_name.clone(),
            identity: identity.cloned(),
        })
    }

    /// Picks the field's part of an answer (`select`).
    pub fn select(&self, body: Value) -> Value {
        let mut current = body;
        for key in &self.select {
            current = match current {
                Value::Object(mut map) => map.swap_remove(key).unwrap_or(Value::Null),
                _ => return Value::Null,
            };
        }
        current
    }

    /// Checks that a (selected) answer has the field's shape: a list for a list field, objects
    /// for object types, and the built-in scalars' JSON types; `null` always fits. A mismatch
    /// is the upstream breaking its contract (`UPSTREAM_INVALID_RESPONSE`), not data to pass
    /// on (a list read as an object would show as an object of nulls). Custom scalars (`JSON`,
    /// `DateTime`...) and the items of nested lists are not checked.
    pub fn check_shape(&self, value: &Value) -> Result<(), ConnectorError> {
        let fits = match value {
            Value::Null => true,
            Value::List(items) if self.output.list => items
                .iter()
                .all(|item| matches!(item, Value::List(_)) || self.item_fits(item)),
            _ if self.output.list => false,
            item => self.item_fits(item),
        };
        if fits {
            return Ok(());
        }
        Err(ConnectorError::UpstreamInvalidResponse {
            source_name: self.source_name.clone(),
            detail: format!(
                "the answer for {} does not have the shape of {}{}",
                self.field,
                if self.output.list { "a list of " } else { "" },
                self.output.type_name
            ),
        })
    }

    fn item_fits(&self, item: &Value) -> bool {
        match (self.output.kind, item) {
            (_, Value::Null) => true,
            (OutputKind::Object | OutputKind::Abstract, value) => {
                matches!(value, Value::Object(_))
            }
            (OutputKind::Enum, value) => matches!(value, Value::String(_) | Value::Enum(_)),
            (OutputKind::Scalar, value) => match self.output.type_name.as_str() {
                "Int" | "Float" => matches!(value, Value::Number(_)),
                "String" => matches!(value, Value::String(_)),
                "Boolean" => matches!(value, Value::Boolean(_)),
                "ID" => matches!(value, Value::String(_) | Value::Number(_)),
                _ => true,
            },
        }
    }

    /// Adds every key to a batched call's request.
    pub fn with_keys(&self, mut request: HttpRequest, keys: &[Value]) -> HttpRequest {
        if let Some(batch) = &self.batch {
            let value = match &batch.separator {
                Some(sep) => Value::String(
                    keys.iter()
                        .filter_map(key_text)
                        .collect::<Vec<_>>()
                        .join(sep),
                ),
                None => Value::List(keys.to_vec()),
            };
            request.query.push((batch.param.clone(), value));
        }
        request
    }

    /// Groups a batched answer's items by their key field.
    pub fn group(&self, body: Value) -> Result<HashMap<String, Vec<Value>>, ConnectorError> {
        let Some(batch) = &self.batch else {
            return Ok(HashMap::new());
        };
        let items = match self.select(body) {
            Value::List(items) => items,
            Value::Null => Vec::new(),
            _ => {
                return Err(ConnectorError::UpstreamInvalidResponse {
                    source_name: self.source_name.clone(),
                    detail: format!("the batch answer for {} is not a list", self.field),
                })
            }
        };
        let mut groups: HashMap<String, Vec<Value>> = HashMap::new();
        for item in items {
            let key = match &item {
                Value::Object(map) => map.get(&batch.key).and_then(key_text),
                _ => None,
            };
            if let Some(k) = key {
                groups.entry(k).or_default().push(item);
            }
        }
        Ok(groups)
    }
}

fn identity(request: &HttpRequest) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(request.method.as_str());
    out.push(' ');
    for part in &request.path {
        match part {
            PathPart::Literal(t) => out.push_str(t),
            PathPart::Value(v) => {
                out.push('{');
                out.push_str(&v.to_string());
                out.push('}');
            }
        }
    }
    for (k, v) in &request.query {
        out.push('&');
        out.push_str(k);
        out.push('=');
        out.push_str(&v.to_string());
    }
    for (k, v) in &request.headers {
        out.push('\n');
        out.push_str(k.as_str());
        out.push(':');
        out.push_str(v.to_str().unwrap_or(""));
    }
    if let Some(b) = &request.body {
        out.push('\n');
        out.push_str(&b.to_string());
    }
    out
}
