//! Who may change what in the registry.

use fazhi_platform::auth::{Caller, Role};

use super::{UnitField, UnitId};

/// Coordinators manage units at or below their own; admins manage all.
/// `ancestry` is the unit itself followed by its ancestors.
pub fn may_manage(caller: &Caller, ancestry: &[UnitId]) -> bool {
    let ids: Vec<String> = ancestry.iter().map(|id| id.as_str().to_owned()).collect();
    caller.may_manage(&ids)
}

/// A unit's own staff may keep its contacts current; anything else needs a manager.
pub fn may_edit_unit(
    caller: &Caller,
    unit: &UnitId,
    ancestry: &[UnitId],
    fields: &[UnitField],
) -> bool {
    if may_manage(caller, ancestry) {
        return true;
    }
    let ids: Vec<String> = ancestry.iter().map(|id| id.as_str().to_owned()).collect();
    caller.may_work_for(unit.as_str(), &ids) && fields.iter().all(|field| field.staff_may_edit())
}

/// A shared group belongs to admins: a coordinator changing it would change how every other
/// region's plans resolve. A region's own group is kept by whoever manages that region
/// (`owner_ancestry`: the owner, then its ancestors).
pub fn may_maintain_group(caller: &Caller, owner_ancestry: Option<&[UnitId]>) -> bool {
    match owner_ancestry {
        None => caller.has(Role::Admin),
        Some(ancestry) => may_manage(caller, ancestry),
    }
}
