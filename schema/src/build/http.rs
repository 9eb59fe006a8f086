//! `@http` on fields (and `@timeout` with it): a call to an HTTP source, its path, query,
//! headers and body templates checked against the field, and the batched form. Also the
//! header helpers shared with HTTP `@source`s.

use async_graphql_parser::types::FieldDefinition;
use async_graphql_value::ConstValue;

use crate::blueprint::{
    BodyTemplate, HttpBatch, HttpMethod, HttpResolver, Root, SourceKind, Template, TemplatePart,
};
use crate::directives::{self, Checked, BATCH_FIELDS};
use crate::names;
use crate::source_map::Val;

use super::collect::RawType;
use super::fields::{HeaderAccess, SourceUse, TemplateContext};
use super::Builder;

const METHODS: [(&str, HttpMethod); 5] = [
    ("GET", HttpMethod::Get),
    ("POST", HttpMethod::Post),
    ("PUT", HttpMethod::Put),
    ("PATCH", HttpMethod::Patch),
    ("DELETE", HttpMethod::Delete),
];

/// Headers the HTTP client sets itself (framing, routing): a template may not set them.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

impl<'a> Builder<'a> {
    pub(super) fn http(
        &mut self,
        t: &RawType<'a>,
        def: &'a FieldDefinition,
        d: &Checked<'a>,
    ) -> HttpResolver {
        let owner = format!("{}.{}", t.name, def.name.node);
        let root = self.is_root(t.name);

        let source = match d.string("source") {
            Some((name, v)) => {
                self.check_source(name, v, SourceUse::Http);
                name.to_string()
            }
            None => String::new(),
        };
        let headers_access = match self.sources.get(&source).map(|s| &s.kind) {
            Some(SourceKind::Http(h)) => HeaderAccess::Forward {
                source: source.clone(),
                names: h.forward_headers.clone(),
            },
            // Unknown, SQL, or with errors: all reported already.
            _ => HeaderAccess::Unchecked,
        };

        let method = match d.arg("method") {
            None => HttpMethod::Get,
            Some(v) => {
                let text = match v.value {
                    ConstValue::Enum(n) => n.as_str(),
                    ConstValue::String(s) => s.as_str(),
                    _ => "",
                };
                match METHODS.iter().find(|(m, _)| *m == text) {
                    Some((_, m)) => *m,
                    None => {
                        let hint = names::did_you_mean(text, METHODS.iter().map(|(m, _)| *m))
                            .unwrap_or_else(|| {
                                "the methods are GET, POST, PUT, PATCH and DELETE".to_string()
                            });
                        self.sink.error_hint(
                            v.pos(),
                            format!("unknown HTTP method `{text}`"),
                            hint,
                        );
                        HttpMethod::Get
                    }
                }
            }
        };

        let batch_val = d.arg("batch");
        let batch_fields = batch_val.map(|b| {
            directives::check_object(&mut self.sink, b, "@http batch", "batch", BATCH_FIELDS)
        });
        // In the batched form, other templates may read the parent too: the engine makes one
        // call per distinct set of the other values, with the keys of its parents.
        let cx = TemplateContext {
            field: Some((t.name, def)),
            parent_forbidden: root
                .then(|| format!("{owner} is a root field: root fields have no parent")),
            headers: headers_access,
            ..Default::default()
        };

        let path = match d.string("path") {
            Some((text, v)) => {
                if !text.starts_with('/') {
                    self.sink.error_hint(
                        v.pos(),
                        format!("path \"{text}\" must start with /"),
                        format!(
                            "the path is under the source's base URL: write \"/{}\"",
                            text.trim_start_matches('/')
                        ),
                    );
                }
                let template = self.template(v, text, &cx);
                if let Some(t) = &template {
                    let literal_at = t.parts.iter().find_map(|p| match p {
                        TemplatePart::Literal(l) => l.find(['?', '#']),
                        TemplatePart::Expr(_) => None,
                    });
                    if literal_at.is_some() {
                        let at = text.find(['?', '#']).unwrap_or_default();
                        self.sink.error_hint(
                            v.pos_in_string(at),
                            "the path cannot hold a query string or a fragment",
                            "put query parameters in query: {name: \"{{args.x}}\"}",
                        );
                    }
                }
                template.unwrap_or_else(|| Template::literal(text))
            }
            None => Template::literal(""),
        };

        let mut query: Vec<(String, Template)> = Vec::new();
        let mut query_vals: Vec<(&'a str, Val<'a>)> = Vec::new();
        if let Some(q) = d.arg("query") {
            for (name, _, val) in q.entries() {
                let ConstValue::String(text) = val.value else {
                    continue;
                };
                if let Some(t) = self.template(&val, text, &cx) {
                    query.push((name.to_string(), t));
                }
                query_vals.push((name, val));
            }
        }

        // With errors (reported) the Blueprint is not returned, so what is kept does not matter.
        let headers = self
            .header_templates(d.arg("headers"), &cx)
            .unwrap_or_default();

        let body = d.arg("body").and_then(|v| {
            if matches!(method, HttpMethod::Get | HttpMethod::Delete) {
                self.sink.error_hint(
                    v.pos(),
                    format!("@http body is not allowed with method {}", method.as_str()),
                    "GET and DELETE requests carry no body: send values in query, or use POST, PUT or PATCH",
                );
            }
            self.body_template(v, &cx)
        });

        let select = match d.string("select") {
            None => Vec::new(),
            Some((text, v)) => {
                let path: Vec<String> = text.split('.').map(str::to_string).collect();
                if path.iter().any(|s| s.trim().is_empty()) {
                    self.sink.error_hint(
                        v.pos(),
                        format!("select \"{text}\" is not a dot path"),
                        "write keys separated by dots, e.g. \"data.items\"; omit select to use the whole response",
                    );
                }
                path
            }
        };

        let batch = match (batch_val, batch_fields) {
            (Some(bv), Some(fields)) => {
                if root {
                    self.sink.error_hint(
                        bv.pos(),
                        format!("batch on root field {owner}: root fields have no parent"),
                        "remove batch: a root field makes one call",
                    );
                }
                let string = |name: &str| {
                    fields.get(name).and_then(|v| match v.value {
                        ConstValue::String(s) => Some((s.as_str(), v.clone())),
                        _ => None,
                    })
                };
                if let Some((param, pv)) = string("param") {
                    self.check_batch_param(param, &pv, &query, &query_vals);
                }
                if let Some(("", kv)) = string("key") {
                    self.sink.error_hint(
                        kv.pos(),
                        "batch key cannot be empty",
                        "name the field of each response item that holds its parent's key, e.g. key: \"id\"",
                    );
                }
                if let Some(("", sv)) = string("separator") {
                    self.sink.error_hint(
                        sv.pos(),
                        "batch separator cannot be empty",
                        "omit it to repeat the parameter (?id=1&id=2), or join the keys with one like \",\"",
                    );
                }
                match (string("param"), string("key")) {
                    (Some((param, _)), Some((key, _))) => Some(HttpBatch {
                        param: param.to_string(),
                        key: key.to_string(),
                        separator: string("separator").map(|(s, _)| s.to_string()),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };

        HttpResolver {
            source,
            method,
            path,
            query,
            headers,
            body,
            select,
            batch,
            timeout: None,
            pos: d.pos,
        }
    }

    /// `batch.param` names a query parameter whose value reads the parent (each parent's key).
    fn check_batch_param(
        &mut self,
        param: &str,
        pv: &Val<'a>,
        query: &[(String, Template)],
        query_vals: &[(&'a str, Val<'a>)],
    ) {
        if !query_vals.iter().any(|(n, _)| *n == param) {
            let names: Vec<&str> = query_vals.iter().map(|(n, _)| *n).collect();
            let hint = names::did_you_mean(param, names.iter().copied()).unwrap_or_else(|| {
                format!(
                    "the batch param carries the parents' keys: add it to query, e.g. query: {{{param}: \"{{{{parent.id}}}}\"}}"
                )
            });
            self.sink.error_hint(
                pv.pos(),
                format!("batch param \"{param}\" is not one of the query parameters"),
                hint,
            );
            return;
        }
        // A template with errors is already reported.
        let Some((_, t)) = query.iter().find(|(n, _)| n == param) else {
            return;
        };
        let reads_parent = t
            .parts
            .iter()
            .any(|p| matches!(p, TemplatePart::Expr(e) if e.root == Root::Parent));
        if !reads_parent {
            self.sink.error_hint(
                pv.pos(),
                format!(
                    "batch param \"{param}\" must carry each parent's key, but its query value \"{}\" does not read {{{{parent...}}}}",
                    t.text
                ),
                format!("e.g. query: {{{param}: \"{{{{parent.id}}}}\"}}"),
            );
        }
    }

    /// `headers: {x_api_key: "..."}` of a source or an `@http`: names with `_` written `-` and
    /// lower-cased, values templates. `None` when something is wrong (reported).
    pub(super) fn header_templates(
        &mut self,
        v: Option<&Val<'a>>,
        cx: &TemplateContext<'a>,
    ) -> Option<Vec<(String, Template)>> {
        let mut out: Vec<(String, Template)> = Vec::new();
        let Some(v) = v else { return Some(out) };
        let mut ok = true;
        for (key, key_pos, val) in v.entries() {
            let name = header_name(key);
            if RESERVED_HEADERS.contains(&name.as_str()) {
                self.sink.error_hint(
                    key_pos,
                    format!("header `{name}` cannot be set here"),
                    format!("the HTTP client sets {name} itself"),
                );
                ok = false;
                continue;
            }
            if out.iter().any(|(n, _)| *n == name) {
                self.sink.error_hint(
                    key_pos,
                    format!("header `{name}` is set twice"),
                    "header names are case-insensitive and `_` in a key is `-` in the name, \
                     so x_api_key and X_API_KEY are both x-api-key: keep one",
                );
                ok = false;
                continue;
            }
            let ConstValue::String(text) = val.value else {
                continue;
            };
            let Some(t) = self.template(&val, text, cx) else {
                ok = false;
                continue;
            };
            let broken = t
                .parts
                .iter()
                .any(|p| matches!(p, TemplatePart::Literal(l) if l.contains(['\r', '\n', '\0'])));
            if broken {
                self.sink.error_hint(
                    val.pos(),
                    format!("the value of header `{name}` contains a line break"),
                    "a header value is one line of text",
                );
                ok = false;
                continue;
            }
            out.push((name, t));
        }
        ok.then_some(out)
    }

    /// A JSON body: string leaves are templates, everything else is kept as written. `None`
    /// when a template has errors (reported).
    pub(super) fn body_template(
        &mut self,
        v: &Val<'a>,
        cx: &TemplateContext<'a>,
    ) -> Option<BodyTemplate> {
        match v.value {
            ConstValue::String(text) => self.template(v, text, cx).map(BodyTemplate::Template),
            ConstValue::List(_) => {
                let items: Vec<Option<BodyTemplate>> = v
                    .items()
                    .iter()
                    .map(|item| self.body_template(item, cx))
                    .collect();
                items
                    .into_iter()
                    .collect::<Option<_>>()
                    .map(BodyTemplate::List)
            }
            ConstValue::Object(_) => {
                let entries: Vec<Option<(String, BodyTemplate)>> = v
                    .entries()
                    .iter()
                    .map(|(k, _, item)| Some((k.to_string(), self.body_template(item, cx)?)))
                    .collect();
                entries
                    .into_iter()
                    .collect::<Option<_>>()
                    .map(BodyTemplate::Object)
            }
            other => Some(BodyTemplate::Literal(other.clone())),
        }
    }
}

/// The header name of an object key: GraphQL names cannot hold `-`, so `_` stands for it
/// (`x_api_key` → `x-api-key`); header names are case-insensitive, so lower-cased.
pub(super) fn header_name(key: &str) -> String {
    key.replace('_', "-").to_ascii_lowercase()
}

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
pub(super) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What is wrong with an HTTP source's base URL, if anything: it must be `http://` or
/// `https://` with a host (and a numeric port, if any), no spaces and no fragment.
pub(super) fn base_url_problem(url: &str) -> Option<&'static str> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return Some("is not an http:// or https:// URL");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains spaces");
    }
    if url.contains('#') {
        return Some("has a #fragment");
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => return Some("has an unclosed [IPv6] host"),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("has no host");
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Some("has an invalid port");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_need_an_http_scheme_and_a_host() {
        for ok in [
            "http://127.0.0.1:4001",
            "https://api.example.com/v1/",
            "http://[::1]:8080/x",
            "HTTP://host?key=1",
            "http://user:pw@host",
        ] {
            assert_eq!(base_url_problem(ok), None, "{ok}");
        }
        for (bad, problem) in [
            ("ftp://host", "is not an http"),
            ("127.0.0.1:4001", "is not an http"),
            ("http://", "has no host"),
            ("http:///path", "has no host"),
            ("http://host:99999", "invalid port"),
            ("http://host:", "invalid port"),
            ("http://ho st", "spaces"),
            ("http://host/#x", "fragment"),
        ] {
            assert!(
                base_url_problem(bad).is_some_and(|p| p.contains(problem)),
                "{bad}: {:?}",
                base_url_problem(bad)
            );
        }
    }

    #[test]
    fn header_keys_map_underscores_to_dashes_and_lower_case() {
        assert_eq!(header_name("x_api_key"), "x-api-key");
        assert_eq!(header_name("Authorization"), "authorization");
        assert!(is_header_name("x-request-id"));
        assert!(!is_header_name("x trace"));
        assert!(!is_header_name(""));
    }
}
