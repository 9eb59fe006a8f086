//! `@source` on the schema definition: named data sources (a database with `sql:` or an HTTP
//! service with `http:`) with their settings, resolved from the environment snapshot once,
//! here, so the engine gets final values.

use std::time::Duration;

use async_graphql_parser::types::SchemaDefinition;
use async_graphql_parser::Positioned;
use async_graphql_value::ConstValue;

use crate::blueprint::{redact_url, HttpSourceDef, Source, SourceKind, SqlSourceDef, TemplatePart};
use crate::directives::{self, Checked, Location};
use crate::duration::parse_duration;
use crate::source_map::Val;

use super::fields::TemplateContext;
use super::{http, Builder};

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

                let (sql, http) = (d.string("sql"), d.string("http"));
                match (sql, http) {
                    (Some(_), Some((_, v))) => {
                        self.sink.error_hint(
                            v.pos(),
                            format!("source \"{name}\" has both sql: and http:"),
                            "a source is a database (sql:) or an HTTP service (http:): declare two sources",
                        );
                        continue;
                    }
                    (None, None) => {
                        if !d.written.iter().any(|a| *a == "sql" || *a == "http") {
                            self.sink.error_hint(
                                d.pos,
                                format!("source \"{name}\" has neither sql: nor http:"),
                                "give a database URL (sql: \"sqlite://app.db\") or an HTTP service's base URL \
                                 (http: \"http://127.0.0.1:4001\")",
                            );
                        }
                        continue;
                    }
                    _ => {}
                }
                let is_http = http.is_some();
                self.kind_only_settings(name, &d, is_http);

                let kind = if is_http {
                    self.http_source(name, &d).map(SourceKind::Http)
                } else {
                    self.sql_source(name, &d).map(SourceKind::Sql)
                };
                if let Some(kind) = kind {
                    self.sources.insert(
                        name.to_string(),
                        Source {
                            name: name.to_string(),
                            kind,
                            pos: d.pos,
                        },
                    );
                }
            }
        }
    }

    /// Settings of the other kind of source are errors (they would silently do nothing).
    fn kind_only_settings(&mut self, name: &str, d: &Checked<'a>, is_http: bool) {
        let (wrong, this, other): (&[&str], &str, &str) = if is_http {
            (&SQL_ONLY, "an HTTP source (http:)", "SQL")
        } else {
            (&HTTP_ONLY, "a SQL source (sql:)", "HTTP")
        };
        for arg in wrong {
            let Some(v) = d.arg(arg) else { continue };
            let mut hint = format!("source \"{name}\" is {this}: remove {arg}");
            match *arg {
                "timeout" => hint.push_str("; statements are bounded by statementTimeout"),
                "statementTimeout" => hint.push_str("; requests are bounded by timeout"),
                _ => {}
            }
            self.sink.error_hint(
                v.pos(),
                format!("`{arg}` applies to {other} sources only"),
                hint,
            );
        }
    }

    /// The URL of `@source(sql:)` and its settings; `None` when something is wrong (reported).
    fn sql_source(&mut self, name: &str, d: &Checked<'a>) -> Option<SqlSourceDef> {
        let url = d.string("sql").and_then(|(text, val)| {
            let url = self.env_string(val, text)?;
            let supported = ["sqlite:", "postgres://", "postgresql://"];
            if supported.iter().any(|s| url.starts_with(s)) {
                Some(url)
            } else {
                self.sink.error_hint(
                    val.pos(),
                    format!(
                        "source \"{name}\": unsupported database URL \"{}\"",
                        redact_url(&url)
                    ),
                    "use sqlite://path/to/file.db or postgres://user:password@host/database",
                );
                None
            }
        });

        let pool_size = match d.arg("poolSize") {
            None => Some(None),
            Some(v) => match v.value {
                ConstValue::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if n > 0 => Some(Some(n)),
                    _ => {
                        self.sink.error(
                            v.pos(),
                            format!("poolSize must be a positive number of connections, found {n}"),
                        );
                        None
                    }
                },
                _ => None,
            },
        };
        let statement_timeout = self.duration_setting(d, "statementTimeout");
        Some(SqlSourceDef {
            url: url?,
            pool_size: pool_size?,
            statement_timeout: statement_timeout?,
        })
    }

    /// A source URL: a template that may only read `env`, resolved to its text.
    fn env_string(&mut self, val: &Val<'a>, text: &str) -> Option<String> {
        let template = self.template(val, text, &TemplateContext::env_only())?;
        Some(
            template
                .parts
                .iter()
                .map(|p| match p {
                    TemplatePart::Literal(l) => l.as_str(),
                    TemplatePart::Expr(_) => "",
                })
                .collect(),
        )
    }

    /// An optional positive duration setting: `Some(None)` when absent, `None` when wrong
    /// (reported).
    pub(super) fn duration_setting(
        &mut self,
        d: &Checked<'a>,
        arg: &str,
    ) -> Option<Option<Duration>> {
        let Some((text, v)) = d.string(arg) else {
            return Some(None);
        };
        match parse_duration(text) {
            Some(t) if t.is_zero() => {
                self.sink
                    .error(v.pos(), format!("{arg} must be more than zero"));
                None
            }
            Some(t) => Some(Some(t)),
            None => {
                self.sink.error_hint(
                    v.pos(),
                    format!("{arg} \"{text}\" is not a duration"),
                    "write a number and a unit: \"500ms\", \"5s\", \"1m\" or \"2h\"",
                );
                None
            }
        }
    }

    /// `@source(http:)`: the base URL and the request settings; `None` when something is wrong
    /// (reported).
    fn http_source(&mut self, name: &str, d: &Checked<'a>) -> Option<HttpSourceDef> {
        let base_url = d.string("http").and_then(|(text, val)| {
            let url = self.env_string(val, text)?;
            match http::base_url_problem(&url) {
                None => Some(url),
                Some(problem) => {
                    self.sink.error_hint(
                        val.pos(),
                        format!(
                            "source \"{name}\": base URL \"{}\" {problem}",
                            redact_url(&url)
                        ),
                        "write the service's base URL with http:// or https:// and a host, \
                         e.g. http://127.0.0.1:4001 or https://api.example.com/v1",
                    );
                    None
                }
            }
        });
        let timeout = self.duration_setting(d, "timeout");
        let retries = match d.arg("retries") {
            None => Some(None),
            Some(v) => match v.value {
                ConstValue::Number(n) => match n.as_u64().filter(|n| *n <= MAX_RETRIES) {
                    Some(r) => u32::try_from(r).ok().map(Some),
                    None => {
                        self.sink.error_hint(
                            v.pos(),
                            format!("retries must be between 0 and {MAX_RETRIES}, found {n}"),
                            "retries repeat failed idempotent requests (with backoff); 0 turns them off",
                        );
                        None
                    }
                },
                _ => None,
            },
        };
        let forward_headers = self.forward_headers(d.arg("forwardHeaders"));
        let cx = TemplateContext::source_headers(name, &forward_headers);
        let headers = self.header_templates(d.arg("headers"), &cx);
        let single_flight = !matches!(
            d.arg("singleFlight").map(|v| v.value),
            Some(ConstValue::Boolean(false))
        );
        Some(HttpSourceDef {
            base_url: base_url?,
            timeout: timeout?,
            retries: retries?,
            headers: headers?,
            forward_headers,
            single_flight,
        })
    }

    /// `forwardHeaders: [...]`: lower-cased, each a valid header name (else reported and left
    /// out), without repeats.
    fn forward_headers(&mut self, v: Option<&Val<'a>>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(v) = v else { return out };
        let items = match v.value {
            ConstValue::List(_) => v.items(),
            _ => vec![v.clone()],
        };
        for item in items {
            let ConstValue::String(s) = item.value else {
                continue;
            };
            let name = s.to_ascii_lowercase();
            if !http::is_header_name(&name) {
                self.sink.error_hint(
                    item.pos(),
                    format!("forwardHeaders: \"{s}\" is not a header name"),
                    "header names are letters, digits and -, e.g. \"authorization\" or \"x-request-id\"",
                );
                continue;
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// Settings that only SQL sources take.
const SQL_ONLY: [&str; 2] = ["poolSize", "statementTimeout"];
/// Settings that only HTTP sources take.
const HTTP_ONLY: [&str; 5] = [
    "timeout",
    "retries",
    "headers",
    "forwardHeaders",
    "singleFlight",
];
/// The most retries a source may ask for: more would turn a slow upstream into a storm.
const MAX_RETRIES: u64 = 10;
