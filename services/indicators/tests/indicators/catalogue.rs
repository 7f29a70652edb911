//! Catalogue files over gRPC: the demo catalogue imported in one transaction, a re-import kept
//! as it is, a changed entry refusing the whole file, and an export that imports back.

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::replay::{assert_replays, field_violations};
use fazhi_testkit::with_token;
use tonic::Code;

use crate::App;

const DEMO: &str = include_str!("../../catalogue/demo.yaml");

fn import(content: &str, request_id: &str) -> pb::ImportCatalogueRequest {
    pb::ImportCatalogueRequest {
        content: content.as_bytes().to_vec(),
        validate_only: false,
        request_id: request_id.to_owned(),
    }
}

#[tokio::test]
async fn a_catalogue_file_loads_whole_or_not_at_all_and_exports_back() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let client = app.client.clone();

    let mut dry_run = import(DEMO, "");
    dry_run.validate_only = true;
    let checked = app
        .client
        .import_catalogue(with_token(dry_run, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked.targets_created, 9);
    let nothing = app
        .client
        .list_data_elements(with_token(pb::ListDataElementsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(
        nothing.data_elements.is_empty(),
        "validate_only wrote nothing"
    );

    let first = assert_replays(
        "ImportCatalogue",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.import_catalogue(with_token(request, &admin)).await }
        },
        (
            import(DEMO, "r-catalogue"),
            import(&DEMO.replace("不低于50%", "不低于60%"), "r-catalogue"),
        ),
        async || {},
    )
    .await;
    assert_eq!(
        (
            first.data_elements_created,
            first.indicators_created,
            first.targets_created,
            first.data_sets_created,
            first.unchanged
        ),
        (11, 7, 9, 3, 0)
    );
    let again = app
        .client
        .import_catalogue(with_token(import(DEMO, ""), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.targets_created, again.unchanged), (0, 30));

    // A changed entry and a new broken one refuse the whole file; the new good one is not written.
    let changed = DEMO.replace("value: 50}", "value: 60}").replace(
        "# 报表",
        "  - {id: extra, display_name: x, indicator: nothing, owner_unit: ningguo, kind: trend}\n# 报表",
    );
    let refused = app
        .client
        .import_catalogue(with_token(import(&changed, ""), &admin))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&refused),
        [
            ("targets[0]".to_owned(), "CHANGED".to_owned()),
            ("targets[9].indicator".to_owned(), "NOT_FOUND".to_owned()),
        ]
    );
    let staff = app.staff.clone();
    let denied = app
        .client
        .import_catalogue(with_token(import(DEMO, ""), &staff))
        .await
        .expect_err("not an admin");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The export imports into an empty catalogue as the same catalogue.
    let exported = app
        .client
        .export_catalogue(with_token(pb::ExportCatalogueRequest {}, &staff))
        .await
        .unwrap()
        .into_inner()
        .content;
    let mut fresh = App::start().await;
    let loaded = fresh
        .client
        .import_catalogue(with_token(
            pb::ImportCatalogueRequest {
                content: exported.clone(),
                validate_only: false,
                request_id: String::new(),
            },
            &fresh.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            loaded.data_elements_created,
            loaded.indicators_created,
            loaded.targets_created,
            loaded.data_sets_created
        ),
        (11, 7, 9, 3)
    );
    let admin = fresh.admin.clone();
    let exported_again = fresh
        .client
        .export_catalogue(with_token(pb::ExportCatalogueRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .content;
    assert_eq!(
        String::from_utf8(exported_again).unwrap(),
        String::from_utf8(exported).unwrap()
    );
}
