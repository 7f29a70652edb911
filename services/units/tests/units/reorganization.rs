//! Reorganisations change the structure from their effective date; reads as of a date see the
//! structure valid then, and each change is an event.

use fazhi_proto::units::v1 as pb;
use fazhi_testkit::with_token;
use tonic::Code;

use crate::helpers::{App, details};

fn reorganize(
    kind: pb::ReorganizationKind,
    date: &str,
    sources: &[&str],
) -> pb::ReorganizeUnitsRequest {
    pb::ReorganizeUnitsRequest {
        reorganization: Some(pb::Reorganization {
            kind: kind as i32,
            effective_date: date.to_owned(),
            source_units: sources.iter().map(|id| format!("units/{id}")).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn merge_then_read_as_of_before_and_after() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let mut merge = reorganize(
        pb::ReorganizationKind::Merge,
        "2024-03-01",
        &["ng-sjzyj", "ng-zfb"],
    );
    merge.new_units = vec![pb::Unit {
        name: "units/ng-zwsj".to_owned(),
        display_name: "宁国市政务服务和数据资源管理局".to_owned(),
        short_name: "市数据资源局".to_owned(),
        kind: pb::UnitKind::GovernmentDepartment as i32,
        level: pb::AdministrativeLevel::County as i32,
        parent: "units/ningguo".to_owned(),
        ..Default::default()
    }];
    let done = app
        .client
        .reorganize_units(with_token(merge, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.new_units[0].valid_from, "2024-03-01");
    assert_eq!(
        done.reorganization.as_ref().unwrap().successor_units,
        vec!["units/ng-zwsj"]
    );

    let old = app.get("units/ng-sjzyj").await;
    assert_eq!(old.valid_until, "2024-03-01");
    assert_eq!(old.successors, vec!["units/ng-zwsj"]);

    let before = app.descendants("units/ningguo", "2024-02-29", 1).await;
    let after = app.descendants("units/ningguo", "2024-03-01", 1).await;
    assert!(
        before.contains(&"units/ng-sjzyj".to_owned())
            && !before.contains(&"units/ng-zwsj".to_owned())
    );
    assert!(
        after.contains(&"units/ng-zwsj".to_owned())
            && !after.contains(&"units/ng-sjzyj".to_owned())
    );

    // The short name moved with the merge: mentions resolve to the successor after it.
    let resolved = app
        .client
        .resolve_unit_mentions(with_token(
            pb::ResolveUnitMentionsRequest {
                context_unit: "units/ningguo".to_owned(),
                mentions: vec!["市数据资源局".to_owned()],
                as_of: "2024-06-01".to_owned(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .resolutions
        .remove(0);
    assert_eq!(
        resolved.target,
        Some(pb::mention_resolution::Target::Unit(
            "units/ng-zwsj".to_owned()
        ))
    );

    // A static group naming a merged unit expands to its successor after the merge.
    app.create_static_group("data-office", &["ng-sjzyj"]).await;
    for (as_of, expected) in [
        ("2024-02-01", "units/ng-sjzyj"),
        ("2024-06-01", "units/ng-zwsj"),
    ] {
        let members = app
            .expand("unitGroups/data-office", "", as_of)
            .await
            .unwrap();
        let names: Vec<&str> = members.iter().map(|unit| unit.name.as_str()).collect();
        assert_eq!(names, vec![expected], "{as_of}");
    }

    // A unit that ceased cannot be reorganised again after.
    let error = app
        .client
        .reorganize_units(with_token(
            reorganize(pb::ReorganizationKind::Abolish, "2024-05-01", &["ng-sjzyj"]),
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(details(&error).0, "UNIT_NOT_ACTIVE");

    let history = app
        .client
        .list_reorganizations(with_token(
            pb::ListReorganizationsRequest {
                unit: "units/ng-sjzyj".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .reorganizations;
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn rename_and_move_keep_history() {
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let mut rename = reorganize(pb::ReorganizationKind::Rename, "2023-01-01", &["ng-wltj"]);
    if let Some(reorganization) = rename.reorganization.as_mut() {
        reorganization.new_display_name = "宁国市文化和旅游局".to_owned();
    }
    app.client
        .reorganize_units(with_token(rename, &admin))
        .await
        .unwrap();
    let at = |as_of: &str| pb::GetUnitRequest {
        name: "units/ng-wltj".to_owned(),
        as_of: as_of.to_owned(),
    };
    let before = app
        .client
        .get_unit(with_token(at("2022-12-31"), &admin))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    let after = app
        .client
        .get_unit(with_token(at("2023-01-01"), &admin))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(before.display_name, "宁国市文化旅游体育局");
    assert_eq!(after.display_name, "宁国市文化和旅游局");

    // Moving a unit under its own descendant is refused.
    let mut cycle = reorganize(pb::ReorganizationKind::Move, "2024-01-01", &["ningguo"]);
    if let Some(reorganization) = cycle.reorganization.as_mut() {
        reorganization.new_parent = "units/ng-gkz".to_owned();
    }
    let error = app
        .client
        .reorganize_units(with_token(cycle, &admin))
        .await
        .unwrap_err();
    assert_eq!(details(&error).0, "HIERARCHY_CYCLE");

    let mut bad = reorganize(pb::ReorganizationKind::Split, "", &["ng-sfj"]);
    bad.reorganization.as_mut().unwrap().effective_date = String::new();
    let error = app
        .client
        .reorganize_units(with_token(bad, &admin))
        .await
        .unwrap_err();
    assert_eq!(details(&error).1, vec!["reorganization.effective_date"]);
}

#[tokio::test]
async fn events_stream_and_resume_after_a_cursor() {
    use futures::StreamExt;
    let mut app = App::with_demo_registry().await;
    let admin = app.admin.clone();
    let mut stream = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    // The import wrote one event per unit and group.
    let mut last = 0;
    for _ in 0..10 {
        let event = stream.next().await.unwrap().unwrap().event.unwrap();
        assert!(event.sequence > last);
        last = event.sequence;
    }
    drop(stream);

    let mut resumed = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest {
                after_sequence: last,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let next = resumed.next().await.unwrap().unwrap().event.unwrap();
    assert_eq!(next.sequence, last + 1);

    // A change made while a watcher waits reaches it.
    let total: i64 = sqlx::query_scalar("SELECT max(sequence) FROM units.events")
        .fetch_one(&app.database.pool)
        .await
        .unwrap();
    let mut live = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest {
                after_sequence: total,
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    app.client
        .reorganize_units(with_token(
            reorganize(pb::ReorganizationKind::Abolish, "2024-06-01", &["ng-zgh"]),
            &admin,
        ))
        .await
        .unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), live.next())
        .await
        .expect("event within the poll interval")
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    let Some(pb::unit_event::Payload::UnitsReorganized(reorganized)) = event.payload else {
        panic!("expected a reorganisation event, got {event:?}");
    };
    assert_eq!(
        reorganized.reorganization.unwrap().source_units,
        vec!["units/ng-zgh"]
    );
}
