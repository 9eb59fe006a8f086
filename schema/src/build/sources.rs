//! `@source` on the schema definition: named data sources with their settings, resolved from
//! the environment snapshot once, here, so the engine gets final values.

use async_graphql_parser::types::SchemaDefinition;
use async_graphql_parser::Positioned;
use async_graphql_value::ConstValue;

use crate::blueprint::{redact_url, Source, SourceKind, SqlSourceDef, TemplatePart};
use crate::directives::{self, Location};
use crate::duration::parse_duration;

use super::fields::TemplateContext;
use super::Builder;

impl<'a> Builder<'a> {
    pub(super) fn sources(&mut self, schemas: &[&'a Positioned<SchemaDefinition>]) {
        for s in schemas {
            for d in directives::check(
                &mut self.sink,
                self.map,
                &s.node.directives,
                Location::Schema,
            ) {
                if d.name != "source" {
                    continue;
                }
                let Some((name, name_val)) = d.string("name") else {
                    continue;
                };
                if name.is_empty() {
                    self.sink
                        .error(name_val.pos(), "a source name cannot be empty");
                    continue;
                }
                if let Some(first) = self.declared_sources.get(name) {
                    self.sink.error_hint(
                        name_val.pos(),
                        format!("duplicate source \"{name}\""),
                        format!("a source named \"{name}\" is already declared at {first}; give each source its own name"),
                    );
                    continue;
                }
                self.declared_sources.insert(name.to_string(), d.pos);

                let url = d.string("sql").and_then(|(text, val)| {
                    let template = self.template(val, text, &TemplateContext::env_only())?;
                    let url: String = template
                        .parts
                        .iter()
                        .map(|p| match p {
                            TemplatePart::Literal(l) => l.as_str(),
                            TemplatePart::Expr(_) => "",
                        })
                        .collect();
                    let supported = ["sqlite:", "postgres://", "postgresql://"];
                    if supported.iter().any(|s| url.starts_with(s)) {
                        Some(url)
                    } else {
                        self.sink.error_hint(
                            val.pos(),
                            format!("source \"{name}\": unsupported database URL \"{}\"", redact_url(&url)),
                            "use sqlite://path/to/file.db or postgres://user:password@host/database",
                        );
                        None
                    }
                });

                let pool_size = match d.arg("poolSize") {
                    None => Some(None),
                    Some(v) => match v.value {
                        ConstValue::Number(n) => {
                            match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                                Some(n) if n > 0 => Some(Some(n)),
                                _ => {
                                    self.sink.error(v.pos(), format!("poolSize must be a positive number of connections, found {n}"));
                                    None
                                }
                            }
                        }
                        _ => None,
                    },
                };

                let statement_timeout = match d.string("statementTimeout") {
                    None => Some(None),
                    Some((text, v)) => match parse_duration(text) {
                        Some(t) if t.is_zero() => {
                            self.sink
                                .error(v.pos(), "statementTimeout must be more than zero");
                            None
                        }
                        Some(t) => Some(Some(t)),
                        None => {
                            self.sink.error_hint(
                                v.pos(),
                                format!("statementTimeout \"{text}\" is not a duration"),
                                "write a number and a unit: \"500ms\", \"5s\", \"1m\" or \"2h\"",
                            );
                            None
                        }
                    },
                };

                if let (Some(url), Some(pool_size), Some(statement_timeout)) =
                    (url, pool_size, statement_timeout)
                {
                    self.sources.insert(
                        name.to_string(),
                        Source {
                            name: name.to_string(),
                            kind: SourceKind::Sql(SqlSourceDef {
                                url,
                                pool_size,
                                statement_timeout,
                            }),
                            pos: d.pos,
                        },
                    );
                }
            }
        }
    }
}
