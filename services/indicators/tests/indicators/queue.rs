//! A coordinator's approval queue (待审核): the values submitted by any unit at or below its own,
//! through `ListDataValues` with `state` and `include_descendants`.

use fazhi_platform::auth::Role;
use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::bearer;

use crate::{App, court_catalogue};

async fn queue(app: &mut App, token: &str, unit: &str) -> Vec<(String, String)> {
    let request = pb::ListDataValuesRequest {
        unit: format!("units/{unit}"),
        state: pb::DataValueState::Submitted as i32,
        include_descendants: true,
        ..Default::default()
    };
    app.values_where(token, request)
        .await
        .unwrap()
        .into_iter()
        .map(|value| (value.unit, value.data_element))
        .collect()
}

#[tokio::test]
async fn a_coordinators_queue_holds_what_its_units_submitted_and_nothing_else() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let (staff, coordinator, admin) = (
        app.staff.clone(),
        app.coordinator.clone(),
        app.admin.clone(),
    );
    let police = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let tongliao = bearer("tl-clerk", Some("tl-zfb"), &[Role::UnitStaff]);

    // 司法局 submits one value and keeps one in draft; 公安局 submits one; 通辽 submits one.
    let submitted = app
        .report(&staff, "appearances", "ng-sfj", "2024", "", 9.0)
        .await
        .unwrap();
    app.submit(&staff, &submitted).await.unwrap();
    app.report(&staff, "hearings", "ng-sfj", "2024", "", 12.0)
        .await
        .unwrap();
    let police_value = app
        .report(&police, "hearings", "ng-gaj", "2024", "", 3.0)
        .await
        .unwrap();
    let police_value = app.submit(&police, &police_value).await.unwrap();
    let far = app
        .report(&tongliao, "hearings", "tl-zfb", "2024", "", 5.0)
        .await
        .unwrap();
    app.submit(&tongliao, &far).await.unwrap();

    let mut waiting = queue(&mut app, &coordinator, "ningguo").await;
    waiting.sort();
    assert_eq!(
        waiting,
        [
            (
                "units/ng-gaj".to_owned(),
                "dataElements/hearings".to_owned()
            ),
            (
                "units/ng-sfj".to_owned(),
                "dataElements/appearances".to_owned()
            ),
        ],
        "the region's submitted values, not the draft, not 通辽's"
    );

    // Approved, it leaves the queue.
    app.approve(&coordinator, &police_value).await.unwrap();
    assert_eq!(
        queue(&mut app, &coordinator, "ningguo").await,
        [(
            "units/ng-sfj".to_owned(),
            "dataElements/appearances".to_owned()
        )]
    );
    // The admin sees 通辽's from 通辽; a unit's staff cannot read its parent's region.
    assert_eq!(queue(&mut app, &admin, "tongliao").await.len(), 1);
    let refused = app
        .values_where(
            &staff,
            pb::ListDataValuesRequest {
                unit: "units/ningguo".to_owned(),
                include_descendants: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
}
