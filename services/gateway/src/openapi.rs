//! The OpenAPI 3.1 document of the REST routes, made from the same descriptors the gateway
//! routes with: paths from the `google.api.http` annotations, schemas from the messages in
//! protobuf's JSON mapping (int64 as strings, enums by name, timestamps as RFC 3339).

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Value as Json, json};

use crate::rest::{Part, Route, Routes, Segment};

/// The whole document.
pub(crate) fn document(routes: &Routes) -> Json {
    let mut schemas = BTreeMap::new();
    let mut paths: BTreeMap<String, serde_json::Map<String, Json>> = BTreeMap::new();
    for route in &routes.routes {
        let (path, parameters) = path_of(route);
        let operation = operation(route, parameters, &mut schemas);
        paths
            .entry(path)
            .or_default()
            .insert(route.verb.as_str().to_ascii_lowercase(), operation);
    }
    schemas.insert("google.rpc.Error".to_owned(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fazhi (法治政府建设) REST API",
            "version": "v1",
            "description": "The REST/JSON face of Fazhi's gRPC services, routed by their google.api.http annotations. Every call takes a bearer token (JWT). Errors follow AIP-193."
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas,
        },
    })
}

/// The OpenAPI path (`/v1/units/{unit}:ancestors`) and its path parameters.
fn path_of(route: &Route) -> (String, Vec<Json>) {
    let mut path = String::new();
    let mut parameters = Vec::new();
    for part in &route.parts {
        match part {
            Part::Literal(literal) => {
                path.push('/');
                path.push_str(literal);
            }
            Part::Variable(variable) => {
                let mut previous = variable.field.replace('.', "_");
                for segment in &variable.segments {
                    match segment {
                        Segment::Literal(literal) => {
                            path.push('/');
                            path.push_str(literal);
                            previous = literal.trim_end_matches('s').to_owned();
                        }
                        Segment::One | Segment::Rest => {
                            path.push_str(&format!("/{{{previous}}}"));
                            parameters.push(json!({
                                "name": previous,
                                "in": "path",
                                "required": true,
                                "description": format!("The id in `{}`", variable.field),
                                "schema": {"type": "string", "pattern": "^[^/]+$"},
                            }));
                        }
                    }
                }
            }
        }
    }
    if let Some(custom) = &route.custom {
        path.push(':');
        path.push_str(custom);
    }
    (path, parameters)
}

fn operation(
    route: &Route,
    mut parameters: Vec<Json>,
    schemas: &mut BTreeMap<String, Json>,
) -> Json {
    let method = &route.method;
    let input = method.input();
    let bound: Vec<String> = route
        .parts
        .iter()
        .filter_map(|part| match part {
            Part::Variable(variable) => Some(variable.field.clone()),
            Part::Literal(_) => None,
        })
        .collect();
    let mut operation = json!({
        "operationId": format!("{}_{}", method.parent_service().name(), method.name()),
        "tags": [method.parent_service().name()],
        "responses": {
            "200": ok_response(route, schemas),
            "default": {
                "description": "An error (AIP-193)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Error"}}},
            },
        },
    });
    match route.body.as_str() {
        "" => {
            for field in input.fields() {
                if bound.contains(&field.name().to_owned()) {
                    continue;
                }
                query_parameters(&field, "", &mut parameters, 0);
            }
        }
        "*" => {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": message_ref(&input, schemas)}},
            });
        }
        field => {
            if let Some(field) = input.get_field_by_name(field) {
                operation["requestBody"] = json!({
                    "required": true,
                    "content": {"application/json": {"schema": field_schema(&field, schemas)}},
                });
            }
        }
    }
    operation["parameters"] = Json::Array(parameters);
    operation
}

/// Scalars, enums and repeated scalars as query parameters; a message's fields dotted, one level.
fn query_parameters(field: &FieldDescriptor, prefix: &str, parameters: &mut Vec<Json>, depth: u8) {
    let name = format!("{prefix}{}", field.json_name());
    match field.kind() {
        Kind::Message(message) if !field.is_list() && !field.is_map() => {
            if depth == 0 && well_known(&message).is_none() {
                for inner in message.fields() {
                    query_parameters(&inner, &format!("{name}."), parameters, depth + 1);
                }
            }
        }
        Kind::Message(_) => {}
        kind => {
            let scalar = scalar_schema(&kind);
            let schema = if field.is_list() {
                json!({"type": "array", "items": scalar})
            } else {
                scalar
            };
            parameters.push(json!({
                "name": name,
                "in": "query",
                "required": false,
                "schema": schema,
                "explode": true,
            }));
        }
    }
}

/// The answer: JSON, or a file where the route answers with a bytes field (a download).
fn ok_response(route: &Route, schemas: &mut BTreeMap<String, Json>) -> Json {
    let file = route
        .method
        .output()
        .get_field_by_name(&route.response_body)
        .is_some_and(|field| field.kind() == Kind::Bytes);
    if file {
        return json!({
            "description": "The file, named in Content-Disposition (RFC 6266, UTF-8 per RFC 5987)",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        });
    }
    json!({
        "description": "OK",
        "content": {"application/json": {"schema": response_schema(route, schemas)}},
    })
}

fn response_schema(route: &Route, schemas: &mut BTreeMap<String, Json>) -> Json {
    let output = route.method.output();
    if route.response_body.is_empty() {
        return message_ref(&output, schemas);
    }
    output
        .get_field_by_name(&route.response_body)
        .map_or_else(|| json!({}), |field| field_schema(&field, schemas))
}

/// A reference to the message's schema, made (with every message it reaches) the first time.
fn message_ref(message: &MessageDescriptor, schemas: &mut BTreeMap<String, Json>) -> Json {
    if let Some(schema) = well_known(message) {
        return schema;
    }
    let name = message.full_name().to_owned();
    if !schemas.contains_key(&name) {
        // Placed first: a message may reach itself.
        schemas.insert(name.clone(), json!({}));
        let properties: serde_json::Map<String, Json> = message
            .fields()
            .map(|field| (field.json_name().to_owned(), field_schema(&field, schemas)))
            .collect();
        let required: Vec<String> = message
            .fields()
            .filter(|field| has_behavior(field, REQUIRED))
            .map(|field| field.json_name().to_owned())
            .collect();
        let mut schema = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schemas.insert(name.clone(), schema);
    }
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn field_schema(field: &FieldDescriptor, schemas: &mut BTreeMap<String, Json>) -> Json {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({"type": "object"});
        };
        let value = entry.map_entry_value_field();
        return json!({"type": "object", "additionalProperties": field_schema(&value, schemas)});
    }
    let single = match field.kind() {
        Kind::Message(message) => message_ref(&message, schemas),
        kind => scalar_schema(&kind),
    };
    if field.is_list() {
        json!({"type": "array", "items": single})
    } else {
        single
    }
}

fn scalar_schema(kind: &Kind) -> Json {
    match kind {
        Kind::Double | Kind::Float => json!({"type": ["number", "string"]}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        // protobuf's JSON writes 64-bit integers as strings (and reads either).
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": ["string", "integer"], "format": "int64"})
        }
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(enumeration) => json!({
            "type": "string",
            "enum": enumeration.values().map(|value| value.name().to_owned()).collect::<Vec<_>>(),
        }),
        Kind::Message(_) => json!({}),
    }
}

/// `google.api.FieldBehavior.REQUIRED`.
const REQUIRED: i32 = 2;

/// Whether the field carries this `google.api.field_behavior`.
fn has_behavior(field: &FieldDescriptor, behavior: i32) -> bool {
    let Some(extension) = field
        .parent_pool()
        .get_extension_by_name("google.api.field_behavior")
    else {
        return false;
    };
    let options = field.options();
    if !options.has_extension(&extension) {
        return false;
    }
    match options.get_extension(&extension).as_ref() {
        prost_reflect::Value::List(values) => values
            .iter()
            .any(|value| value.as_enum_number() == Some(behavior)),
        _ => false,
    }
}

/// The JSON forms protobuf gives its well-known types.
fn well_known(message: &MessageDescriptor) -> Option<Json> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" | "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" | "google.protobuf.Any" => json!({}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        _ => return None,
    })
}

/// AIP-193's error body.
fn error_schema() -> Json {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }},
    })
}
