//! `@cache` on fields and object types, and `@invalidate` on mutation fields: the policy
//! (ttl, scope, staleIfError, publicWithCredentials) and the tag templates, checked against
//! where they are written.

use std::time::Duration;

use async_graphql_parser::types::FieldDefinition;
use async_graphql_value::ConstValue;

use crate::blueprint::{CacheDef, CacheScope, Resolver, Template};
use crate::directives::Checked;
use crate::duration::parse_duration;
use crate::names;
use crate::source_map::Val;
use crate::template::{self, RawPart, RawRoot};

use super::collect::RawType;
use super::fields::{as_list, HeaderAccess, TemplateContext};
use super::Builder;

const SCOPES: [(&str, CacheScope); 2] = [
    ("PUBLIC", CacheScope::Public),
    ("PRIVATE", CacheScope::Private),
];

/// The arguments that only mean something for a stored connector result (not for the
/// response's `Cache-Control`).
const STORAGE_ARGS: [&str; 3] = ["tags", "staleIfError", "publicWithCredentials"];

/// `@cache`'s settings other than tags.
struct Policy {
    ttl: Duration,
    scope: CacheScope,
    stale_if_error: Option<Duration>,
    public_with_credentials: bool,
}

impl<'a> Builder<'a> {
    /// `@cache` on a field. `None` when it has errors (reported).
    pub(super) fn field_cache(
        &mut self,
        t: &RawType<'a>,
        def: &'a FieldDefinition,
        d: &Checked<'a>,
        resolver: &Resolver,
    ) -> Option<CacheDef> {
        let owner = format!("{}.{}", t.name, def.name.node);
        if self.roots.mutation.as_deref() == Some(t.name) {
            self.sink.error_hint(
                d.pos,
                format!("@cache on mutation field {owner}: mutations are never cached"),
                "remove it; to drop the cached entries this mutation changes, use \
                 @invalidate(tags: [\"...\"]) with the tags of those entries",
            );
            return None;
        }
        if self.roots.subscription.as_deref() == Some(t.name) {
            self.sink.error_hint(
                d.pos,
                format!("@cache on subscription field {owner}: subscriptions are never cached"),
                "each event is pushed as it happens: remove @cache",
            );
            return None;
        }
        let policy = self.cache_policy(d);

        let from_connector = matches!(resolver, Resolver::Sql(_) | Resolver::Http(_));
        let mut tags = Vec::new();
        if from_connector {
            let cx = TemplateContext {
                field: Some((t.name, def)),
                parent_forbidden: self
                    .is_root(t.name)
                    .then(|| format!("{owner} is a root field: root fields have no parent")),
                headers: HeaderAccess::Forbidden {
                    place: "@cache tags",
                    why: "tags name the cached data, not the caller: PRIVATE entries are already \
                          kept per caller (scope: PRIVATE)",
                },
                ..Default::default()
            };
            tags = self.tags(d.arg("tags"), |b, val, text| b.template(val, text, &cx));
        } else {
            let how = match resolver {
                Resolver::Value(_) => "its value is a constant (@value)",
                _ => "it reads its value from its parent's data",
            };
            for arg in STORAGE_ARGS {
                if let Some(v) = d.arg(arg) {
                    self.sink.error_hint(
                        v.pos(),
                        format!("`{arg}` has no effect on {owner}: {how}, nothing is stored for it"),
                        "on a field without @sql or @http, @cache only sets the response's Cache-Control \
                         (ttl and scope); tags, staleIfError and publicWithCredentials belong on the \
                         @sql or @http field (or the type) whose result is cached",
                    );
                }
            }
        }
        let policy = policy?;
        Some(CacheDef {
            ttl: policy.ttl,
            scope: policy.scope,
            tags,
            stale_if_error: policy.stale_if_error,
            public_with_credentials: policy.public_with_credentials,
            pos: d.pos,
        })
    }

    /// `@cache` on an object type (its directives, from its definition and extensions).
    /// `None` when there is none or it has errors (reported).
    pub(super) fn type_cache(&mut self, t: &RawType<'a>, dirs: &[Checked<'a>]) -> Option<CacheDef> {
        let mut written = dirs.iter().filter(|d| d.name == "cache");
        let d = written.next()?;
        for again in written {
            self.sink.error_hint(
                again.pos,
                format!("@cache is written twice on type {}", t.name),
                format!("it is also at {}: keep one", d.pos),
            );
        }
        let name = t.name;
        let root_problem = if self.roots.mutation.as_deref() == Some(name) {
            Some((
                format!("@cache on mutation root {name}: mutations are never cached"),
                "remove it; to drop the cached entries a mutation changes, put \
                 @invalidate(tags: [\"...\"]) on that mutation field"
                    .to_string(),
            ))
        } else if self.roots.subscription.as_deref() == Some(name) {
            Some((
                format!("@cache on subscription root {name}: subscriptions are never cached"),
                "each event is pushed as it happens: remove @cache".to_string(),
            ))
        } else if self.roots.query.as_deref() == Some(name) {
            Some((
                format!("@cache on query root {name} would never apply"),
                format!(
                    "a type's @cache is the policy of the fields that return it, and no field returns \
                     {name}: put @cache on its fields"
                ),
            ))
        } else {
            None
        };
        if let Some((message, hint)) = root_problem {
            self.sink.error_hint(d.pos, message, hint);
            return None;
        }
        let policy = self.cache_policy(d);
        let tags = self.tags(d.arg("tags"), |b, val, text| b.type_tag(name, val, text));
        let policy = policy?;
        Some(CacheDef {
            ttl: policy.ttl,
            scope: policy.scope,
            tags,
            stale_if_error: policy.stale_if_error,
            public_with_credentials: policy.public_with_credentials,
            pos: d.pos,
        })
    }

    /// `@invalidate(tags:)` on a field: only mutation root fields, templates over `args`.
    pub(super) fn invalidate(
        &mut self,
        t: &RawType<'a>,
        def: &'a FieldDefinition,
        d: &Checked<'a>,
    ) -> Vec<Template> {
        let owner = format!("{}.{}", t.name, def.name.node);
        if self.roots.mutation.as_deref() != Some(t.name) {
            let hint = if t.name == "Mutation" {
                "type Mutation is not the mutation root: add `mutation: Mutation` to the schema definition"
            } else {
                "@invalidate drops cached entries once a mutation has succeeded: put it on a Mutation \
                 field; to cache this field, use @cache(ttl: \"30s\")"
            };
            self.sink.error_hint(
                d.pos,
                format!("@invalidate on {owner}: only Mutation fields may have one"),
                hint,
            );
            return Vec::new();
        }
        let Some(v) = d.arg("tags") else {
            return Vec::new();
        };
        if matches!(v.value, ConstValue::List(items) if items.is_empty()) {
            self.sink.error_hint(
                v.pos(),
                format!("@invalidate on {owner} has no tags"),
                "list the tags of the cached entries this mutation changes, e.g. \
                 tags: [\"product:{{args.input.productId}}\"], or remove @invalidate",
            );
            return Vec::new();
        }
        let cx = TemplateContext {
            field: Some((t.name, def)),
            parent_forbidden: Some(format!(
                "@invalidate tags are evaluated from the mutation's arguments: {owner} is a root \
                 field and has no parent (and its result is not available)"
            )),
            headers: HeaderAccess::Forbidden {
                place: "@invalidate tags",
                why: "@invalidate tags are evaluated from the mutation's arguments only",
            },
            ..Default::default()
        };
        self.tags(Some(v), |b, val, text| b.template(val, text, &cx))
    }

    /// ttl, scope, staleIfError and publicWithCredentials of a `@cache`. `None` when one of them
    /// is wrong or missing (reported).
    fn cache_policy(&mut self, d: &Checked<'a>) -> Option<Policy> {
        let ttl = self.positive_duration(
            d,
            "ttl",
            "an entry is fresh for some time: to not cache, remove @cache",
        );
        let stale_if_error = self.positive_duration(
            d,
            "staleIfError",
            "omit staleIfError to never serve an expired entry",
        );
        let scope = match d.arg("scope") {
            None => Some(CacheScope::Public),
            Some(v) => {
                let text = match v.value {
                    ConstValue::Enum(n) => n.as_str(),
                    ConstValue::String(s) => s.as_str(),
                    _ => "",
                };
                match SCOPES.iter().find(|(s, _)| *s == text) {
                    Some((_, scope)) => Some(*scope),
                    None => {
                        let hint = names::did_you_mean(text, SCOPES.iter().map(|(s, _)| *s))
                            .unwrap_or_else(|| {
                                "the scopes are PUBLIC (shared by every caller) and PRIVATE \
                                 (kept per caller)"
                                    .to_string()
                            });
                        self.sink.error_hint(
                            v.pos(),
                            format!("unknown cache scope `{text}`"),
                            hint,
                        );
                        None
                    }
                }
            }
        };
        let public_with_credentials = match d.arg("publicWithCredentials") {
            Some(v) => match v.value {
                ConstValue::Boolean(true) if scope == Some(CacheScope::Private) => {
                    self.sink.error_hint(
                        v.pos(),
                        "publicWithCredentials applies to PUBLIC entries, and this @cache is PRIVATE",
                        "PRIVATE entries are kept per caller, credentials or not: remove publicWithCredentials",
                    );
                    None
                }
                ConstValue::Boolean(b) => Some(*b),
                _ => None,
            },
            None => Some(false),
        };
        Some(Policy {
            ttl: ttl??,
            scope: scope?,
            stale_if_error: stale_if_error?,
            public_with_credentials: public_with_credentials?,
        })
    }

    /// An optional positive duration argument: `Some(None)` when absent, `None` when wrong
    /// (reported).
    fn positive_duration(
        &mut self,
        d: &Checked<'a>,
        arg: &str,
        zero_hint: &str,
    ) -> Option<Option<Duration>> {
        let Some((text, v)) = d.string(arg) else {
            // Absent, or mistyped (reported): a missing ttl is reported as missing.
            return if d.written.contains(&arg) {
                None
            } else {
                Some(None)
            };
        };
        match parse_duration(text) {
            Some(t) if t.is_zero() => {
                self.sink.error_hint(
                    v.pos(),
                    format!("@cache({arg}:) must be more than zero"),
                    zero_hint,
                );
                None
            }
            Some(t) => Some(Some(t)),
            None => {
                self.sink.error_hint(
                    v.pos(),
                    format!("{arg} \"{text}\" is not a duration"),
                    "write a whole number and a unit: \"500ms\", \"30s\", \"10m\" or \"1h\"",
                );
                None
            }
        }
    }

    /// The tags of a `@cache` or `@invalidate` (a list, or one string), each read by `one`.
    /// Tags with errors (reported) are left out.
    fn tags(
        &mut self,
        v: Option<&Val<'a>>,
        mut one: impl FnMut(&mut Self, &Val<'a>, &str) -> Option<Template>,
    ) -> Vec<Template> {
        let Some(v) = v else { return Vec::new() };
        let mut out = Vec::new();
        for item in as_list(v) {
            let ConstValue::String(text) = item.value else {
                continue;
            };
            if text.trim().is_empty() {
                self.sink.error_hint(
                    item.pos(),
                    "a tag cannot be empty",
                    "name what the entries hold, e.g. \"catalogue\" or \"product:{{parent.id}}\"",
                );
                continue;
            }
            if let Some(t) = one(self, &item, text) {
                out.push(t);
            }
        }
        out
    }

    /// A tag of a type-level `@cache`: plain text (and `{{env.X}}`, resolved now), since it
    /// applies to every field returning the type, whatever their arguments and parents.
    fn type_tag(&mut self, type_name: &str, val: &Val<'a>, text: &str) -> Option<Template> {
        if let Ok(raw) = template::parse(text) {
            let mut ok = true;
            for part in raw {
                let RawPart::Expr(e) = part else { continue };
                if e.root == RawRoot::Env {
                    continue;
                }
                ok = false;
                self.sink.error_hint(
                    val.pos_in_string(e.offset),
                    format!("`{}` cannot be used in the tags of a type's @cache", e.text),
                    format!(
                        "type {type_name}'s @cache applies to every field returning it, so its tags are \
                         plain text like \"catalogue\" (or {{{{env.NAME}}}}); for tags that read args or \
                         parent, like \"product:{{{{parent.id}}}}\", put @cache(tags: [...]) on those fields"
                    ),
                );
            }
            if !ok {
                return None;
            }
        }
        // Malformed templates and unset variables are reported here.
        self.template(val, text, &TemplateContext::env_only())
    }
}
