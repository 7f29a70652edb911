//! Connect unary calls through the real gateway over HTTP to the real units service over
//! gRPC, on a fresh database: JSON and binary protobuf in, the same answers out, refusals as
//! Connect's error JSON with the service's reason, field violations and Chinese message.

#![allow(clippy::unwrap_used)]

use fazhi_platform::auth::Role;
use fazhi_proto::units::v1 as pb;
use fazhi_testkit::bearer;
use prost::Message;

mod common;

use common::{start, start_with};

const GET_UNIT: &str = "/fazhi.units.v1.UnitsService/GetUnit";

#[tokio::test]
async fn every_rpc_answers_connect_json_and_protobuf_and_refuses_as_connect_says() {
    let running = start().await;
    let staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let health = running
        .http
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = running
        .http
        .get(format!("{}/readyz", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "the units service answers SERVING");

    let answer = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &staff)
        .json(&serde_json::json!({"name": "units/ningguo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(
        answer.headers()["x-request-id"].to_str().unwrap().len(),
        36,
        "a UUID for a call that came without one"
    );
    let json: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(json["unit"]["name"], "units/ningguo");
    assert_eq!(json["unit"]["displayName"], "宁国市人民政府");

    // The same call in binary protobuf gives the same unit.
    let answer = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &staff)
        .header("content-type", "application/proto")
        .body(
            pb::GetUnitRequest {
                name: "units/ningguo".to_owned(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let unit = pb::GetUnitResponse::decode(answer.bytes().await.unwrap())
        .unwrap()
        .unit
        .unwrap();
    assert_eq!(unit.display_name, "宁国市人民政府");

    // Refusals: no token, a bad name (with its field and Chinese message), a missing unit,
    // an unknown method, a body that is not the request, a content type it does not take.
    let call = |body: serde_json::Value, token: Option<&str>| {
        let mut request = running
            .http
            .post(format!("{}{GET_UNIT}", running.base))
            .json(&body);
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        request.send()
    };
    let refused = call(serde_json::json!({"name": "units/ningguo"}), None)
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "unauthenticated");

    let refused = call(serde_json::json!({"name": "ningguo"}), Some(&staff))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "invalid_argument");
    let details = error["details"].as_array().unwrap();
    let debug = |kind: &str| {
        details
            .iter()
            .find(|detail| detail["type"] == kind)
            .map(|detail| detail["debug"].clone())
            .unwrap_or_else(|| panic!("no {kind} in {error}"))
    };
    assert!(
        debug("google.rpc.ErrorInfo")["reason"].is_string(),
        "{error}"
    );
    assert_eq!(
        debug("google.rpc.BadRequest")["fieldViolations"][0]["field"],
        "name"
    );
    assert_eq!(debug("google.rpc.LocalizedMessage")["locale"], "zh-CN");

    let refused = call(serde_json::json!({"name": "units/no-such"}), Some(&staff))
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "not_found");

    let refused = running
        .http
        .post(format!(
            "{}/fazhi.units.v1.UnitsService/NoSuch",
            running.base
        ))
        .header("authorization", &staff)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 501);

    let refused = call(serde_json::json!({"name": 5}), Some(&staff))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "invalid_argument");

    let refused = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &staff)
        .header("content-type", "text/plain")
        .body("units/ningguo")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    let oversized = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &staff)
        .header("content-type", "application/proto")
        .body(vec![0_u8; fazhi_gateway::MAX_REQUEST_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);

    // The caller's request id is kept; a browser on an allowed origin may call, others not.
    let answer = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &staff)
        .header("x-request-id", "console-42")
        .json(&serde_json::json!({"name": "units/ningguo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "console-42");
    let preflight = |origin: &'static str| {
        running
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}{GET_UNIT}", running.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(
        !other.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        other.headers()
    );

    // Operators see the calls by RPC and status; a made-up path does not name a series.
    let metrics = running
        .http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |needles: &[&str]| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("http_server_calls_total{")
                    && needles.iter().all(|needle| line.contains(needle))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.parse::<u64>().ok())
    };
    let ok = series(&[
        r#"rpc="/fazhi.units.v1.UnitsService/GetUnit""#,
        r#"http_response_status_code="200""#,
        r#"protocol="connect""#,
    ]);
    assert!(ok.is_some_and(|count| count >= 3), "{metrics}");
    assert_eq!(
        series(&[
            r#"rpc="/fazhi.units.v1.UnitsService/GetUnit""#,
            r#"http_response_status_code="404""#
        ]),
        Some(1),
        "{metrics}"
    );
    assert!(series(&[r#"rpc="unknown""#]).is_some(), "{metrics}");
    assert!(!metrics.contains("NoSuch"), "{metrics}");
}

/// Reads Connect envelopes off a streaming answer until `count` of them have come (or the
/// end-of-stream one): `(flags, message)` each.
async fn envelopes(mut answer: reqwest::Response, count: usize) -> Vec<(u8, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut found = Vec::new();
    while found.len() < count {
        while buffer.len() >= 5 {
            let length = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
            if buffer.len() < 5 + length {
                break;
            }
            let flags = buffer[0];
            found.push((flags, buffer[5..5 + length].to_vec()));
            buffer.drain(..5 + length);
            if flags & 0b10 != 0 {
                return found;
            }
        }
        if found.len() >= count {
            break;
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), answer.chunk())
            .await
            .expect("an envelope within 10 s")
            .unwrap();
        match chunk {
            Some(chunk) => buffer.extend_from_slice(&chunk),
            None => break,
        }
    }
    found
}

fn enveloped(message: &[u8]) -> Vec<u8> {
    let mut framed = vec![0_u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

#[tokio::test]
async fn watch_events_streams_over_connect_and_ends_with_the_error_when_refused() {
    let running = start().await;
    let admin = bearer("admin", None, &[Role::Admin]);
    const WATCH: &str = "/fazhi.units.v1.UnitsService/WatchEvents";
    let watch = |body: Vec<u8>, content_type: &'static str, token: Option<&str>| {
        let mut request = running
            .http
            .post(format!("{}{WATCH}", running.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        request.send()
    };

    // The registry import wrote events: the first three come as JSON envelopes, in order.
    let answer = watch(
        enveloped(br#"{"afterSequence": "0"}"#),
        "application/connect+json",
        Some(&admin),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/connect+json");
    let events = envelopes(answer, 3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let sequences: Vec<i64> = events
        .iter()
        .map(|(flags, message)| {
            assert_eq!(*flags, 0);
            let json: serde_json::Value = serde_json::from_slice(message).unwrap();
            json["event"]["sequence"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert!(
        sequences.windows(2).all(|pair| pair[0] < pair[1]),
        "{sequences:?}"
    );

    // Resuming after the second in binary protobuf gives the third.
    let answer = watch(
        enveloped(
            &pb::WatchEventsRequest {
                after_sequence: sequences[1],
            }
            .encode_to_vec(),
        ),
        "application/connect+proto",
        Some(&admin),
    )
    .await
    .unwrap();
    let (flags, message) = envelopes(answer, 1).await.remove(0);
    assert_eq!(flags, 0);
    let event = pb::WatchEventsResponse::decode(message.as_slice())
        .unwrap()
        .event
        .unwrap();
    assert_eq!(event.sequence, sequences[2]);

    // Refused: the answer is 200 and the end-of-stream envelope carries Connect's error.
    let answer = watch(enveloped(b"{}"), "application/connect+json", None)
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let (flags, message) = envelopes(answer, 1).await.remove(0);
    assert_eq!(flags, 0b10);
    let end: serde_json::Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(end["error"]["code"], "unauthenticated", "{end}");

    // A streaming method called as unary, and a unary one as streaming, are told how to call.
    let refused = watch(b"{}".to_vec(), "application/json", Some(&admin))
        .await
        .unwrap();
    assert_eq!(refused.status(), 501);
    let answer = running
        .http
        .post(format!("{}{GET_UNIT}", running.base))
        .header("authorization", &admin)
        .header("content-type", "application/connect+json")
        .body(enveloped(br#"{"name": "units/ningguo"}"#))
        .send()
        .await
        .unwrap();
    let (flags, message) = envelopes(answer, 1).await.remove(0);
    assert_eq!(flags, 0b10);
    let end: serde_json::Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(end["error"]["code"], "unimplemented", "{end}");

    // A malformed envelope is an invalid argument.
    let answer = watch(vec![0, 0, 0], "application/connect+json", Some(&admin))
        .await
        .unwrap();
    let (_, message) = envelopes(answer, 1).await.remove(0);
    let end: serde_json::Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
}

#[tokio::test]
async fn tokens_are_checked_at_the_edge_and_each_caller_is_limited_with_retry_after() {
    let running = start_with(fazhi_gateway::EdgePolicy {
        requests_per_second: 1,
        burst: 3,
        ..fazhi_gateway::EdgePolicy::default()
    })
    .await;
    let get = |token: &str| {
        running
            .http
            .post(format!("{}{GET_UNIT}", running.base))
            .header("authorization", token)
            .json(&serde_json::json!({"name": "units/ningguo"}))
            .send()
    };

    // A token the gateway cannot verify never reaches the service: the gateway's own reason.
    let refused = get("Bearer not-a-token").await.unwrap();
    assert_eq!(refused.status(), 401);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["code"], "unauthenticated");
    assert_eq!(
        error["details"][0]["debug"]["domain"], "gateway.fazhi",
        "{error}"
    );

    // Three calls at once, then the fourth waits: 429, Retry-After, resource_exhausted.
    let clerk = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    for _ in 0..3 {
        assert_eq!(get(&clerk).await.unwrap().status(), 200);
    }
    let limited = get(&clerk).await.unwrap();
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    let error: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(error["code"], "resource_exhausted");
    let reason = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|detail| detail["type"] == "google.rpc.ErrorInfo")
        .map(|detail| detail["debug"]["reason"].clone());
    assert_eq!(reason, Some(serde_json::json!("RATE_LIMITED")), "{error}");

    // Another caller has a budget of its own; the limited one gets a call again once it waited.
    let other = bearer("ng-gaj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    assert_eq!(get(&other).await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(get(&clerk).await.unwrap().status(), 200);
}

#[tokio::test]
async fn rest_routes_follow_the_http_annotations_and_refuse_as_aip_193_says() {
    let running = start().await;
    let staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let get = |path: &str| {
        running
            .http
            .get(format!("{}{path}", running.base))
            .header("authorization", &staff)
            .send()
    };

    // The resource itself (response_body), a list with query parameters, a custom method.
    let unit: serde_json::Value = get("/v1/units/ningguo")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unit["name"], "units/ningguo", "{unit}");
    assert_eq!(unit["displayName"], "宁国市人民政府");
    let page: serde_json::Value =
        get("/v1/units?parent=units/ningguo&pageSize=2&showDeleted=false")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(page["units"].as_array().map(Vec::len), Some(2), "{page}");
    assert!(
        page["nextPageToken"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
    let ancestors: serde_json::Value = get("/v1/units/ng-sfj:ancestors")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ancestors["units"][0]["name"], "units/ningguo",
        "{ancestors}"
    );
    let resolved = running
        .http
        .post(format!("{}/v1/units:resolveMentions", running.base))
        .header("authorization", &staff)
        .json(&serde_json::json!({"contextUnit": "units/ningguo", "mentions": ["市司法局"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let resolved: serde_json::Value = resolved.json().await.unwrap();
    assert_eq!(
        resolved["resolutions"][0]["unit"], "units/ng-sfj",
        "{resolved}"
    );

    // Refusals: AIP-193's error JSON with the reason and the Chinese message.
    let missing = get("/v1/units/no-such").await.unwrap();
    assert_eq!(missing.status(), 404);
    let error: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["status"], "NOT_FOUND", "{error}");
    assert_eq!(error["error"]["code"], 404);
    let details = error["error"]["details"].as_array().unwrap();
    assert!(
        details.iter().any(
            |detail| detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
                && detail["reason"] == "UNIT_NOT_FOUND"
        ),
        "{error}"
    );
    let bad = get("/v1/units?showDeleted=maybe").await.unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = get("/v1/nothing/here").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let wrong_verb = running
        .http
        .put(format!("{}/v1/units/ningguo", running.base))
        .header("authorization", &staff)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_verb.status(), 405);
    assert!(
        wrong_verb.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET"),
        "{:?}",
        wrong_verb.headers()
    );
    let anonymous = running
        .http
        .get(format!("{}/v1/units/ningguo", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let error: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"]["status"], "UNAUTHENTICATED", "{error}");

    // The OpenAPI document names the routes, with no token needed to read it.
    let openapi: serde_json::Value = running
        .http
        .get(format!("{}/openapi.json", running.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    let paths = &openapi["paths"];
    assert_eq!(
        paths["/v1/units/{unit}"]["get"]["operationId"], "UnitsService_GetUnit",
        "{paths}"
    );
    assert!(
        paths["/v1/plans:import"]["post"]["requestBody"].is_object(),
        "{paths}"
    );
    let list = paths["/v1/units"]["get"]["parameters"].as_array().unwrap();
    assert!(
        list.iter().any(|parameter| parameter["name"] == "pageSize"),
        "{list:?}"
    );
    let schemas = &openapi["components"]["schemas"];
    assert!(schemas["fazhi.units.v1.Unit"]["properties"]["displayName"].is_object());
    // Fields a route binds are required (google.api.field_behavior).
    assert_eq!(
        schemas["fazhi.plans.v1.PublishPlanRequest"]["required"],
        serde_json::json!(["name"]),
        "{}",
        schemas["fazhi.plans.v1.PublishPlanRequest"]
    );
}

#[tokio::test]
async fn the_console_is_served_without_a_token() {
    let running = common::start().await;
    let get = |path: &str| running.http.get(format!("{}{path}", running.base)).send();

    let page = get("/console/").await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("法治政府建设工作台"), "{html}");
    // The console's own paths are resolved by its router in the browser: the same page.
    let deep = get("/console/plans/p-1").await.unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.text().await.unwrap(), html);
    // Built files by name, cached for good; a missing one is missing.
    let script = html
        .split("src=\"/console/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let asset = get(&format!("/console/{script}")).await.unwrap();
    assert_eq!(asset.status(), 200, "{script}");
    assert!(
        asset.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        get("/console/assets/missing.js").await.unwrap().status(),
        404
    );
    // Without fazhi dev's identities or an identity provider, nothing to sign in with.
    let config: serde_json::Value = get("/console/config.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config, serde_json::json!({ "demoIdentities": [] }));
}
