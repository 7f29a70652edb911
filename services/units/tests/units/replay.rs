//! Every mutating RPC of the registry replays (AIP-155): the same request id gives the first
//! answer, on a retry and after the resource moved on (a stale etag, another state), and the
//! same id with another payload is refused.

use fazhi_proto::units::v1 as pb;
use fazhi_testkit::replay::assert_replays;
use fazhi_testkit::with_token;

use crate::helpers::{App, department};

fn mask(path: &str) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec![path.to_owned()],
    })
}

#[tokio::test]
async fn every_mutation_replays() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let client = app.client.clone();
    let update = async |name: &str, short_name: &str| {
        let mut client = client.clone();
        client
            .update_unit(with_token(
                pb::UpdateUnitRequest {
                    unit: Some(pb::Unit {
                        name: name.to_owned(),
                        short_name: short_name.to_owned(),
                        ..Default::default()
                    }),
                    update_mask: mask("short_name"),
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap();
    };

    let create = pb::CreateUnitRequest {
        unit_id: "ng-tjj".to_owned(),
        request_id: "create-ng-tjj".to_owned(),
        ..department("ng-tjj", "宁国市统计局", "ningguo")
    };
    let created = assert_replays(
        "CreateUnit",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.create_unit(with_token(request, &admin)).await }
        },
        (
            create.clone(),
            pb::CreateUnitRequest {
                unit_id: "ng-tjj2".to_owned(),
                ..create.clone()
            },
        ),
        async || update("units/ng-tjj", "统计局").await,
    )
    .await
    .unit
    .unwrap();

    let rename = pb::UpdateUnitRequest {
        unit: Some(pb::Unit {
            short_name: "市统计局".to_owned(),
            ..created.clone()
        }),
        update_mask: mask("short_name"),
        request_id: "update-ng-tjj".to_owned(),
    };
    let current = app.get("units/ng-tjj").await;
    let rename = pb::UpdateUnitRequest {
        unit: Some(pb::Unit {
            etag: current.etag.clone(),
            ..rename.unit.unwrap()
        }),
        ..rename
    };
    assert_replays(
        "UpdateUnit with an etag",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.update_unit(with_token(request, &admin)).await }
        },
        (
            rename.clone(),
            pb::UpdateUnitRequest {
                update_mask: mask("display_name"),
                ..rename.clone()
            },
        ),
        async || update("units/ng-tjj", "统计").await,
    )
    .await;

    let current = app.get("units/ng-tjj").await;
    let delete = pb::DeleteUnitRequest {
        name: "units/ng-tjj".to_owned(),
        etag: current.etag,
        request_id: "delete-ng-tjj".to_owned(),
    };
    assert_replays(
        "DeleteUnit with an etag",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.delete_unit(with_token(request, &admin)).await }
        },
        (
            delete.clone(),
            pb::DeleteUnitRequest {
                etag: String::new(),
                ..delete.clone()
            },
        ),
        async || {},
    )
    .await;

    let group = pb::CreateUnitGroupRequest {
        unit_group: Some(pb::UnitGroup {
            display_name: "市政府有关部门".to_owned(),
            definition: Some(pb::unit_group::Definition::StaticMembers(
                pb::StaticMembers {
                    units: vec!["units/ng-sfj".to_owned()],
                },
            )),
            ..Default::default()
        }),
        unit_group_id: "ng-some".to_owned(),
        request_id: "create-group".to_owned(),
    };
    let created_group = assert_replays(
        "CreateUnitGroup",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.create_unit_group(with_token(request, &admin)).await }
        },
        (
            group.clone(),
            pb::CreateUnitGroupRequest {
                unit_group_id: "ng-other".to_owned(),
                ..group.clone()
            },
        ),
        async || {},
    )
    .await
    .unit_group
    .unwrap();

    let delete_group = pb::DeleteUnitGroupRequest {
        name: created_group.name.clone(),
        etag: created_group.etag.clone(),
        request_id: "delete-group".to_owned(),
    };
    assert_replays(
        "DeleteUnitGroup with an etag",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.delete_unit_group(with_token(request, &admin)).await }
        },
        (
            delete_group.clone(),
            pb::DeleteUnitGroupRequest {
                etag: String::new(),
                ..delete_group.clone()
            },
        ),
        async || {},
    )
    .await;

    let merge = pb::ReorganizeUnitsRequest {
        reorganization: Some(pb::Reorganization {
            kind: pb::ReorganizationKind::Merge as i32,
            effective_date: "2024-03-01".to_owned(),
            source_units: vec!["units/ng-sjzyj".to_owned(), "units/ng-zfb".to_owned()],
            ..Default::default()
        }),
        new_units: vec![pb::Unit {
            name: "units/ng-zwsj".to_owned(),
            display_name: "宁国市政务服务和数据资源管理局".to_owned(),
            kind: pb::UnitKind::GovernmentDepartment as i32,
            level: pb::AdministrativeLevel::County as i32,
            parent: "units/ningguo".to_owned(),
            ..Default::default()
        }],
        request_id: "merge".to_owned(),
    };
    assert_replays(
        "ReorganizeUnits (the sources have ceased by the retry)",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.reorganize_units(with_token(request, &admin)).await }
        },
        (
            merge.clone(),
            pb::ReorganizeUnitsRequest {
                reorganization: Some(pb::Reorganization {
                    note: "另一个请求".to_owned(),
                    ..merge.reorganization.clone().unwrap()
                }),
                ..merge.clone()
            },
        ),
        async || update("units/ng-zwsj", "市数据资源局").await,
    )
    .await;

    let import = pb::ImportUnitsRequest {
        format: pb::RegistryFormat::Yaml as i32,
        content: fazhi_testkit::demo::REGISTRIES[2].as_bytes().to_vec(),
        request_id: "import".to_owned(),
        validate_only: false,
    };
    assert_replays(
        "ImportUnits",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.import_units(with_token(request, &admin)).await }
        },
        (
            import.clone(),
            pb::ImportUnitsRequest {
                content: fazhi_testkit::demo::REGISTRIES[1].as_bytes().to_vec(),
                ..import.clone()
            },
        ),
        async || update("units/ng-sfj", "司法局").await,
    )
    .await;
}
