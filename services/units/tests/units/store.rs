//! The store on its own: constraints, concurrency, migrations.

use fazhi_platform::call::{CallContext, Credentials};
use fazhi_testkit::TestDatabase;
use fazhi_units::Store;
use fazhi_units::domain::{AdministrativeLevel, NewUnit, UnitId, UnitKind};

fn context(request_id: Option<&str>) -> CallContext {
    CallContext {
        request_id: request_id.map(str::to_owned),
        fingerprint: vec![1, 2, 3],
        ..CallContext::system("/test/Create", Credentials::default())
    }
}

fn unit(id: &str, name: &str, credit_code: &str) -> fazhi_units::domain::ValidUnitFields {
    NewUnit {
        id: UnitId::parse("id", id).unwrap(),
        display_name: name.to_owned(),
        short_name: String::new(),
        aliases: vec![],
        kind: Some(UnitKind::Government),
        level: Some(AdministrativeLevel::City),
        parent: None,
        region_code: String::new(),
        credit_code: credit_code.to_owned(),
        tags: vec![],
        contacts: vec![],
    }
    .validate("unit")
    .unwrap()
}

#[tokio::test]
async fn migrations_are_idempotent_and_live_in_the_schema() {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    // A second replica starting later finds nothing to do.
    let owner = database
        .role_pool(&fazhi_platform::db::owner_role("units"))
        .await;
    fazhi_platform::db::migrate(&owner, fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'units' ORDER BY 1",
    )
    .fetch_all(&database.pool)
    .await
    .unwrap();
    assert!(
        tables.contains(&"_sqlx_migrations".to_owned()),
        "{tables:?}"
    );
    let public: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&database.pool)
    .await
    .unwrap();
    assert_eq!(public, 0, "nothing outside the service's schema");
}

#[tokio::test]
async fn two_replicas_migrating_at_once() {
    let database = TestDatabase::new().await;
    let first = fazhi_platform::db::migrate(
        &database.pool,
        fazhi_units::store::SCHEMA,
        &fazhi_units::MIGRATOR,
    );
    let second = fazhi_platform::db::migrate(
        &database.pool,
        fazhi_units::store::SCHEMA,
        &fazhi_units::MIGRATOR,
    );
    let (first, second) = tokio::join!(first, second);
    first.unwrap();
    second.unwrap();
}

#[tokio::test]
async fn credit_codes_are_unique_and_concurrent_retries_apply_once() {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let store = Store::new(database.pool.clone());
    let today = chrono::Utc::now().date_naive();
    store
        .create_unit(
            &context(None),
            &unit("a", "甲市人民政府", "91350100M000100Y43"),
            today,
        )
        .await
        .unwrap();
    let duplicate = store
        .create_unit(
            &context(None),
            &unit("b", "乙市人民政府", "91350100M000100Y43"),
            today,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        duplicate,
        fazhi_units::error::UnitsError::DuplicateCreditCode
    ));

    // Ten concurrent calls with one request id: one unit, ten identical answers.
    let fields = unit("c", "丙市人民政府", "");
    let calls = (0..10).map(|_| {
        let store = store.clone();
        let fields = fields.clone();
        async move {
            store
                .create_unit(&context(Some("same-id")), &fields, today)
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let units: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(units.windows(2).all(|pair| pair[0] == pair[1]));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM units.units WHERE id = 'c'")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn request_ids_are_remembered_for_the_retention_only() {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    sqlx::query(
        "INSERT INTO units.idempotency (subject, request_id, method, fingerprint, response, created_at)
         VALUES ('a', 'old', 'm', '\\x00', 'null', now() - interval '8 days'),
                ('a', 'recent', 'm', '\\x00', 'null', now() - interval '6 days')",
    )
    .execute(&database.pool)
    .await
    .unwrap();
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let forgotten = fazhi_platform::mutation::forget_request_ids_older_than(
        &database.pool,
        fazhi_units::store::SCHEMA,
        week,
    )
    .await
    .unwrap();
    assert_eq!(forgotten, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT request_id FROM units.idempotency")
        .fetch_all(&database.pool)
        .await
        .unwrap();
    assert_eq!(left, vec!["recent"]);
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_its_chain_names_the_first_tampered_row() {
    use fazhi_platform::audit::{AuditKey, verify};
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let key = AuditKey::new(&"a key of at least thirty-two characters".into());
    let store = Store::new(database.pool.clone()).with_audit_key(key.clone());
    let today = chrono::Utc::now().date_naive();
    // Concurrent writers: the chain is sealed in commit order all the same.
    let writes = (0..8).map(|index| {
        let store = store.clone();
        async move {
            store
                .create_unit(
                    &context(None),
                    &unit(&format!("u{index}"), &format!("{index}号单位"), ""),
                    today,
                )
                .await
                .unwrap();
        }
    });
    futures::future::join_all(writes).await;
    let refused = store
        .create_unit(&context(None), &unit("u0", "重复", ""), today)
        .await;
    assert!(refused.is_err());
    let intact = verify(&database.pool, "units", &key).await.unwrap();
    assert_eq!((intact.verified, intact.first_broken), (9, None));
    // Another key does not verify: the seal is the key's.
    let other = AuditKey::new(&"another key of at least thirty-two chars".into());
    assert_eq!(
        verify(&database.pool, "units", &other)
            .await
            .unwrap()
            .first_broken,
        Some(1)
    );

    // Whoever asks — even the owner of the table — cannot rewrite or remove a row.
    // The log and each month's partition alike.
    let month = format!("units.audit_log_p{}", chrono::Utc::now().format("%Y_%m"));
    let tampering = [
        "UPDATE units.audit_log SET subject = 'someone else'".to_owned(),
        "DELETE FROM units.audit_log".to_owned(),
        "TRUNCATE units.audit_log".to_owned(),
        format!("UPDATE {month} SET subject = 'someone else'"),
        format!("DELETE FROM {month}"),
        format!("TRUNCATE {month}"),
        "TRUNCATE units.audit_log_default".to_owned(),
    ];
    // The service's own role may only insert and read: the grants refuse the rest, and it
    // cannot switch the trigger off either.
    for statement in tampering.iter().cloned().chain([
        "ALTER TABLE units.audit_log DISABLE TRIGGER audit_log_append_only".to_owned(),
        format!("DROP TABLE {month}"),
        "SELECT units.audit_log_prune('2000-01-01')".to_owned(),
    ]) {
        let error = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&database.pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{statement}: {error}"
        );
    }
    // An administrator meets the trigger.
    for statement in tampering {
        let error = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&database.admin_pool)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }

    // An administrator who switches the trigger off is found out by the chain.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM units.audit_log ORDER BY id")
        .fetch_all(&database.pool)
        .await
        .unwrap();
    sqlx::raw_sql("ALTER TABLE units.audit_log DISABLE TRIGGER audit_log_append_only")
        .execute(&database.admin_pool)
        .await
        .unwrap();
    sqlx::query("UPDATE units.audit_log SET result = 'OK' WHERE id = $1")
        .bind(ids[8])
        .execute(&database.admin_pool)
        .await
        .unwrap();
    assert_eq!(
        verify(&database.pool, "units", &key)
            .await
            .unwrap()
            .first_broken,
        Some(ids[8]),
        "an altered row"
    );
    sqlx::query("DELETE FROM units.audit_log WHERE id = ANY($1)")
        .bind(&ids[3..])
        .execute(&database.admin_pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM units.audit_log WHERE id = $1")
        .bind(ids[1])
        .execute(&database.admin_pool)
        .await
        .unwrap();
    assert_eq!(
        verify(&database.pool, "units", &key)
            .await
            .unwrap()
            .first_broken,
        Some(ids[2]),
        "the row after a removed one"
    );
}

/// Writes `count` units through the store, each an audited change.
async fn create_units(store: &Store, prefix: &str, count: usize) {
    let today = chrono::Utc::now().date_naive();
    for index in 0..count {
        store
            .create_unit(
                &context(None),
                &unit(
                    &format!("{prefix}{index}"),
                    &format!("{prefix}{index}号单位"),
                    "",
                ),
                today,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn an_unpartitioned_audit_log_moves_into_monthly_partitions_with_its_chain() {
    use fazhi_platform::audit::{AuditKey, verify};
    use fazhi_platform::db;
    let schema = fazhi_units::store::SCHEMA;
    let database = TestDatabase::new().await;
    db::provision(&database.admin_pool, schema).await.unwrap();
    let owner = database.role_pool(&db::owner_role(schema)).await;
    // The layout of before partitioning, with rows in it.
    fazhi_units::MIGRATOR.run(&owner).await.unwrap();
    db::platform_tables_through(&owner, schema, 2)
        .await
        .unwrap();
    // Today's store also writes each event's trace context, a column of a later step (an
    // upgrade migrates before the new code runs); that step adds it only where it is missing.
    sqlx::query("ALTER TABLE units.events ADD COLUMN trace_context jsonb")
        .execute(&owner)
        .await
        .unwrap();
    let runtime = database.role_pool(&db::runtime_role(schema)).await;
    let key = AuditKey::development();
    let store = Store::new(runtime.clone()).with_audit_key(key.clone());
    create_units(&store, "old", 5).await;
    let before: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, chain FROM units.audit_log ORDER BY id")
            .fetch_all(&runtime)
            .await
            .unwrap();
    assert_eq!(before.len(), 5);

    db::migrate(&owner, schema, &fazhi_units::MIGRATOR)
        .await
        .unwrap();
    let partitioned: bool = sqlx::query_scalar(
        "SELECT relkind = 'p' FROM pg_class WHERE oid = 'units.audit_log'::regclass",
    )
    .fetch_one(&runtime)
    .await
    .unwrap();
    assert!(partitioned);
    let after: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, chain FROM units.audit_log ORDER BY id")
            .fetch_all(&runtime)
            .await
            .unwrap();
    assert_eq!(after, before, "the rows moved as they were");
    // The chain goes on across the move, and ids after the last one.
    create_units(&store, "new", 3).await;
    let found = verify(&runtime, schema, &key).await.unwrap();
    assert_eq!((found.verified, found.first_broken), (8, None));
    let (first_new, month): (i64, String) = sqlx::query_as(
        "SELECT min(id), min(tableoid::regclass::text) FROM units.audit_log WHERE id > $1",
    )
    .bind(before[4].0)
    .fetch_one(&runtime)
    .await
    .unwrap();
    assert_eq!(first_new, before[4].0 + 1);
    assert_eq!(
        month,
        format!("units.audit_log_p{}", chrono::Utc::now().format("%Y_%m"))
    );
}

#[tokio::test]
async fn pruning_drops_whole_months_past_the_retention_and_the_chain_goes_on() {
    use fazhi_platform::audit::{self, AuditKey, AuditRow, verify};
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let key = AuditKey::development();
    // Two years ago, then last month: rows written then (sealed as the service would).
    let long_ago = audit::now() - chrono::Duration::days(730);
    let mut previous = Vec::new();
    sqlx::query("SELECT units.audit_log_extend($1)")
        .bind(long_ago)
        .execute(&database.admin_pool)
        .await
        .unwrap();
    for month in 0..3 {
        let row = AuditRow {
            at: long_ago + chrono::Duration::days(31 * month),
            subject: "clerk".into(),
            caller_unit: None,
            roles: vec!["admin".into()],
            method: "/fazhi.units.v1.UnitsService/CreateUnit".into(),
            resource: format!("units/old{month}"),
            before: None,
            after: None,
            result: "OK".into(),
            request_id: None,
        };
        previous = audit::seal(&key, &previous, &row).unwrap();
        sqlx::query(
            "INSERT INTO units.audit_log (at, subject, roles, method, resource, result, chain)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.at)
        .bind(&row.subject)
        .bind(&row.roles)
        .bind(&row.method)
        .bind(&row.resource)
        .bind(&row.result)
        .bind(&previous)
        .execute(&database.admin_pool)
        .await
        .unwrap();
    }
    let store = Store::new(database.pool.clone()).with_audit_key(key.clone());
    create_units(&store, "now", 2).await;
    assert_eq!(
        verify(&database.pool, "units", &key)
            .await
            .unwrap()
            .verified,
        5
    );

    // The retention is at least 180 days, and only the owner prunes.
    let owner = database
        .role_pool(&fazhi_platform::db::owner_role("units"))
        .await;
    let recent = chrono::Utc::now() - chrono::Duration::days(179);
    let refused = audit::prune(&owner, "units", recent).await.unwrap_err();
    assert!(matches!(
        refused,
        fazhi_platform::error::PlatformError::InvalidArgument(_)
    ));
    assert!(
        audit::prune(
            &database.pool,
            "units",
            long_ago + chrono::Duration::days(70)
        )
        .await
        .is_err()
    );

    // Cut between the second and third old month: the first two go, whole.
    let cutoff = long_ago + chrono::Duration::days(62);
    let removed = audit::prune(&owner, "units", cutoff).await.unwrap();
    assert_eq!(removed, 2);
    let left: Vec<String> = sqlx::query_scalar("SELECT resource FROM units.audit_log ORDER BY id")
        .fetch_all(&database.pool)
        .await
        .unwrap();
    assert_eq!(left, ["units/old2", "units/now0", "units/now1"]);
    let found = verify(&database.pool, "units", &key).await.unwrap();
    assert_eq!(
        (found.verified, found.first_broken, found.pruned_through),
        (3, None, Some(2))
    );
    // Rows removed without the retention's record still break the chain.
    sqlx::raw_sql(
        "ALTER TABLE units.audit_log DISABLE TRIGGER audit_log_append_only;
         DELETE FROM units.audit_log WHERE resource = 'units/old2';",
    )
    .execute(&database.admin_pool)
    .await
    .unwrap();
    assert!(
        verify(&database.pool, "units", &key)
            .await
            .unwrap()
            .first_broken
            .is_some()
    );
}
