//! Every RPC over real gRPC, with its error paths.

use fazhi_platform::auth::Role;
use fazhi_proto::audit::v1 as audit;
use fazhi_proto::units::v1 as pb;
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use crate::helpers::{App, department, details};

#[tokio::test]
async fn health_serving_and_reflection_lists_the_service() {
    let app = App::empty().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.server.channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "fazhi.units.v1.UnitsService".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(app.server.channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&"fazhi.units.v1.UnitsService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn create_get_update_delete_with_etags_and_audit() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let created = app
        .client
        .create_unit(with_token(
            department("ng-tjj", "宁国市统计局", "ningguo"),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(created.name, "units/ng-tjj");
    assert_eq!(created.parent, "units/ningguo");
    assert_eq!(app.get("units/ng-tjj").await.display_name, "宁国市统计局");

    let mut change = created.clone();
    change.short_name = "市统计局".to_owned();
    let updated = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(change.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["short_name".to_owned()],
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
    assert_eq!(updated.short_name, "市统计局");
    assert_ne!(updated.etag, created.etag);

    // The old etag is stale now.
    let stale = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(change),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["short_name".to_owned()],
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(details(&stale).0, "ETAG_MISMATCH");

    let deleted = app
        .client
        .delete_unit(with_token(
            pb::DeleteUnitRequest {
                name: "units/ng-tjj".to_owned(),
                etag: updated.etag,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert!(deleted.delete_time.is_some());
    let listed = app
        .client
        .list_units(with_token(
            pb::ListUnitsRequest {
                search: "统计局".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.units.is_empty(), "deleted units are hidden");

    // Every call is audited, the refused update (stale etag) with its reason.
    let audit = app.audit("units/ng-tjj").await;
    let rows: Vec<(&str, &str)> = audit
        .iter()
        .map(|(method, result, _)| (method.rsplit('/').next().unwrap(), result.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("CreateUnit", "OK"),
            ("UpdateUnit", "OK"),
            ("UpdateUnit", "ETAG_MISMATCH"),
            ("DeleteUnit", "OK")
        ]
    );
    assert!(audit.iter().all(|(_, _, subject)| subject == "admin"));
}

#[tokio::test]
async fn invalid_fields_are_named_in_both_languages() {
    let mut app = App::with_demo_registry().await;
    let mut request = department("ng-bad", "  ", "ningguo");
    if let Some(unit) = request.unit.as_mut() {
        unit.unified_social_credit_code = "91350100M000100Y44".to_owned();
        unit.kind = 0;
    }
    let error = app
        .client
        .create_unit(with_token(request, &app.admin.clone()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let (reason, fields, chinese) = details(&error);
    assert_eq!(reason, "INVALID_ARGUMENT");
    assert_eq!(
        fields,
        vec![
            "unit.display_name",
            "unit.kind",
            "unit.unified_social_credit_code"
        ]
    );
    assert!(chinese.contains("必填"), "{chinese}");

    let bad_id = app
        .client
        .create_unit(with_token(
            department("Bad Id", "甲", "ningguo"),
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&bad_id).1, vec!["unit_id"]);

    let bad_date = app
        .client
        .get_unit(with_token(
            pb::GetUnitRequest {
                name: "units/ningguo".to_owned(),
                as_of: "2024-13-01".to_owned(),
            },
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&bad_date).1, vec!["as_of"]);
    let missing_parent = app
        .client
        .create_unit(with_token(
            department("ng-x", "宁国市某局", "nowhere"),
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&missing_parent).1, vec!["unit.parent"]);
}

#[tokio::test]
async fn unknown_resources_are_not_found() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let error = app
        .client
        .get_unit(with_token(
            pb::GetUnitRequest {
                name: "units/nowhere".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(details(&error).0, "UNIT_NOT_FOUND");
    let error = app
        .client
        .get_unit_group(with_token(
            pb::GetUnitGroupRequest {
                name: "unitGroups/nothing".to_owned(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

#[tokio::test]
async fn request_id_replays_and_refuses_reuse() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let mut request = department("ng-tjj", "宁国市统计局", "ningguo");
    request.request_id = "5f0c6a0e-4a8e-4d8e-9b59-2f6f1f3f0a11".to_owned();
    let first = app
        .client
        .create_unit(with_token(request.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    let retry = app
        .client
        .create_unit(with_token(request.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retry, "a retry returns the first response");
    assert_eq!(
        app.audit("units/ng-tjj").await.len(),
        1,
        "and changes nothing"
    );

    let mut other = department("ng-tjj2", "宁国市统计局二", "ningguo");
    other.request_id = request.request_id.clone();
    let error = app
        .client
        .create_unit(with_token(other, &admin))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(details(&error).0, "REQUEST_ID_REUSED");
}

#[tokio::test]
async fn missing_or_bad_token_is_unauthenticated() {
    let mut app = App::with_demo_registry().await;
    let error = app
        .client
        .get_unit(pb::GetUnitRequest {
            name: "units/ningguo".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let error = app
        .client
        .get_unit(with_token(
            pb::GetUnitRequest {
                name: "units/ningguo".to_owned(),
                ..Default::default()
            },
            "Bearer not.a.token",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn units_see_and_change_only_their_own() {
    let mut app = App::with_demo_registry().await;
    let staff = bearer("clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let mut own = app.get("units/ng-sfj").await;
    own.contacts = vec![pb::Contact {
        person_name: "张三".to_owned(),
        role: pb::ContactRole::Liaison as i32,
        phone: "0563-4012345".to_owned(),
        ..Default::default()
    }];
    let contacts_mask = prost_types::FieldMask {
        paths: vec!["contacts".to_owned()],
    };
    let updated = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(own.clone()),
                update_mask: Some(contacts_mask.clone()),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(updated.contacts[0].person_name, "张三");
    let roles: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT roles FROM units.audit_log WHERE resource = 'units/ng-sfj' AND subject = 'clerk'",
    )
    .fetch_all(&app.database.pool)
    .await
    .unwrap();
    assert_eq!(
        roles,
        vec![vec!["unit_staff".to_owned()]],
        "roles are audited by their API names"
    );

    // Not its name, and nothing of another unit, whether it exists or not.
    let rename = app
        .client
        .update_unit(with_token(
            pb::UpdateUnitRequest {
                unit: Some(pb::Unit {
                    display_name: "改名".to_owned(),
                    ..updated
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".to_owned()],
                }),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(rename.code(), Code::PermissionDenied);
    for other in ["units/ng-czj", "units/nowhere"] {
        let error = app
            .client
            .update_unit(with_token(
                pb::UpdateUnitRequest {
                    unit: Some(pb::Unit {
                        name: other.to_owned(),
                        ..own.clone()
                    }),
                    update_mask: Some(contacts_mask.clone()),
                    ..Default::default()
                },
                &staff,
            ))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied, "{other}");
    }
    let audit = app.audit("units/ng-czj").await;
    assert_eq!(
        audit
            .last()
            .map(|(_, result, subject)| (result.as_str(), subject.as_str())),
        Some(("PERMISSION_DENIED", "clerk"))
    );

    // A coordinator of 宁国市 manages below it, not in 通辽市.
    let coordinator = bearer("office", Some("ningguo"), &[Role::Coordinator]);
    app.client
        .create_unit(with_token(
            department("ng-tjj", "宁国市统计局", "ningguo"),
            &coordinator,
        ))
        .await
        .unwrap();
    let error = app
        .client
        .create_unit(with_token(
            department("tl-tjj", "通辽市统计局", "tongliao"),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let viewer = bearer("reader", None, &[Role::Viewer]);
    let error = app
        .client
        .create_unit(with_token(
            department("ng-x", "宁国市某局", "ningguo"),
            &viewer,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn lists_page_in_pinyin_order() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_units(with_token(
                pb::ListUnitsRequest {
                    parent: "units/ningguo".to_owned(),
                    kind: pb::UnitKind::Township as i32,
                    page_size: 5,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.units.len() <= 5);
        names.extend(page.units.into_iter().map(|unit| unit.short_name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(names.len(), 14, "{names:?}");
    // Pinyin: 方塘乡 (fang) before 港口镇 (gang) before 河沥溪街道 (he) … 中溪镇 (zhong).
    assert_eq!(names.first().map(String::as_str), Some("方塘乡"));
    assert_eq!(names.last().map(String::as_str), Some("中溪镇"));

    let error = app
        .client
        .list_units(with_token(
            pb::ListUnitsRequest {
                page_token: "bogus".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["page_token"]);
}

#[tokio::test]
async fn hierarchy_and_group_expansion() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let ancestors = app
        .client
        .list_unit_ancestors(with_token(
            pb::ListUnitAncestorsRequest {
                name: "units/ng-gkz".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .units;
    let chain: Vec<&str> = ancestors.iter().map(|unit| unit.name.as_str()).collect();
    assert_eq!(
        chain,
        vec!["units/ningguo", "units/xuancheng", "units/anhui"]
    );

    assert_eq!(
        app.descendants("units/anhui", "", 1).await,
        vec!["units/xuancheng"]
    );
    assert_eq!(
        app.descendants("units/anhui", "", 0).await.len(),
        1 + 1 + 18 + 14
    );
    // The BASIC view: the tree and nothing else, in pages larger than FULL allows.
    let list = |view: pb::UnitView, page_size: i32| pb::ListUnitDescendantsRequest {
        name: "units/anhui".to_owned(),
        page_size,
        view: view as i32,
        ..Default::default()
    };
    let basic = app
        .client
        .list_unit_descendants(with_token(list(pb::UnitView::Basic, 50_000), &app.admin))
        .await
        .unwrap()
        .into_inner()
        .units;
    assert_eq!(basic.len(), 1 + 1 + 18 + 14);
    let sfj = basic
        .iter()
        .find(|unit| unit.name == "units/ng-sfj")
        .unwrap();
    assert_eq!(
        (
            sfj.display_name.as_str(),
            sfj.parent.as_str(),
            sfj.tags.len()
        ),
        ("宁国市司法局", "units/ningguo", 0)
    );
    let full = app
        .client
        .list_unit_descendants(with_token(list(pb::UnitView::Full, 0), &app.admin))
        .await
        .unwrap()
        .into_inner()
        .units;
    let sfj = full
        .iter()
        .find(|unit| unit.name == "units/ng-sfj")
        .unwrap();
    assert_eq!(sfj.tags, ["law_enforcement"]);

    let townships = app
        .expand("unitGroups/townships", "units/ningguo", "")
        .await
        .unwrap();
    assert_eq!(townships.len(), 14);
    let counties = app
        .expand("unitGroups/county-governments", "units/tongliao", "")
        .await
        .unwrap();
    assert_eq!(counties.len(), 8);
    assert!(
        counties
            .iter()
            .all(|unit| unit.region_code.starts_with("1505"))
    );
    let enforcement = app
        .expand("unitGroups/law-enforcement-units", "units/ningguo", "")
        .await
        .unwrap();
    assert_eq!(enforcement.len(), 11);

    // A rule group needs its context.
    let error = app
        .expand("unitGroups/townships", "", "")
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["context_unit"]);

    // A static group, created and deleted.
    let group = app
        .create_static_group("ng-core", &["ng-sfj", "ng-zfb"])
        .await;
    assert_eq!(app.expand(&group.name, "", "").await.unwrap().len(), 2);
    let groups = app
        .client
        .list_unit_groups(with_token(pb::ListUnitGroupsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .unit_groups;
    assert_eq!(groups.len(), 9);
    app.client
        .delete_unit_group(with_token(
            pb::DeleteUnitGroupRequest {
                name: group.name.clone(),
                etag: group.etag,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();
    let error = app
        .client
        .get_unit_group(with_token(
            pb::GetUnitGroupRequest { name: group.name },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

#[tokio::test]
async fn import_export_round_trip() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    for format in [pb::RegistryFormat::Yaml, pb::RegistryFormat::Csv] {
        let exported = app
            .client
            .export_units(with_token(
                pb::ExportUnitsRequest {
                    format: format as i32,
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .content;
        // Importing what was exported changes nothing.
        let counts = app
            .client
            .import_units(with_token(
                pb::ImportUnitsRequest {
                    format: format as i32,
                    content: exported,
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(counts, pb::ImportUnitsResponse::default(), "{format:?}");
    }
    let error = app
        .client
        .import_units(with_token(
            pb::ImportUnitsRequest {
                format: pb::RegistryFormat::Yaml as i32,
                content: "units:\n  - {id: x, display_name: 甲, kind: planet, level: city}\n"
                    .as_bytes()
                    .to_vec(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).0, "BAD_REGISTRY_FILE");
    // One corrected unit, one new unit under a unit of the file.
    let change = "units:\n  - {id: ng-sfj, display_name: 宁国市司法局, short_name: 司法局, kind: government_department, level: county, parent: ningguo, tags: [law_enforcement]}\n  - {id: ng-sfs, display_name: 宁国市港口司法所, kind: other, level: township, parent: ng-sfj}\n";
    let counts = app
        .client
        .import_units(with_token(
            pb::ImportUnitsRequest {
                format: pb::RegistryFormat::Yaml as i32,
                content: change.as_bytes().to_vec(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((counts.units_created, counts.units_updated), (1, 1));
    assert_eq!(app.get("units/ng-sfj").await.short_name, "司法局");
    assert_eq!(app.get("units/ng-sfs").await.parent, "units/ng-sfj");
    let orphan = "units:\n  - {id: ng-x, display_name: 某单位, kind: other, level: county, parent: nowhere}\n";
    let error = app
        .client
        .import_units(with_token(
            pb::ImportUnitsRequest {
                format: pb::RegistryFormat::Yaml as i32,
                content: orphan.as_bytes().to_vec(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert!(error.message().contains("ng-x"), "{}", error.message());
    let staff = bearer("clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let error = app
        .client
        .import_units(with_token(
            pb::ImportUnitsRequest {
                format: pb::RegistryFormat::Yaml as i32,
                content: b"units: []\n".to_vec(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_nul_character_in_a_search_names_the_field() {
    let mut app = App::with_demo_registry().await;
    let refused = app
        .client
        .list_units(with_token(
            pb::ListUnitsRequest {
                search: "司法\0局".to_owned(),
                ..Default::default()
            },
            &app.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(details(&refused).1, vec!["search"]);
}

/// A coordinator of one city cannot change the groups every city's plans resolve through (a
/// 宁国市 coordinator once deleted 乡(镇、街道) for 通辽 and 许昌 too); the groups a city defines
/// for itself resolve and expand there only, ahead of a shared group of the same name.
#[tokio::test]
async fn shared_groups_are_admins_and_a_city_keeps_its_own() {
    let mut app = App::with_demo_registry().await;
    let coordinator = bearer("ng-coordinator", Some("ningguo"), &[Role::Coordinator]);
    let group = |id: &str, owner: &str| pb::CreateUnitGroupRequest {
        unit_group_id: id.to_owned(),
        unit_group: Some(pb::UnitGroup {
            display_name: "各有关部门".to_owned(),
            owner_unit: owner.to_owned(),
            definition: Some(pb::unit_group::Definition::StaticMembers(
                pb::StaticMembers {
                    units: vec!["units/ng-sfj".to_owned(), "units/ng-zfb".to_owned()],
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    };

    let townships = app
        .client
        .get_unit_group(with_token(
            pb::GetUnitGroupRequest {
                name: "unitGroups/townships".to_owned(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit_group
        .unwrap();
    for name in ["unitGroups/townships", "unitGroups/no-such-group"] {
        let error = app
            .client
            .delete_unit_group(with_token(
                pb::DeleteUnitGroupRequest {
                    name: name.to_owned(),
                    etag: townships.etag.clone(),
                    ..Default::default()
                },
                &coordinator,
            ))
            .await
            .unwrap_err();
        // The same refusal whether or not the group exists, and audited either way.
        assert_eq!(error.code(), Code::PermissionDenied, "{name}");
        assert!(
            app.audit(name).await.contains(&(
                "/fazhi.units.v1.UnitsService/DeleteUnitGroup".to_owned(),
                "PERMISSION_DENIED".to_owned(),
                "ng-coordinator".to_owned()
            )),
            "{name}"
        );
    }
    for (id, owner) in [("shared-by-ningguo", ""), ("for-xuchang", "units/xuchang")] {
        let error = app
            .client
            .create_unit_group(with_token(group(id, owner), &coordinator))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied, "{id}");
    }
    let error = app
        .client
        .create_unit_group(with_token(
            group("nowhere", "units/nowhere"),
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["unit_group.owner_unit"]);

    let own = app
        .client
        .create_unit_group(with_token(
            group("ningguo-departments", "units/ningguo"),
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit_group
        .unwrap();
    assert_eq!(own.owner_unit, "units/ningguo");
    let resolved_in = async |app: &mut App, context: &str| {
        let resolution = app
            .client
            .resolve_unit_mentions(with_token(
                pb::ResolveUnitMentionsRequest {
                    context_unit: context.to_owned(),
                    mentions: vec!["各有关部门".to_owned()],
                    ..Default::default()
                },
                &app.admin.clone(),
            ))
            .await
            .unwrap()
            .into_inner()
            .resolutions
            .remove(0);
        match resolution.target {
            Some(pb::mention_resolution::Target::UnitGroup(group)) => group,
            other => panic!("{context}: {other:?}"),
        }
    };
    assert_eq!(
        resolved_in(&mut app, "units/ningguo").await,
        "unitGroups/ningguo-departments"
    );
    assert_eq!(
        resolved_in(&mut app, "units/ng-gkz").await,
        "unitGroups/ningguo-departments"
    );
    assert_eq!(
        resolved_in(&mut app, "units/xuchang").await,
        "unitGroups/government-departments"
    );
    let error = app
        .expand(&own.name, "units/xuchang", "")
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["context_unit"]);
    assert_eq!(
        app.expand(&own.name, "units/ningguo", "")
            .await
            .unwrap()
            .len(),
        2
    );

    app.client
        .delete_unit_group(with_token(
            pb::DeleteUnitGroupRequest {
                name: own.name.clone(),
                etag: own.etag,
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap();
}

/// A mutation stuck behind a lock past the caller's deadline answers DEADLINE_EXCEEDED, and
/// Postgres cancels its statement then too: nothing of the call waits on in a session until
/// `lock_timeout` (2 s), and no session is left idle in a transaction.
#[tokio::test]
async fn a_timed_out_mutation_leaves_no_session_behind() {
    let mut app = App::with_demo_registry().await;
    let mut holder = app.database.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM units.units WHERE id = 'ng-sfj' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut request = with_token(
        pb::UpdateUnitRequest {
            unit: Some(pb::Unit {
                name: "units/ng-sfj".to_owned(),
                short_name: "司法局".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["short_name".to_owned()],
            }),
            ..Default::default()
        },
        &app.admin,
    );
    // Set by hand, not with set_timeout, so the client's own timer cannot answer first.
    request
        .metadata_mut()
        .insert("grpc-timeout", "300m".parse().unwrap());
    let error = app.client.update_unit(request).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");

    // The holder itself is idle in its transaction; the timed-out update must not be waiting.
    assert_eq!(
        sessions_left_behind(&app, 1).await,
        1,
        "the timed-out update still waits for the lock"
    );
    holder.rollback().await.unwrap();
    assert_eq!(sessions_left_behind(&app, 0).await, 0);
    // The unit is unchanged: the update was all or nothing.
    assert_ne!(app.get("units/ng-sfj").await.short_name, "司法局");
}

/// Sessions waiting for a lock or idle in a transaction, polled for up to a second until no
/// more than `expected` are left.
async fn sessions_left_behind(app: &App, expected: i64) -> i64 {
    let count = async || -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND (wait_event_type = 'Lock' OR state = 'idle in transaction')
               AND backend_type = 'client backend'",
        )
        // The runtime role sees other sessions' state only through an administrator.
        .fetch_one(&app.database.admin_pool)
        .await
        .unwrap()
    };
    let mut left = count().await;
    for _ in 0..20 {
        if left <= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = count().await;
    }
    left
}

/// A read stuck past the caller's deadline (here behind a table lock) answers DEADLINE_EXCEEDED
/// and stops in Postgres too, instead of waiting on for nobody until `lock_timeout` (2 s).
#[tokio::test]
async fn a_timed_out_read_leaves_no_session_behind() {
    let mut app = App::with_demo_registry().await;
    let mut holder = app.database.admin_pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE units.units IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut request = with_token(
        pb::GetUnitRequest {
            name: "units/ng-sfj".to_owned(),
            ..Default::default()
        },
        &app.admin,
    );
    request
        .metadata_mut()
        .insert("grpc-timeout", "300m".parse().unwrap());
    let error = app.client.get_unit(request).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    assert_eq!(
        sessions_left_behind(&app, 1).await,
        1,
        "the timed-out read still waits for the lock"
    );
    holder.rollback().await.unwrap();
    assert_eq!(app.get("units/ng-sfj").await.display_name, "宁国市司法局");
}

/// The audit log through the API (DHIS2 has none): newest first, filtered, paged; admins see
/// every record, a coordinator the records of callers in their region, anyone else is refused
/// and the refusal is itself audited.
#[tokio::test]
async fn the_audit_log_is_listed_by_region_and_filter() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let ningguo = bearer("ng-office", Some("ningguo"), &[Role::Coordinator]);
    let tongliao = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let staff = bearer("ng-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    app.client
        .create_unit(with_token(
            department("ng-tjj", "宁国市统计局", "ningguo"),
            &ningguo,
        ))
        .await
        .unwrap();
    app.client
        .create_unit(with_token(
            department("tl-tjj", "通辽市统计局", "tongliao"),
            &tongliao,
        ))
        .await
        .unwrap();
    // Refused: 宁国's coordinator may not create under 通辽.
    app.client
        .create_unit(with_token(
            department("tl-x", "通辽市某局", "tongliao"),
            &ningguo,
        ))
        .await
        .unwrap_err();

    let list = async |app: &mut App,
                      filter: audit::AuditRecordFilter,
                      size: i32,
                      token: &str,
                      bearer: &str| {
        app.client
            .list_audit_records(with_token(
                pb::ListAuditRecordsRequest {
                    filter: Some(filter),
                    page_size: size,
                    page_token: token.to_owned(),
                },
                bearer,
            ))
            .await
            .map(tonic::Response::into_inner)
    };
    let everything = list(&mut app, Default::default(), 1000, "", &admin)
        .await
        .unwrap();
    assert!(everything.audit_records.len() >= 3);
    assert!(
        everything
            .audit_records
            .windows(2)
            .all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );
    let subjects = |records: &[audit::AuditRecord]| -> Vec<String> {
        records
            .iter()
            .map(|record| record.subject.clone())
            .collect()
    };
    // 宁国's coordinator sees its own office's calls, 通辽's do not show.
    let seen = list(&mut app, Default::default(), 1000, "", &ningguo)
        .await
        .unwrap();
    assert!(!seen.audit_records.is_empty());
    assert!(
        subjects(&seen.audit_records)
            .iter()
            .all(|subject| subject == "ng-office"),
        "{:?}",
        subjects(&seen.audit_records)
    );
    let refused = list(
        &mut app,
        audit::AuditRecordFilter {
            method: "CreateUnit".to_owned(),
            result: "PERMISSION_DENIED".to_owned(),
            ..Default::default()
        },
        10,
        "",
        &ningguo,
    )
    .await
    .unwrap()
    .audit_records;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].resource, "units/tl-x");
    assert_eq!(refused[0].caller_unit, "units/ningguo");
    assert_eq!(refused[0].method, "/fazhi.units.v1.UnitsService/CreateUnit");
    let created = list(
        &mut app,
        audit::AuditRecordFilter {
            resource: "units/tl-tjj".to_owned(),
            ..Default::default()
        },
        10,
        "",
        &admin,
    )
    .await
    .unwrap()
    .audit_records;
    assert_eq!(created.len(), 1);
    assert!(created[0].before_json.is_empty());
    assert!(
        created[0].after_json.contains("通辽市统计局"),
        "{}",
        created[0].after_json
    );

    // Paged two at a time, the pages make up the whole; a token is bound to its filter.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(&mut app, Default::default(), 2, &token, &admin)
            .await
            .unwrap();
        paged.extend(page.audit_records.into_iter().map(|record| record.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let all: Vec<i64> = everything
        .audit_records
        .iter()
        .map(|record| record.id)
        .collect();
    assert_eq!(paged[..all.len()], all[..], "pages cover the log in order");
    let first = list(&mut app, Default::default(), 2, "", &admin)
        .await
        .unwrap();
    let error = list(
        &mut app,
        audit::AuditRecordFilter {
            result: "OK".to_owned(),
            ..Default::default()
        },
        2,
        &first.next_page_token,
        &admin,
    )
    .await
    .unwrap_err();
    assert_eq!(details(&error).1, vec!["page_token"]);

    let error = list(&mut app, Default::default(), 10, "", &staff)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(app.audit("auditRecords").await.contains(&(
        "/fazhi.units.v1.UnitsService/ListAuditRecords".to_owned(),
        "PERMISSION_DENIED".to_owned(),
        "ng-clerk".to_owned()
    )));
}
