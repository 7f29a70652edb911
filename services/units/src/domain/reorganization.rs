//! Reorganisations (机构改革): merge, rename, split, move, abolish, each from a date on.

use chrono::{DateTime, NaiveDate, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::{UnitId, ValidUnitFields, Violations};
use fazhi_platform::string_enum;

fazhi_platform::resource_id!(
    /// The `{reorganization}` of `reorganizations/{reorganization}`.
    ReorganizationId,
    "reorganizations",
    "r"
);

string_enum! {
    /// What a reorganisation does.
    ReorganizationKind {
        /// 合并: sources cease, one successor takes over.
        Merge = "merge",
        /// 更名
        Rename = "rename",
        /// 拆分: one source ceases, several successors take over.
        Split = "split",
        /// 划转: moves under another parent.
        Move = "move",
        /// 撤销: ceases without successor.
        Abolish = "abolish",
    }
}

/// A recorded reorganisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reorganization {
    pub id: ReorganizationId,
    pub kind: ReorganizationKind,
    pub effective_date: NaiveDate,
    pub source_units: Vec<UnitId>,
    pub successor_units: Vec<UnitId>,
    pub new_display_name: String,
    pub new_parent: Option<UnitId>,
    pub note: String,
    pub create_time: DateTime<Utc>,
}

impl Reorganization {
    /// Checks the shape each kind needs. `successor_units` includes the units it creates.
    pub fn validate(&self) -> Result<(), Violations> {
        let mut violations = Violations::new();
        let mut violation = |field: &str, en: &str, zh: &str| {
            violations.push(FieldViolation::new(
                format!("reorganization.{field}"),
                "INVALID_REORGANIZATION",
                en,
                zh,
            ));
        };
        let sources = self.source_units.len();
        let successors = self.successor_units.len();
        match self.kind {
            ReorganizationKind::Merge => {
                if sources == 0 {
                    violation(
                        "source_units",
                        "a merge needs at least one source unit",
                        "合并须至少指定一个原单位",
                    );
                }
                if successors != 1 {
                    violation(
                        "successor_units",
                        "a merge needs exactly one successor",
                        "合并须有且仅有一个承继单位",
                    );
                }
            }
            ReorganizationKind::Split => {
                if sources != 1 {
                    violation(
                        "source_units",
                        "a split needs exactly one source unit",
                        "拆分须有且仅有一个原单位",
                    );
                }
                if successors < 2 {
                    violation(
                        "successor_units",
                        "a split needs at least two successors",
                        "拆分须至少有两个承继单位",
                    );
                }
            }
            ReorganizationKind::Rename => {
                if sources != 1 {
                    violation(
                        "source_units",
                        "a rename needs exactly one unit",
                        "更名须有且仅有一个单位",
                    );
                }
                if self.new_display_name.trim().is_empty() {
                    violation(
                        "new_display_name",
                        "a rename needs the new name",
                        "更名须提供新名称",
                    );
                }
            }
            ReorganizationKind::Move => {
                if sources == 0 {
                    violation(
                        "source_units",
                        "a move needs at least one unit",
                        "划转须至少指定一个单位",
                    );
                }
                if self.new_parent.is_none() {
                    violation(
                        "new_parent",
                        "a move needs the new parent",
                        "划转须指定新的上级单位",
                    );
                }
            }
            ReorganizationKind::Abolish => {
                if sources == 0 {
                    violation(
                        "source_units",
                        "an abolition needs at least one unit",
                        "撤销须至少指定一个单位",
                    );
                }
                if successors != 0 {
                    violation(
                        "successor_units",
                        "an abolished unit has no successor; use merge",
                        "撤销的单位没有承继单位,请使用合并",
                    );
                }
            }
        }
        if self.source_units.iter().any(|source| {
            self.successor_units.contains(source) || self.new_parent.as_ref() == Some(source)
        }) {
            violation(
                "successor_units",
                "a unit cannot succeed or contain itself",
                "单位不能承继或隶属于自身",
            );
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Whether the sources cease to exist on the effective date (merge, split, abolish), their
    /// work passing to the successors; otherwise each source goes on under a new version of
    /// itself from that day (rename, move).
    pub fn ends_sources(&self) -> bool {
        matches!(
            self.kind,
            ReorganizationKind::Merge | ReorganizationKind::Split | ReorganizationKind::Abolish
        )
    }

    /// The units a reorganisation creates (the new unit of a merge, the parts of a split) are
    /// among its successors.
    pub fn with_new_units(mut self, new_units: &[ValidUnitFields]) -> Self {
        for unit in new_units {
            if !self.successor_units.contains(&unit.id) {
                self.successor_units.push(unit.id.clone());
            }
        }
        self
    }

    /// The parent the sources move under, for a move: it must not be below them.
    pub fn moves_under(&self) -> Option<&UnitId> {
        match self.kind {
            ReorganizationKind::Move => self.new_parent.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str) -> UnitId {
        UnitId::parse("id", id).expect("id")
    }

    fn reorganization(kind: ReorganizationKind) -> Reorganization {
        Reorganization {
            id: ReorganizationId::generate(),
            kind,
            effective_date: NaiveDate::from_ymd_opt(2024, 3, 1).expect("date"),
            source_units: vec![unit("a"), unit("b")],
            successor_units: vec![unit("c")],
            new_display_name: String::new(),
            new_parent: None,
            note: String::new(),
            create_time: Utc::now(),
        }
    }

    #[test]
    fn new_units_are_successors() {
        let new_unit = crate::domain::NewUnit {
            id: unit("c"),
            display_name: "宁国市政务服务和数据资源管理局".to_owned(),
            short_name: String::new(),
            aliases: vec![],
            kind: Some(crate::domain::UnitKind::GovernmentDepartment),
            level: Some(crate::domain::AdministrativeLevel::County),
            parent: Some(unit("p")),
            region_code: String::new(),
            credit_code: String::new(),
            tags: vec![],
            contacts: vec![],
        }
        .validate("new_units[0]")
        .expect("valid");
        let mut merge = reorganization(ReorganizationKind::Merge);
        merge.successor_units.clear();
        let merged = merge.with_new_units(std::slice::from_ref(&new_unit));
        assert_eq!(merged.successor_units, vec![unit("c")]);
        let again = merged.with_new_units(&[new_unit]);
        assert_eq!(again.successor_units, vec![unit("c")], "listed once");
    }

    #[test]
    fn effects_per_kind() {
        for kind in [
            ReorganizationKind::Merge,
            ReorganizationKind::Split,
            ReorganizationKind::Abolish,
        ] {
            assert!(reorganization(kind).ends_sources(), "{kind:?}");
        }
        let rename = reorganization(ReorganizationKind::Rename);
        assert!(!rename.ends_sources());
        assert_eq!(rename.moves_under(), None);
        let mut move_units = reorganization(ReorganizationKind::Move);
        move_units.new_parent = Some(unit("p"));
        assert!(!move_units.ends_sources());
        assert_eq!(move_units.moves_under(), Some(&unit("p")));
    }

    #[test]
    fn shapes_per_kind() {
        assert!(reorganization(ReorganizationKind::Merge).validate().is_ok());
        assert!(
            reorganization(ReorganizationKind::Split)
                .validate()
                .is_err()
        );
        assert!(
            reorganization(ReorganizationKind::Abolish)
                .validate()
                .is_err()
        );
        let mut rename = reorganization(ReorganizationKind::Rename);
        rename.source_units.truncate(1);
        rename.successor_units.clear();
        assert!(rename.validate().is_err());
        rename.new_display_name = "宁国市数据资源管理局".to_owned();
        assert!(rename.validate().is_ok());
        let mut cyclic = reorganization(ReorganizationKind::Merge);
        cyclic.successor_units = vec![unit("a")];
        assert!(cyclic.validate().is_err());
    }
}
