use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::units::v1 as pb;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use tonic::transport::Channel;

pub struct App {
    pub database: TestDatabase,
    pub server: TestServer,
    pub client: UnitsServiceClient<Channel>,
    pub admin: String,
}

impl App {
    /// A migrated database and a running server, with nothing loaded.
    pub async fn empty() -> Self {
        Self::empty_with(fazhi_testkit::server_settings()).await
    }

    /// [`App::empty`], served with these settings.
    pub async fn empty_with(settings: fazhi_platform::settings::ServerSettings) -> Self {
        let database =
            TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
        let server = GrpcServer::new()
            .add_database_service(
                fazhi_units::grpc_service(
                    fazhi_units::Store::new(database.pool.clone()),
                    fazhi_testkit::authenticator(),
                    &settings,
                ),
                database.pool.clone(),
            )
            .await;
        let server = TestServer::start(server, settings).await;
        let client = UnitsServiceClient::new(server.channel.clone());
        Self {
            database,
            server,
            client,
            admin: bearer("admin", None, &[Role::Admin]),
        }
    }

    /// With the demo registries of the three fixture issuers.
    pub async fn with_demo_registry() -> Self {
        let app = Self::empty().await;
        fazhi_testkit::demo::import_registries(&app.server.channel, &app.admin).await;
        app
    }

    pub async fn get(&mut self, name: &str) -> pb::Unit {
        self.client
            .get_unit(with_token(
                pb::GetUnitRequest {
                    name: name.to_owned(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .unit
            .unwrap()
    }

    /// Audit rows for a resource: (method, result, subject).
    pub async fn audit(&self, resource: &str) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT method, result, subject FROM units.audit_log WHERE resource = $1 ORDER BY id",
        )
        .bind(resource)
        .fetch_all(&self.database.pool)
        .await
        .unwrap()
    }
}

pub fn department(id: &str, name: &str, parent: &str) -> pb::CreateUnitRequest {
    pb::CreateUnitRequest {
        unit_id: id.to_owned(),
        unit: Some(pb::Unit {
            display_name: name.to_owned(),
            kind: pb::UnitKind::GovernmentDepartment as i32,
            level: pb::AdministrativeLevel::County as i32,
            parent: format!("units/{parent}"),
            region_code: "341881".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The error details a caller sees.
pub fn details(status: &tonic::Status) -> (String, Vec<String>, String) {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    let fields = details
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default();
    let chinese = details
        .localized_message()
        .map(|message| message.message.clone())
        .unwrap_or_default();
    (reason, fields, chinese)
}

impl App {
    /// Names of the units below `name` on `as_of` (empty: today), to `max_depth` (0: all).
    pub async fn descendants(&mut self, name: &str, as_of: &str, max_depth: i32) -> Vec<String> {
        self.client
            .list_unit_descendants(with_token(
                pb::ListUnitDescendantsRequest {
                    name: name.to_owned(),
                    as_of: as_of.to_owned(),
                    max_depth,
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .units
            .into_iter()
            .map(|unit| unit.name)
            .collect()
    }

    /// A group's members relative to a context unit (empty: none) on `as_of` (empty: today).
    pub async fn expand(
        &mut self,
        group: &str,
        context: &str,
        as_of: &str,
    ) -> Result<Vec<pb::Unit>, tonic::Status> {
        Ok(self
            .client
            .expand_unit_group(with_token(
                pb::ExpandUnitGroupRequest {
                    name: group.to_owned(),
                    context_unit: context.to_owned(),
                    as_of: as_of.to_owned(),
                },
                &self.admin,
            ))
            .await?
            .into_inner()
            .units)
    }

    /// Creates a static group of the given units (ids).
    pub async fn create_static_group(&mut self, id: &str, members: &[&str]) -> pb::UnitGroup {
        self.client
            .create_unit_group(with_token(
                pb::CreateUnitGroupRequest {
                    unit_group_id: id.to_owned(),
                    unit_group: Some(pb::UnitGroup {
                        display_name: format!("静态组 {id}"),
                        definition: Some(pb::unit_group::Definition::StaticMembers(
                            pb::StaticMembers {
                                units: members
                                    .iter()
                                    .map(|member| format!("units/{member}"))
                                    .collect(),
                            },
                        )),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .unit_group
            .unwrap()
    }
}
