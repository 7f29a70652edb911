//! REST/JSON routes from the `google.api.http` annotations on the services' methods: the path
//! template's variables, the query string and the body make the request message; the answer (or
//! its `response_body` field) is the JSON body; a refusal is AIP-193's error JSON.

use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, Value,
};
use serde_json::{Map, Value as Json};

use crate::connect::GatewayError;
use crate::gateway::Gateway;

/// One step of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    /// `*`: one segment.
    One,
    /// `**`: the rest of the path.
    Rest,
}

/// A field bound to a run of segments: `{name=units/*}` binds `name` to `units/` and one more.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    /// The request field, dotted for a nested one (`unit.name`).
    pub(crate) field: String,
    pub(crate) segments: Vec<Segment>,
}

/// A piece of a template: a literal segment, or a variable spanning segments.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    Literal(String),
    Variable(Variable),
}

/// One route: a verb and a path template bound to a method.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) verb: Method,
    pub(crate) parts: Vec<Part>,
    /// The custom verb after `:` (`import` in `/v1/plans:import`).
    pub(crate) custom: Option<String>,
    pub(crate) method: MethodDescriptor,
    /// `*`, a field name, or empty (no body: the query string).
    pub(crate) body: String,
    pub(crate) response_body: String,
}

/// Every route the annotations declare.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    pub(crate) routes: Vec<Route>,
}

impl Routes {
    /// Reads the `google.api.http` option of every method in the pool.
    pub(crate) fn from_pool(pool: &DescriptorPool) -> Self {
        let Some(http) = pool.get_extension_by_name("google.api.http") else {
            return Self::default();
        };
        let routes = pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .filter(|method| !method.is_client_streaming() && !method.is_server_streaming())
            .filter_map(|method| rule(&method, &http).map(|rule| (method, rule)))
            .filter_map(|(method, rule)| route(method, &rule))
            .collect();
        Self { routes }
    }

    /// The route for `verb path`, with the variables' values; else what the path allows.
    fn find(&self, verb: &Method, path: &str) -> Result<(&Route, Bound), Missing> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let (path, custom) = match path.rsplit_once('/') {
            Some((head, last)) => match last.split_once(':') {
                Some((last, custom)) => (format!("{head}/{last}"), Some(custom)),
                None => (path.to_owned(), None),
            },
            None => (path.to_owned(), None),
        };
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed = Vec::new();
        for route in &self.routes {
            if route.custom.as_deref() != custom {
                continue;
            }
            if let Some(bound) = bind(&route.parts, &segments) {
                if route.verb == verb {
                    return Ok((route, bound));
                }
                allowed.push(route.verb.clone());
            }
        }
        Err(if allowed.is_empty() {
            Missing::Path
        } else {
            Missing::Verb(allowed)
        })
    }
}

/// The path variables' fields and values.
type Bound = Vec<(String, String)>;

/// Why no route took a request.
enum Missing {
    /// No route has this path: 404.
    Path,
    /// Routes have this path with these verbs: 405.
    Verb(Vec<Method>),
}

fn rule(method: &MethodDescriptor, http: &ExtensionDescriptor) -> Option<DynamicMessage> {
    let options = method.options();
    if !options.has_extension(http) {
        return None;
    }
    match options.get_extension(http).as_ref() {
        Value::Message(rule) => Some(rule.clone()),
        _ => None,
    }
}

fn text(rule: &DynamicMessage, field: &str) -> String {
    rule.get_field_by_name(field)
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn route(method: MethodDescriptor, rule: &DynamicMessage) -> Option<Route> {
    let (verb, template) = [
        (Method::GET, "get"),
        (Method::POST, "post"),
        (Method::PUT, "put"),
        (Method::PATCH, "patch"),
        (Method::DELETE, "delete"),
    ]
    .into_iter()
    .find_map(|(verb, field)| {
        let template = text(rule, field);
        (!template.is_empty()).then_some((verb, template))
    })?;
    let (parts, custom) = parse_template(&template)?;
    Some(Route {
        verb,
        parts,
        custom,
        method,
        body: text(rule, "body"),
        response_body: text(rule, "response_body"),
    })
}

/// `/v1/{name=units/*}:ancestors` → its parts and custom verb.
pub(crate) fn parse_template(template: &str) -> Option<(Vec<Part>, Option<String>)> {
    let template = template.strip_prefix('/')?;
    // A custom verb follows the last `:` outside braces.
    let closing = template.rfind('}').map_or(0, |index| index + 1);
    let (path, custom) = match template[closing..].rfind(':') {
        Some(index) => (
            &template[..closing + index],
            Some(template[closing + index + 1..].to_owned()),
        ),
        None => (template, None),
    };
    let mut parts = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}')?;
            let (field, pattern) = inner[..end].split_once('=').unwrap_or((&inner[..end], "*"));
            let segments = pattern
                .split('/')
                .map(|segment| match segment {
                    "*" => Segment::One,
                    "**" => Segment::Rest,
                    literal => Segment::Literal(literal.to_owned()),
                })
                .collect();
            parts.push(Part::Variable(Variable {
                field: field.to_owned(),
                segments,
            }));
            rest = inner[end + 1..]
                .strip_prefix('/')
                .unwrap_or(&inner[end + 1..]);
        } else {
            let (segment, after) = rest.split_once('/').unwrap_or((rest, ""));
            parts.push(Part::Literal(segment.to_owned()));
            rest = after;
        }
    }
    Some((parts, custom))
}

/// Matches `segments` against `parts`: each variable's field and value, or None.
fn bind(parts: &[Part], segments: &[&str]) -> Option<Bound> {
    let mut bound = Vec::new();
    let mut at = 0;
    for part in parts {
        match part {
            Part::Literal(literal) => {
                if segments.get(at) != Some(&literal.as_str()) {
                    return None;
                }
                at += 1;
            }
            Part::Variable(variable) => {
                let start = at;
                for segment in &variable.segments {
                    match segment {
                        Segment::Literal(literal) => {
                            if segments.get(at) != Some(&literal.as_str()) {
                                return None;
                            }
                            at += 1;
                        }
                        Segment::One => {
                            if segments.get(at).is_none_or(|value| value.is_empty()) {
                                return None;
                            }
                            at += 1;
                        }
                        Segment::Rest => at = segments.len(),
                    }
                }
                let value = segments[start..at].join("/");
                bound.push((variable.field.clone(), percent_decode(&value)?));
            }
        }
    }
    (at == segments.len()).then_some(bound)
}

fn percent_decode(text: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
}

/// Why a REST request could not be made into the method's request.
fn bad_request(message: impl Into<String>) -> GatewayError {
    GatewayError::BadBody("REST request".to_owned(), message.into())
}

/// Sets `value` at the dotted `path` of the JSON request, in the fields' JSON names.
fn set(
    request: &mut Map<String, Json>,
    message: &MessageDescriptor,
    path: &str,
    value: Json,
) -> Result<(), GatewayError> {
    let (first, rest) = path
        .split_once('.')
        .map_or((path, None), |(a, b)| (a, Some(b)));
    let field = message
        .get_field_by_name(first)
        .or_else(|| message.get_field_by_json_name(first))
        .ok_or_else(|| bad_request(format!("no field {first} in {}", message.full_name())))?;
    let key = field.json_name().to_owned();
    match (rest, field.kind()) {
        (None, _) => {
            request.insert(key, value);
            Ok(())
        }
        (Some(rest), Kind::Message(inner)) => {
            let entry = request
                .entry(key)
                .or_insert_with(|| Json::Object(Map::new()));
            let Json::Object(object) = entry else {
                return Err(bad_request(format!("{first} is not an object")));
            };
            set(object, &inner, rest, value)
        }
        (Some(_), _) => Err(bad_request(format!("{first} has no fields"))),
    }
}

/// A query-string value as the field's JSON: booleans and repeated fields typed, the rest as
/// strings (protobuf's JSON takes numbers and enum names as strings).
fn query_value(field: Option<&FieldDescriptor>, values: Vec<String>) -> Result<Json, GatewayError> {
    let single = |value: String| match field.map(FieldDescriptor::kind) {
        Some(Kind::Bool) => match value.as_str() {
            "true" => Ok(Json::Bool(true)),
            "false" => Ok(Json::Bool(false)),
            other => Err(bad_request(format!("{other:?} is not true or false"))),
        },
        _ => Ok(Json::String(value)),
    };
    if field.is_some_and(FieldDescriptor::is_list) {
        values
            .into_iter()
            .map(single)
            .collect::<Result<_, _>>()
            .map(Json::Array)
    } else {
        values.into_iter().last().map_or(Ok(Json::Null), single)
    }
}

/// The field at a dotted path, if there is one.
fn field_at(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let (first, rest) = path
        .split_once('.')
        .map_or((path, None), |(a, b)| (a, Some(b)));
    let field = message
        .get_field_by_name(first)
        .or_else(|| message.get_field_by_json_name(first))?;
    match (rest, field.kind()) {
        (None, _) => Some(field),
        (Some(rest), Kind::Message(inner)) => field_at(&inner, rest),
        _ => None,
    }
}

impl Gateway {
    /// A REST call: the route's method called with the request built from the path, the query
    /// string and the body.
    pub(crate) async fn rest(
        &self,
        verb: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let answer = async {
            let (route, bound) = match self.routes.find(verb, path) {
                Ok(found) => found,
                Err(Missing::Path) => {
                    return Err(GatewayError::Status(tonic::Status::not_found(format!(
                        "no resource at {path}"
                    ))));
                }
                Err(Missing::Verb(allowed)) => return Ok(not_allowed(verb, &allowed)),
            };
            let input = route.method.input();
            let mut request = match route.body.as_str() {
                "" => Map::new(),
                whole_or_field => {
                    let parsed: Json = if body.is_empty() {
                        Json::Object(Map::new())
                    } else {
                        serde_json::from_slice(&body).map_err(|error| {
                            bad_request(format!("the body is not JSON: {error}"))
                        })?
                    };
                    if whole_or_field == "*" {
                        match parsed {
                            Json::Object(object) => object,
                            _ => return Err(bad_request("the body must be a JSON object")),
                        }
                    } else {
                        let mut request = Map::new();
                        set(&mut request, &input, whole_or_field, parsed)?;
                        request
                    }
                }
            };
            // Fields neither in the path nor in the body come from the query string.
            if route.body != "*" {
                let mut fields: Vec<(String, Vec<String>)> = Vec::new();
                for (key, value) in
                    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                {
                    match fields.iter_mut().find(|(known, _)| *known == key) {
                        Some((_, values)) => values.push(value.into_owned()),
                        None => fields.push((key.into_owned(), vec![value.into_owned()])),
                    }
                }
                for (key, values) in fields {
                    let value = query_value(field_at(&input, &key).as_ref(), values)?;
                    set(&mut request, &input, &key, value)?;
                }
            }
            for (field, value) in bound {
                set(&mut request, &input, &field, Json::String(value))?;
            }
            let service = route.method.parent_service().full_name().to_owned();
            let answer = self
                .unary_json(
                    (&service, route.method.name()),
                    headers,
                    Bytes::from(Json::Object(request).to_string()),
                )
                .await?;
            if route.response_body.is_empty() {
                return Ok(json_response(answer));
            }
            let mut whole: Map<String, Json> =
                serde_json::from_slice(&answer).map_err(|error| {
                    GatewayError::Status(tonic::Status::internal(error.to_string()))
                })?;
            let output = route.method.output();
            let field = output.get_field_by_name(&route.response_body);
            let key = field.as_ref().map_or(route.response_body.clone(), |field| {
                field.json_name().to_owned()
            });
            let part = whole.remove(&key).unwrap_or(Json::Null);
            if field.is_some_and(|field| field.kind() == Kind::Bytes) {
                return download(&part, &whole);
            }
            Ok(json_response(Bytes::from(part.to_string())))
        }
        .await;
        answer.unwrap_or_else(|error| aip_error(&error))
    }
}

/// A `multipart/form-data` body as the JSON body it stands for: a part named `request` (or sent
/// as `application/json`) is the JSON object; each file part is added to the array its name
/// names as `{"fileName", "content"}` (evidence uploads: `evidence`); any other part sets the
/// field its name names to its text.
pub(crate) async fn multipart_json(request: axum::extract::Request) -> Result<Bytes, GatewayError> {
    let bad = |error: axum::extract::multipart::MultipartError| bad_request(error.body_text());
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|rejection| bad_request(rejection.body_text()))?;
    let mut json = Map::new();
    let mut files: Vec<(String, Json)> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let is_json = field
            .content_type()
            .is_some_and(|kind| kind.starts_with("application/json"));
        let bytes = field.bytes().await.map_err(bad)?;
        if name == "request" || is_json {
            match serde_json::from_slice(&bytes) {
                Ok(Json::Object(object)) => json.extend(object),
                _ => return Err(bad_request(format!("part {name:?} is not a JSON object"))),
            }
        } else if let Some(file_name) = file_name {
            files.push((
                name,
                serde_json::json!({
                    "fileName": file_name,
                    "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
                }),
            ));
        } else {
            json.insert(
                name,
                Json::String(String::from_utf8_lossy(&bytes).into_owned()),
            );
        }
    }
    for (name, file) in files {
        match json.entry(name).or_insert_with(|| Json::Array(Vec::new())) {
            Json::Array(list) => list.push(file),
            _ => return Err(bad_request("a file part's name is already a field")),
        }
    }
    Ok(Bytes::from(Json::Object(json).to_string()))
}

/// 405 with the verbs the path takes.
fn not_allowed(verb: &Method, allowed: &[Method]) -> Response {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let body = serde_json::json!({"error": {
        "code": 405,
        "message": format!("{verb} is not allowed here; {allow} is"),
        "status": "UNIMPLEMENTED",
        "details": [],
    }});
    let mut response = (
        StatusCode::METHOD_NOT_ALLOWED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn json_response(json: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// A file in an answer (`content`, with `content_type` and `file_name` beside it or in its
/// `evidence`) sent as the file itself: its content type, and its name for the browser to save
/// it under, in UTF-8 as RFC 5987 and 6266 say (Chinese names survive), with an ASCII fallback.
fn download(content: &Json, answer: &Map<String, Json>) -> Result<Response, GatewayError> {
    let bytes = match content {
        Json::String(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| GatewayError::Status(tonic::Status::internal(error.to_string())))?,
        _ => Vec::new(),
    };
    let text = |key: &str| {
        answer
            .get(key)
            .or_else(|| {
                answer
                    .get("evidence")
                    .and_then(|evidence| evidence.get(key))
            })
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let file_name = text("fileName");
    let content_type = match text("contentType") {
        known if !known.is_empty() => known,
        _ if file_name.ends_with(".xlsx") => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned()
        }
        _ => "application/octet-stream".to_owned(),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        )],
        bytes,
    )
        .into_response();
    if !file_name.is_empty() {
        // Old clients read `filename`: the name itself when it is plain ASCII, else a stand-in
        // with the extension.
        let fallback = if file_name
            .chars()
            .all(|letter| letter.is_ascii_alphanumeric() || ".-_ ".contains(letter))
        {
            file_name.clone()
        } else {
            let extension = file_name
                .rsplit_once('.')
                .map_or("", |(_, extension)| extension);
            format!("download.{extension}")
        };
        let encoded = url::form_urlencoded::byte_serialize(file_name.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        if let Ok(value) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
        )) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// AIP-193's error JSON: `{"error": {"code", "message", "status", "details"}}`, the details in
/// protobuf's JSON with their `@type`.
pub(crate) fn aip_error(error: &GatewayError) -> Response {
    let code = error.connect_code();
    let (status, connect) = error.connect_error();
    let details: Vec<Json> = connect["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|detail| {
                    let mut json = detail["debug"].as_object().cloned().unwrap_or_default();
                    json.insert(
                        "@type".to_owned(),
                        Json::String(format!(
                            "type.googleapis.com/{}",
                            detail["type"].as_str().unwrap_or_default()
                        )),
                    );
                    Json::Object(json)
                })
                .collect()
        })
        .unwrap_or_default();
    let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let body = serde_json::json!({"error": {
        "code": status.as_u16(),
        "message": connect["message"],
        "status": format!("{code:?}").chars().fold(String::new(), |mut name, letter| {
            if letter.is_uppercase() && !name.is_empty() {
                name.push('_');
            }
            name.push(letter.to_ascii_uppercase());
            name
        }),
        "details": details,
    }});
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}
