//! Live updates: `@subscribe` fields stream the events of a topic, `@publish` on mutations
//! sends their results to topics.
//!
//! Topics live on the pub/sub connector (in-process, or Redis when `REDIS_URL` is set so every
//! replica's subscribers get events from any replica), or on a PostgreSQL `LISTEN` channel when
//! the field names a SQL source. Each event becomes the field's value; its nested fields
//! resolve through connectors like any query's. A subscriber that fell behind the topic's
//! buffer gets an `EVENTS_DROPPED` error event, then the stream goes on.

use std::sync::Arc;

use async_graphql::dynamic::{FieldValue, ResolverContext, SubscriptionFieldFuture};
use async_graphql::{ErrorExtensions, Name, Value};
use futures::StreamExt;
use tributary_connectors::pubsub::{Event, PubSub};
use tributary_schema::{BodyTemplate, Template};

use super::plan::Output;
use super::template::{key_text, Scope};

pub struct SubscribePlan {
    /// `Type.field`, for logs.
    pub field: String,
    pub topic: Template,
    /// The pub/sub, or the `LISTEN` source for this field.
    pub source: Arc<dyn PubSub>,
    pub source_name: String,
    pub filter: Vec<(Name, Template)>,
    pub output: Output,
}

/// `@publish` on a mutation field.
pub struct PublishPlan {
    pub topic: Template,
    pub payload: Option<BodyTemplate>,
}

fn topic_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The resolver of a subscription field.
pub fn subscriber(
    plan: Arc<SubscribePlan>,
) -> impl for<'a> Fn(ResolverContext<'a>) -> SubscriptionFieldFuture<'a> + Send + Sync + 'static {
    move |ctx: ResolverContext<'_>| {
        let plan = plan.clone();
        SubscriptionFieldFuture::new(async move {
            let args = ctx.args.as_index_map();
            let scope = Scope {
                args: Some(args),
                ..Scope::default()
            };
            let topic = topic_text(scope.eval(&plan.topic));
            let filter: Vec<(Name, Option<String>)> = plan
                .filter
                .iter()
                .map(|(k, t)| (k.clone(), key_text(&scope.eval(t))))
                .collect();
            let subscription = plan
                .source
                .subscribe(&topic)
                .await
                .map_err(|e| super::resolve::field_error(&e, &plan.field, &plan.source_name))?;
            let output = plan.output.clone();
            let state = ctx
                .data::<Arc<super::resolve::RequestState>>()
                .ok()
                .cloned();
            Ok(subscription.filter_map(move |event| {
                let item = match event {
                    Event::Payload(value) => {
                        // Each event's nested fields load afresh (see `RequestLoader::forget`).
                        if let Some(state) = &state {
                            state.loader.forget();
                        }
                        let value = value.as_ref().clone();
                        let matches = filter.iter().all(|(field, expected)| match &value {
                            Value::Object(map) => map.get(field).and_then(key_text) == *expected,
                            _ => false,
                        });
                        matches.then(|| Ok(super::resolve::nested_value(value, &output)))
                    }
                    Event::Lagged(n) => Some(Err(async_graphql::Error::new(format!(
                        "{n} events were dropped because this subscriber fell behind"
                    ))
                    .extend_with(|_, ext| {
                        ext.set("code", "EVENTS_DROPPED");
                        ext.set("dropped", n);
                    }))),
                };
                futures::future::ready(item)
            }))
        })
    }
}

/// The data of a resolved field value, for publishing.
pub fn field_data(value: &FieldValue<'_>) -> Value {
    if let Some(row) = value.downcast_ref::<Arc<tributary_connectors::sql::Row>>() {
        return Value::Object((**row).clone());
    }
    if let Some(shared) = value.downcast_ref::<super::resolve::SharedObject>() {
        return shared
            .data()
            .cloned()
            .map(Value::Object)
            .unwrap_or(Value::Null);
    }
    if let Some(v) = value.as_value() {
        return v.clone();
    }
    if let Some(items) = value.as_list() {
        return Value::List(items.iter().map(field_data).collect());
    }
    Value::Null
}

/// Publishes a mutation's result (or declared payloads) to its topics. A failure to publish is
/// logged, not returned: the mutation itself succeeded.
pub async fn publish(
    pubsub: &Arc<dyn PubSub>,
    plans: &[PublishPlan],
    args: &indexmap::IndexMap<Name, Value>,
    result: &Value,
    field: &str,
) {
    let scope = Scope {
        args: Some(args),
        ..Scope::default()
    };
    for p in plans {
        let topic = topic_text(scope.eval(&p.topic));
        let payload = match &p.payload {
            Some(body) => super::http::eval_body(&scope, body),
            None => result.clone(),
        };
        if let Err(e) = pubsub.publish(&topic, payload).await {
            tracing::warn!(field, topic = %topic, error = %e, "publishing an event failed");
        }
    }
}
