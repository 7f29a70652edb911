//! Error paths of every RPC: no token, a malformed name, and the rules each one enforces.

use fazhi_proto::units::v1 as pb;
use fazhi_testkit::with_token;
use futures::StreamExt;
use tonic::{Code, Status};

use crate::helpers::{App, details};

/// Calls one RPC with `name` wherever it takes a resource name, and `bearer` (or none).
async fn call(app: &mut App, rpc: &str, name: &str, bearer: Option<&str>) -> Result<(), Status> {
    fn request<T>(message: T, bearer: Option<&str>) -> tonic::Request<T> {
        match bearer {
            Some(bearer) => with_token(message, bearer),
            None => tonic::Request::new(message),
        }
    }
    let client = &mut app.client;
    let unit = || pb::Unit {
        name: name.to_owned(),
        display_name: "甲".to_owned(),
        ..Default::default()
    };
    let mask = Some(prost_types::FieldMask {
        paths: vec!["display_name".to_owned()],
    });
    match rpc {
        "GetUnit" => client
            .get_unit(request(
                pb::GetUnitRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ListUnits" => client
            .list_units(request(
                pb::ListUnitsRequest {
                    parent: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "CreateUnit" => client
            .create_unit(request(
                pb::CreateUnitRequest {
                    unit: Some(pb::Unit {
                        parent: name.to_owned(),
                        ..unit()
                    }),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "UpdateUnit" => client
            .update_unit(request(
                pb::UpdateUnitRequest {
                    unit: Some(unit()),
                    update_mask: mask,
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "DeleteUnit" => client
            .delete_unit(request(
                pb::DeleteUnitRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ListUnitAncestors" => client
            .list_unit_ancestors(request(
                pb::ListUnitAncestorsRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ListUnitDescendants" => client
            .list_unit_descendants(request(
                pb::ListUnitDescendantsRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "CreateUnitGroup" => client
            .create_unit_group(request(
                pb::CreateUnitGroupRequest {
                    unit_group: Some(pb::UnitGroup {
                        display_name: "组".to_owned(),
                        definition: Some(pb::unit_group::Definition::StaticMembers(
                            pb::StaticMembers {
                                units: vec![name.to_owned()],
                            },
                        )),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "GetUnitGroup" => client
            .get_unit_group(request(
                pb::GetUnitGroupRequest {
                    name: name.to_owned(),
                },
                bearer,
            ))
            .await
            .map(drop),
        "ListUnitGroups" => client
            .list_unit_groups(request(
                pb::ListUnitGroupsRequest {
                    page_token: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "DeleteUnitGroup" => client
            .delete_unit_group(request(
                pb::DeleteUnitGroupRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ExpandUnitGroup" => client
            .expand_unit_group(request(
                pb::ExpandUnitGroupRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ReorganizeUnits" => client
            .reorganize_units(request(
                pb::ReorganizeUnitsRequest {
                    reorganization: Some(pb::Reorganization {
                        kind: pb::ReorganizationKind::Abolish as i32,
                        effective_date: "2024-01-01".to_owned(),
                        source_units: vec![name.to_owned()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ListReorganizations" => client
            .list_reorganizations(request(
                pb::ListReorganizationsRequest {
                    unit: name.to_owned(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ResolveUnitMentions" => client
            .resolve_unit_mentions(request(
                pb::ResolveUnitMentionsRequest {
                    context_unit: name.to_owned(),
                    mentions: vec!["市司法局".to_owned()],
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ImportUnits" => client
            .import_units(request(
                pb::ImportUnitsRequest {
                    format: if name.is_empty() { 0 } else { 1 },
                    content: format!("units: [{{id: {name}}}]").into_bytes(),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        "ExportUnits" => client
            .export_units(request(
                pb::ExportUnitsRequest {
                    format: if name.starts_with("units/") { 1 } else { 0 },
                },
                bearer,
            ))
            .await
            .map(drop),
        "WatchEvents" => {
            let mut stream = client
                .watch_events(request(
                    pb::WatchEventsRequest {
                        after_sequence: if name.starts_with("units/") { 0 } else { -1 },
                    },
                    bearer,
                ))
                .await?
                .into_inner();
            stream.next().await.transpose().map(drop)
        }
        "ListAuditRecords" => client
            .list_audit_records(request(
                pb::ListAuditRecordsRequest {
                    page_token: if name.starts_with("units/") {
                        String::new()
                    } else {
                        name.to_owned()
                    },
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(drop),
        other => panic!("no such rpc {other}"),
    }
}

const RPCS: [&str; 19] = [
    "GetUnit",
    "ListUnits",
    "CreateUnit",
    "UpdateUnit",
    "DeleteUnit",
    "ListUnitAncestors",
    "ListUnitDescendants",
    "CreateUnitGroup",
    "GetUnitGroup",
    "ListUnitGroups",
    "DeleteUnitGroup",
    "ExpandUnitGroup",
    "ReorganizeUnits",
    "ListReorganizations",
    "ResolveUnitMentions",
    "ImportUnits",
    "ExportUnits",
    "WatchEvents",
    "ListAuditRecords",
];

#[tokio::test]
async fn every_rpc_needs_a_token() {
    let mut app = App::with_demo_registry().await;
    for rpc in RPCS {
        let error = call(&mut app, rpc, "units/ningguo", None)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::Unauthenticated, "{rpc}");
        assert_eq!(details(&error).0, "UNAUTHENTICATED", "{rpc}");
    }
}

#[tokio::test]
async fn every_rpc_names_the_bad_field() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let expected: [(&str, &str); 19] = [
        ("GetUnit", "name"),
        ("ListUnits", "parent"),
        ("CreateUnit", "unit.parent"),
        ("UpdateUnit", "unit.name"),
        ("DeleteUnit", "name"),
        ("ListUnitAncestors", "name"),
        ("ListUnitDescendants", "name"),
        ("CreateUnitGroup", "unit_group.static_members.units"),
        ("GetUnitGroup", "name"),
        ("ListUnitGroups", "page_token"),
        ("DeleteUnitGroup", "name"),
        ("ExpandUnitGroup", "name"),
        ("ReorganizeUnits", "reorganization.source_units"),
        ("ListReorganizations", "unit"),
        ("ResolveUnitMentions", "context_unit"),
        ("ImportUnits", "content"),
        ("ExportUnits", "format"),
        ("WatchEvents", "after_sequence"),
        ("ListAuditRecords", "page_token"),
    ];
    for (rpc, field) in expected {
        let error = call(&mut app, rpc, "bogus name", Some(&admin))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{rpc}: {error:?}");
        let (_, fields, chinese) = details(&error);
        assert_eq!(fields, vec![field], "{rpc}");
        assert!(!chinese.is_empty(), "{rpc} has a Chinese message");
    }
}

#[tokio::test]
async fn unknown_resources_are_not_found_for_admins() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    for rpc in [
        "GetUnit",
        "UpdateUnit",
        "DeleteUnit",
        "ListUnitAncestors",
        "ListUnitDescendants",
        "ResolveUnitMentions",
    ] {
        let error = call(&mut app, rpc, "units/nowhere", Some(&admin))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::NotFound, "{rpc}: {error:?}");
    }
    for rpc in ["GetUnitGroup", "DeleteUnitGroup", "ExpandUnitGroup"] {
        let error = call(&mut app, rpc, "unitGroups/nothing", Some(&admin))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::NotFound, "{rpc}: {error:?}");
    }
}

#[tokio::test]
async fn rules_each_rpc_enforces() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    // A unit with units below it is not deleted.
    let error = app
        .client
        .delete_unit(with_token(
            pb::DeleteUnitRequest {
                name: "units/ningguo".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (error.code(), details(&error).0.as_str()),
        (Code::FailedPrecondition, "UNIT_HAS_CHILDREN")
    );
    // Stale etags on delete.
    let error = app
        .client
        .delete_unit(with_token(
            pb::DeleteUnitRequest {
                name: "units/ng-sfj".to_owned(),
                etag: "\"999\"".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Aborted);
    let error = app
        .client
        .delete_unit_group(with_token(
            pb::DeleteUnitGroupRequest {
                name: "unitGroups/townships".to_owned(),
                etag: "\"999\"".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Aborted);
    // Negative depth and page size; too many mentions; an unknown mask path; a duplicate id.
    let error = app
        .client
        .list_unit_descendants(with_token(
            pb::ListUnitDescendantsRequest {
                name: "units/ningguo".to_owned(),
                max_depth: -1,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["max_depth"]);
    let error = app
        .client
        .list_units(with_token(
            pb::ListUnitsRequest {
                page_size: -5,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["page_size"]);
    let error = app
        .client
        .resolve_unit_mentions(with_token(
            pb::ResolveUnitMentionsRequest {
                context_unit: "units/ningguo".to_owned(),
                mentions: vec!["司法局".to_owned(); 1001],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["mentions"]);
    let sfj = app.get("units/ng-sfj").await;
    let error = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(sfj.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["etag".to_owned()],
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["update_mask"]);
    let error = app
        .client
        .create_unit(with_token(
            crate::helpers::department("ng-sfj", "重复", "ningguo"),
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    // A rename through UpdateUnit changes the etag too.
    let renamed = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(pb::Unit {
                    display_name: "宁国市司法局(更正)".to_owned(),
                    ..sfj.clone()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".to_owned()],
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_ne!(renamed.etag, sfj.etag);
}

/// Sends `message` as the request of `method`, whatever its type, as a client with other protos
/// (or a broken encoder) would.
async fn send_as<M: prost::Message + Default + 'static>(
    app: &App,
    method: &'static str,
    message: M,
) -> Status {
    let mut client = tonic::client::Grpc::new(app.server.channel.clone());
    client.ready().await.unwrap();
    client
        .unary::<M, pb::GetUnitResponse, _>(
            with_token(message, &app.admin),
            tonic::codegen::http::uri::PathAndQuery::from_static(method),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err()
}

/// A body that is not the method's message is the caller's error (INVALID_ARGUMENT), and a
/// message over the limit is RESOURCE_EXHAUSTED; both with ErrorInfo and a zh-CN message, like
/// every other refusal (tonic alone answers INTERNAL and OUT_OF_RANGE, bare).
#[tokio::test]
async fn undecodable_and_oversized_messages_are_refused_with_error_info() {
    use tonic_types::StatusExt;
    let app = App::empty().await;
    // Field 1 as a varint where GetUnitRequest.name is a string: not decodable.
    let undecodable = send_as(
        &app,
        "/fazhi.units.v1.UnitsService/GetUnit",
        prost_types::Duration {
            seconds: 7,
            nanos: 0,
        },
    )
    .await;
    assert_eq!(undecodable.code(), Code::InvalidArgument, "{undecodable:?}");
    let details = undecodable.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "MALFORMED_REQUEST");
    assert_eq!(details.localized_message().unwrap().locale, "zh-CN");

    let limit = fazhi_testkit::server_settings().max_message_bytes;
    let oversized = send_as(
        &app,
        "/fazhi.units.v1.UnitsService/ResolveUnitMentions",
        pb::ResolveUnitMentionsRequest {
            context_unit: "units/ningguo".to_owned(),
            mentions: vec!["市".repeat(limit / 3 + 1)],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
    let details = oversized.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "MESSAGE_TOO_LARGE");
    assert!(
        details
            .localized_message()
            .unwrap()
            .message
            .contains(&limit.to_string())
    );
}

/// Every list and string the registry takes is bounded, and going over is a field violation
/// naming the field, not work done (1,000 mentions of 2,000 characters once ran 6 s).
#[tokio::test]
async fn lists_and_strings_over_their_bounds_are_field_violations() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let many = |count: usize, text: &str| -> Vec<String> {
        (0..count).map(|index| format!("{text}{index}")).collect()
    };
    let long = "长".repeat(201);

    let resolve = async |app: &mut App, mentions: Vec<String>| {
        app.client
            .resolve_unit_mentions(with_token(
                pb::ResolveUnitMentionsRequest {
                    context_unit: "units/ningguo".to_owned(),
                    mentions,
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap_err()
    };
    let error = resolve(&mut app, vec![long.repeat(10); 1000]).await;
    assert_eq!(details(&error).1, vec!["mentions[0]"]);
    let error = resolve(&mut app, many(1001, "市司法局")).await;
    assert_eq!(details(&error).1, vec!["mentions"]);

    let error = app
        .client
        .list_units(with_token(
            pb::ListUnitsRequest {
                search: long.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["search"]);

    let mut unit = crate::helpers::department("ng-big", "宁国市某局", "ningguo");
    let fields = unit.unit.as_mut().unwrap();
    fields.aliases = many(51, "别名");
    fields.tags = many(51, "tag_");
    fields.contacts = vec![pb::Contact {
        person_name: long.clone(),
        phone: long.clone(),
        role: pb::ContactRole::Liaison as i32,
        ..Default::default()
    }];
    let error = app
        .client
        .create_unit(with_token(unit, &admin))
        .await
        .unwrap_err();
    let mut fields = details(&error).1;
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "unit.aliases",
            "unit.contacts[0].person_name",
            "unit.contacts[0].phone",
            "unit.tags"
        ]
    );

    let error = app
        .client
        .create_unit_group(with_token(
            pb::CreateUnitGroupRequest {
                unit_group: Some(pb::UnitGroup {
                    display_name: long.clone(),
                    aliases: many(51, "组"),
                    definition: Some(pb::unit_group::Definition::StaticMembers(
                        pb::StaticMembers {
                            units: many(10_001, "units/ng-"),
                        },
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    let mut fields = details(&error).1;
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "unit_group.aliases",
            "unit_group.display_name",
            "unit_group.static_members.units"
        ]
    );
}
