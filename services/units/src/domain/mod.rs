//! The unit registry's rules: values that validate themselves, hierarchy over time, groups,
//! reorganisations, and the resolution of unit names as plans print them. No tonic, no sqlx.

mod access;
mod credit_code;
mod group;
pub mod mentions;
mod registry;
mod reorganization;
mod unit;

pub use access::{may_edit_unit, may_maintain_group, may_manage};
pub use credit_code::CreditCode;
pub use group::{
    GroupDefinition, GroupRule, GroupScope, UnitGroup, UnitGroupId, groups_in_scope, validate_group,
};
pub use registry::{Descendant, ImportCounts, ImportedUnit, NewGroup, UnitFilter};
pub use reorganization::{Reorganization, ReorganizationId, ReorganizationKind};
pub use unit::{
    AdministrativeLevel, Contact, ContactRole, NewUnit, RegionCode, Unit, UnitField, UnitId,
    UnitKind, UnitPatch, ValidUnitFields, showing_day,
};

use fazhi_platform::error::FieldViolation;

/// The violations found while checking a request; empty means valid.
pub type Violations = Vec<FieldViolation>;
