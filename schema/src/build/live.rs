//! Live updates: `@subscribe` on the fields of the subscription root (the topic, or PostgreSQL
//! `LISTEN` channel, a field streams; its filter) and `@publish` on mutation fields (the topics
//! their results, or declared payloads, are sent to). Their templates read the field's
//! arguments (and `env`, resolved now) only.

use async_graphql_parser::types::FieldDefinition;
use async_graphql_value::ConstValue;

use crate::blueprint::{PublishDef, Resolver, SourceKind, SubscribeDef, Template};
use crate::directives::Checked;
use crate::names;
use crate::source_map::Val;

use super::collect::RawType;
use super::fields::{HeaderAccess, SourceUse, TemplateContext};
use super::Builder;

impl<'a> Builder<'a> {
    /// `@subscribe(topic:, source:, filter:)`: the resolver of a subscription field.
    pub(super) fn subscribe(
        &mut self,
        t: &RawType<'a>,
        def: &'a FieldDefinition,
        d: &Checked<'a>,
    ) -> SubscribeDef {
        let owner = format!("{}.{}", t.name, def.name.node);
        let mut out = SubscribeDef {
            topic: Template::literal(""),
            source: None,
            filter: Vec::new(),
            pos: d.pos,
        };
        if self.roots.subscription.as_deref() != Some(t.name) {
            let hint = if t.name == "Subscription" {
                "type Subscription is not the subscription root: add `subscription: Subscription` to \
                 the schema definition"
            } else if self.roots.mutation.as_deref() == Some(t.name) {
                "a mutation sends events with @publish(topic: \"...\"); @subscribe goes on a field of \
                 the Subscription type, which receives them"
            } else {
                "@subscribe streams a topic's events to subscribers: put it on a field of the \
                 Subscription type, e.g. reviewAdded(productId: ID!): Review \
                 @subscribe(topic: \"reviews:{{args.productId}}\")"
            };
            self.sink.error_hint(
                d.pos,
                format!("@subscribe on {owner}: only Subscription fields may have one"),
                hint,
            );
            return out;
        }
        let cx = live_context(
            t.name,
            def,
            &owner,
            "@subscribe",
            "@subscribe templates are evaluated from the subscription's arguments only",
        );
        if let Some(topic) = self.topic(d, &cx) {
            out.topic = topic;
        }
        if let Some((name, v)) = d.string("source") {
            self.listen_source(name, v);
            out.source = Some(name.to_string());
        }
        if let Some(f) = d.arg("filter") {
            for (key, _, val) in f.entries() {
                let ConstValue::String(text) = val.value else {
                    continue;
                };
                if let Some(tpl) = self.template(&val, text, &cx) {
                    out.filter.push((key.to_string(), tpl));
                }
            }
        }
        out
    }

    /// Reports what is wrong with the resolver of subscription root field `owner`: it needs
    /// `@subscribe`, and `@sql`, `@http` and `@value` cannot stand in for it (together with
    /// `@subscribe`, they are reported as two resolvers already).
    pub(super) fn subscription_resolver(
        &mut self,
        owner: &str,
        def: &'a FieldDefinition,
        dirs: &[Checked<'a>],
        resolver: Option<&Checked<'a>>,
    ) {
        if dirs.iter().any(|d| d.name == "subscribe") {
            return;
        }
        match resolver {
            Some(r) => self.sink.error_hint(
                r.pos,
                format!("@{} on subscription field {owner}: subscription fields need @subscribe", r.name),
                format!(
                    "a subscription field streams the events of a topic: replace @{} with \
                     @subscribe(topic: \"...\"); the fields of the event's type may still use @sql and @http",
                    r.name
                ),
            ),
            None => self.sink.error_hint(
                def.name.pos,
                format!("subscription field {owner} has no @subscribe: subscription fields need @subscribe"),
                "add @subscribe(topic: \"...\") to stream the events of a topic (sent by @publish on \
                 mutations, or by other systems through the pub/sub), or @subscribe(source: \"...\", \
                 topic: \"channel\") to LISTEN on a PostgreSQL channel",
            ),
        }
    }

    /// `@publish(topic:, payload:)` on a field. `None` when it has errors (reported).
    pub(super) fn publish(
        &mut self,
        t: &RawType<'a>,
        def: &'a FieldDefinition,
        d: &Checked<'a>,
        resolver: &Resolver,
    ) -> Option<PublishDef> {
        let owner = format!("{}.{}", t.name, def.name.node);
        if self.roots.mutation.as_deref() != Some(t.name) {
            let hint = if t.name == "Mutation" {
                "type Mutation is not the mutation root: add `mutation: Mutation` to the schema definition"
            } else if self.roots.subscription.as_deref() == Some(t.name) {
                "subscription fields receive events with @subscribe(topic: \"...\"); @publish goes on \
                 the Mutation fields that send them"
            } else {
                "@publish sends an event once a mutation has succeeded: put it on a Mutation field"
            };
            self.sink.error_hint(
                d.pos,
                format!("@publish on {owner}: only Mutation fields may have one"),
                hint,
            );
            return None;
        }
        let mut ok = true;
        let missing = match resolver {
            Resolver::Sql(_) | Resolver::Http(_) => None,
            Resolver::Value(_) => Some("its value is a constant (@value)"),
            Resolver::Parent | Resolver::Subscribe(_) => Some("it has no @sql or @http"),
        };
        if let Some(why) = missing {
            ok = false;
            self.sink.error_hint(
                d.pos,
                format!("@publish on {owner}: nothing to publish, {why}"),
                "@publish sends the mutation's result (or its payload) once the field's @sql or @http \
                 has succeeded: give the field one of them",
            );
        }
        let cx = live_context(
            t.name,
            def,
            &owner,
            "@publish",
            "@publish templates are evaluated from the mutation's arguments only",
        );
        let topic = self.topic(d, &cx);
        let payload = match d.arg("payload") {
            Some(v) => match self.body_template(v, &cx) {
                Some(p) => Some(p),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let topic = topic?;
        ok.then_some(PublishDef {
            topic,
            payload,
            pos: d.pos,
        })
    }

    /// The `topic` of a `@subscribe` or `@publish`. `None` when it is missing or has errors
    /// (reported).
    fn topic(&mut self, d: &Checked<'a>, cx: &TemplateContext<'a>) -> Option<Template> {
        let (text, v) = d.string("topic")?;
        if text.trim().is_empty() {
            self.sink.error_hint(
                v.pos(),
                format!("@{} topic cannot be empty", d.name),
                "name the events' topic, e.g. topic: \"reviews:{{args.productId}}\"",
            );
            return None;
        }
        self.template(v, text, cx)
    }

    /// `@subscribe(source:)`: a SQL source to `LISTEN` on.
    fn listen_source(&mut self, name: &str, v: &Val<'a>) {
        if !matches!(
            self.sources.get(name).map(|s| &s.kind),
            Some(SourceKind::Http(_))
        ) {
            self.check_source(name, v, SourceUse::Sql);
            return;
        }
        let sql: Vec<&str> = self
            .sources
            .values()
            .filter(|s| matches!(s.kind, SourceKind::Sql(_)))
            .map(|s| s.name.as_str())
            .collect();
        let mut hint = names::did_you_mean(name, sql.iter().copied())
            .map(|d| d + " ")
            .unwrap_or_default();
        hint.push_str(
            "@subscribe(source:) names a PostgreSQL source whose channel `topic` is LISTENed on; \
             without source, events come from the pub/sub (sent by @publish)",
        );
        self.sink.error_hint(
            v.pos(),
            format!(
                "source \"{name}\" is an HTTP source: @subscribe can only LISTEN on a SQL source"
            ),
            hint,
        );
    }
}

/// What `@subscribe` and `@publish` templates may read: the field's arguments and `env`.
/// `directive` is `"@subscribe"` or `"@publish"`; `why` is the hint for `{{headers...}}`.
fn live_context<'a>(
    parent_type: &'a str,
    def: &'a FieldDefinition,
    owner: &str,
    directive: &'static str,
    why: &'static str,
) -> TemplateContext<'a> {
    TemplateContext {
        field: Some((parent_type, def)),
        parent_forbidden: Some(format!(
            "{directive} templates are evaluated from the field's arguments: {owner} is a root field \
             and has no parent"
        )),
        headers: HeaderAccess::Forbidden {
            place: directive,
            why,
        },
        ..Default::default()
    }
}
