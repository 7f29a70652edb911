//! What the registry reads and writes in bulk, as values: list filters, descendants, the units
//! and groups of an import and what it changed.

use chrono::NaiveDate;
use serde::Serialize;

use super::{GroupDefinition, Unit, UnitGroupId, UnitId, UnitKind, ValidUnitFields};

/// Filters of a unit list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnitFilter {
    pub parent: Option<UnitId>,
    pub kind: Option<UnitKind>,
    pub tag: Option<String>,
    pub search: Option<String>,
    pub as_of: NaiveDate,
    pub show_deleted: bool,
}

/// Where a unit sits relative to a unit whose descendants were listed.
pub struct Descendant {
    pub unit: Unit,
    pub depth: i32,
}

/// What a registry import changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ImportCounts {
    pub units_created: i32,
    pub units_updated: i32,
    pub groups_created: i32,
    pub groups_updated: i32,
}

/// A unit to write on import: its fields and first day.
pub struct ImportedUnit {
    pub fields: ValidUnitFields,
    pub valid_from: NaiveDate,
}

/// A group to write: created through the API or by an import.
pub struct NewGroup {
    pub id: UnitGroupId,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub definition: GroupDefinition,
    /// The region that defines the group; `None`: shared by every region.
    pub owner: Option<UnitId>,
}
