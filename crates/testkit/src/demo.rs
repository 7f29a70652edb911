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

/// A generated province for benchmarks: 省 → cities (each with departments) → counties (each with
/// departments and townships) → villages.
#[derive(Debug, Clone, Copy)]
pub struct Province {
    pub cities: usize,
    pub counties: usize,
    pub departments: usize,
    pub townships: usize,
    pub villages: usize,
}

impl Province {
    /// ~32,000 units: 16 cities × 10 counties × (30 departments + 15 townships × 10 villages).
    pub const STANDARD: Self = Self {
        cities: 16,
        counties: 10,
        departments: 30,
        townships: 15,
        villages: 10,
    };

    /// The province as a registry file (ids `p`, `c7`, `c7-d3`, `c7-k3`, `c7-k3-t5`,
    /// `c7-k3-t5-v2`) with the standard groups, and its unit count.
    pub fn registry_yaml(&self) -> (String, usize) {
        use std::fmt::Write;
        let mut yaml = String::from("units:\n");
        let mut count = 0;
        let mut unit =
            |yaml: &mut String, id: &str, name: &str, kind: &str, level: &str, parent: &str| {
                count += 1;
                let parent = if parent.is_empty() {
                    String::new()
                } else {
                    format!(", parent: {parent}")
                };
                let _ = writeln!(
                    yaml,
                    "  - {{id: {id}, display_name: {name}, kind: {kind}, level: {level}{parent}}}"
                );
            };
        unit(&mut yaml, "p", "某省人民政府", "government", "province", "");
        for city in 0..self.cities {
            let city_id = format!("c{city}");
            let city_name = format!("第{city}市人民政府");
            unit(&mut yaml, &city_id, &city_name, "government", "city", "p");
            for department in 0..self.departments {
                let name = format!("第{city}市第{department}局");
                let id = format!("{city_id}-d{department}");
                unit(
                    &mut yaml,
                    &id,
                    &name,
                    "government_department",
                    "city",
                    &city_id,
                );
            }
            for county in 0..self.counties {
                let county_id = format!("{city_id}-k{county}");
                let county_name = format!("第{city}市第{county}县");
                let government = format!("{county_name}人民政府");
                unit(
                    &mut yaml,
                    &county_id,
                    &government,
                    "government",
                    "county",
                    &city_id,
                );
                for department in 0..self.departments {
                    let id = format!("{county_id}-d{department}");
                    let name = format!("{county_name}第{department}局");
                    unit(
                        &mut yaml,
                        &id,
                        &name,
                        "government_department",
                        "county",
                        &county_id,
                    );
                }
                for township in 0..self.townships {
                    let township_id = format!("{county_id}-t{township}");
                    let name = format!("{county_name}第{township}镇人民政府");
                    unit(
                        &mut yaml,
                        &township_id,
                        &name,
                        "township",
                        "township",
                        &county_id,
                    );
                    for village in 0..self.villages {
                        let id = format!("{township_id}-v{village}");
                        let name = format!("{county_name}第{township}镇第{village}村委会");
                        unit(&mut yaml, &id, &name, "village", "village", &township_id);
                    }
                }
            }
        }
        yaml.push_str(REGISTRIES[0]);
        (yaml, count)
    }
}
