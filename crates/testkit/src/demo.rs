//! The demo data every test uses, from inside the repository (a clone has nothing beside it):
//! the three real plans `fazhi dev` imports and the registries of their issuers.

/// The real plans, as `crates/fazhi/demo/plans/` holds them.
pub const PLANS_DIRECTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fazhi/demo/plans");

/// The file names of the real plans.
pub const PLAN_FILES: [&str; 3] = [
    "tongliao-2020.txt",
    "ningguo-2024.txt",
    "xuchang-2022-2025.txt",
];

/// A real plan's text, by file name (`ningguo-2024.txt`).
pub fn plan_text(name: &str) -> String {
    std::fs::read_to_string(format!("{PLANS_DIRECTORY}/{name}"))
        .unwrap_or_else(|error| panic!("demo plan {name}: {error}"))
}

/// The demo registries: the standard groups, then 通辽, 宁国 and 许昌 with their units.
pub const REGISTRIES: [&str; 4] = [
    include_str!("../../../services/units/registry/groups.yaml"),
    include_str!("../../../services/units/registry/tongliao.yaml"),
    include_str!("../../../services/units/registry/ningguo.yaml"),
    include_str!("../../../services/units/registry/xuchang.yaml"),
];

/// Imports the demo registries through a running units service, as `admin` (a bearer header).
pub async fn import_registries(channel: &tonic::transport::Channel, admin: &str) {
    use fazhi_proto::units::v1 as pb;
    let mut client = pb::units_service_client::UnitsServiceClient::new(channel.clone());
    for registry in REGISTRIES {
        client
            .import_units(crate::with_token(
                pb::ImportUnitsRequest {
                    format: pb::RegistryFormat::Yaml as i32,
                    content: registry.as_bytes().to_vec(),
                    ..Default::default()
                },
                admin,
            ))
            .await
            .unwrap_or_else(|status| panic!("demo registry import: {status}"));
    }
}
