//! The use cases of the registry: authorise, apply the domain rules, call the store.
//! `api.rs` converts protos and calls these; nothing here knows about protobuf.

use std::collections::HashMap;

use chrono::NaiveDate;
use fazhi_platform::audit;
use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::PlatformError;
use fazhi_proto::audit::v1::{AuditRecord, AuditRecordFilter};

use crate::domain::mentions::{MentionIndex, Resolution, Scope, ScopedUnit, is_government};
use crate::domain::{Descendant, ImportCounts, NewGroup, UnitFilter, showing_day};
use crate::domain::{
    GroupDefinition, Reorganization, Unit, UnitField, UnitGroup, UnitGroupId, UnitId, UnitPatch,
    ValidUnitFields, groups_in_scope, may_edit_unit, may_maintain_group, may_manage,
};
use crate::error::{Result, UnitsError};
use crate::registry_file::{self, Format};
use crate::store::Store;
use fazhi_platform::aip::Page;

/// At most this many mentions in one resolution call.
pub const MAX_MENTIONS: usize = 1000;
/// A mention longer than this is no unit's name (plans' unit cells are split into mentions).
pub const MAX_MENTION_CHARS: usize = 200;

/// The unit registry's use cases.
#[derive(Clone)]
pub struct UnitRegistry {
    store: Store,
}

impl UnitRegistry {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Refuses, auditing the refusal, unless `allowed`.
    async fn require(&self, allowed: bool, context: &CallContext, resource: &str) -> Result<()> {
        if allowed {
            return Ok(());
        }
        self.store
            .audit_refusal(context, resource, "PERMISSION_DENIED")
            .await;
        Err(PlatformError::PermissionDenied.into())
    }

    /// The registry's audit log for the caller: admins all of it, coordinators the records of
    /// callers in their region (their unit and below, today); anyone else is refused.
    pub async fn list_audit_records(
        &self,
        context: &CallContext,
        page: (Option<AuditRecordFilter>, i32, &str),
    ) -> Result<(Vec<AuditRecord>, String)> {
        let (pool, journal) = (self.store.pool(), self.store.journal());
        audit::list_for_caller(pool, journal, context, page, async |own: &str| {
            let below = self
                .store
                .all_descendants(&UnitId::from_trusted(own.to_owned()), context.clock.today())
                .await?;
            Ok::<_, UnitsError>(
                below
                    .into_iter()
                    .map(|found| found.unit.id.as_str().to_owned())
                    .collect(),
            )
        })
        .await
    }

    /// A unit as of a day; without a day, as it stands today (or on its last day if it ceased).
    pub async fn get_unit(
        &self,
        id: &UnitId,
        as_of: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Unit> {
        self.store
            .get_unit(id, as_of, today)
            .await?
            .ok_or_else(|| UnitsError::UnitNotFound(id.name()))
    }

    pub async fn list_units(
        &self,
        filter: &UnitFilter,
        after: Option<(String, String)>,
        page_size: i64,
    ) -> Result<Page<Unit, (String, String)>> {
        self.store.list_units(filter, after, page_size).await
    }

    /// Ancestors nearest first, without the unit itself.
    pub async fn ancestors(
        &self,
        id: &UnitId,
        as_of: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Vec<Unit>> {
        let unit = self.get_unit(id, as_of, today).await?;
        let day = as_of.unwrap_or_else(|| showing_day(unit.valid_from, unit.valid_until, today));
        Ok(self
            .store
            .ancestry(id, day)
            .await?
            .into_iter()
            .skip(1)
            .collect())
    }

    pub async fn descendants(
        &self,
        id: &UnitId,
        (as_of, today): (Option<NaiveDate>, NaiveDate),
        max_depth: i32,
        after: Option<(i32, String, String)>,
        page_size: i64,
    ) -> Result<Page<Descendant, (i32, String, String)>> {
        let unit = self.get_unit(id, as_of, today).await?;
        let day = as_of.unwrap_or_else(|| showing_day(unit.valid_from, unit.valid_until, today));
        self.store
            .descendants(id, day, max_depth, after, page_size)
            .await
    }

    /// Creates a unit: admins anywhere, coordinators below their own unit.
    pub async fn create_unit(
        &self,
        context: &CallContext,
        fields: ValidUnitFields,
        valid_from: Option<NaiveDate>,
    ) -> Result<Unit> {
        let allowed = match &fields.parent {
            Some(parent) => may_manage(
                &context.caller,
                &self
                    .store
                    .ancestry_ids(parent, context.clock.today())
                    .await?,
            ),
            None => context.caller.has(Role::Admin),
        };
        self.require(allowed, context, &fields.id.name()).await?;
        self.store
            .create_unit(
                context,
                &fields,
                valid_from.unwrap_or_else(|| context.clock.today()),
            )
            .await
    }

    /// Updates the masked fields; a unit's staff may change its contacts only.
    pub async fn update_unit(
        &self,
        context: &CallContext,
        id: &UnitId,
        etag: &str,
        patch: UnitPatch,
    ) -> Result<Unit> {
        let ancestry = self.store.ancestry_ids(id, context.clock.today()).await?;
        let mut allowed = may_edit_unit(&context.caller, id, &ancestry, &patch.fields);
        // Moving a unit also needs the right to manage its new parent.
        if allowed
            && patch.fields.contains(&UnitField::Parent)
            && let Some(parent) = &patch.values.parent
        {
            allowed = may_manage(
                &context.caller,
                &self
                    .store
                    .ancestry_ids(parent, context.clock.today())
                    .await?,
            );
        }
        self.require(allowed, context, &id.name()).await?;
        let fields = patch.fields.clone();
        self.store
            .update_unit(context, id, etag, &fields, |current| {
                patch.apply(current).map_err(UnitsError::invalid)
            })
            .await
    }

    pub async fn delete_unit(
        &self,
        context: &CallContext,
        id: &UnitId,
        etag: &str,
    ) -> Result<Unit> {
        let allowed = may_manage(
            &context.caller,
            &self.store.ancestry_ids(id, context.clock.today()).await?,
        );
        self.require(allowed, context, &id.name()).await?;
        self.store.delete_unit(context, id, etag).await
    }

    /// Shared groups are admins'; a region's own group is its managers' (see `may_maintain_group`).
    pub async fn create_group(&self, context: &CallContext, group: NewGroup) -> Result<UnitGroup> {
        self.store
            .create_group(context, &group, async || {
                self.require_group_maintainer(context, group.owner.as_ref())
                    .await
            })
            .await
    }

    /// Refuses (audited by the mutation) unless the caller may maintain a group of this owner.
    async fn require_group_maintainer(
        &self,
        context: &CallContext,
        owner: Option<&UnitId>,
    ) -> Result<()> {
        let owner_ancestry = match owner {
            Some(owner) => {
                let ancestry = self
                    .store
                    .ancestry_ids(owner, context.clock.today())
                    .await?;
                if ancestry.is_empty() {
                    return Err(UnitsError::invalid_field(
                        fazhi_platform::error::FieldViolation::new(
                            "unit_group.owner_unit",
                            "NOT_FOUND",
                            format!("{} is not a unit", owner.name()),
                            format!("{} 不是已登记的单位", owner.name()),
                        ),
                    ));
                }
                Some(ancestry)
            }
            None => None,
        };
        if may_maintain_group(&context.caller, owner_ancestry.as_deref()) {
            Ok(())
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    pub async fn get_group(&self, id: &UnitGroupId) -> Result<UnitGroup> {
        self.store.get_group(id).await
    }

    pub async fn list_groups(
        &self,
        after: Option<String>,
        page_size: i64,
    ) -> Result<Page<UnitGroup, String>> {
        self.store.list_groups(after, page_size).await
    }

    pub async fn delete_group(
        &self,
        context: &CallContext,
        id: &UnitGroupId,
        etag: &str,
    ) -> Result<()> {
        self.store
            .delete_group(context, id, etag, async || {
                let owner = match self.store.get_group(id).await {
                    Ok(group) => group.owner,
                    // The same refusal whether or not the group exists (AIP-211): only admins
                    // learn more.
                    Err(UnitsError::GroupNotFound(_)) if !context.caller.has(Role::Admin) => None,
                    Err(error) => return Err(error),
                };
                self.require_group_maintainer(context, owner.as_ref()).await
            })
            .await
    }

    /// A group's members on a day, relative to a context unit (required for rules).
    pub async fn expand_group(
        &self,
        id: &UnitGroupId,
        context_unit: Option<&UnitId>,
        (as_of, today): (Option<NaiveDate>, NaiveDate),
    ) -> Result<Vec<Unit>> {
        let group = self.store.get_group(id).await?;
        let day = as_of.unwrap_or(today);
        if let (Some(owner), Some(context_unit)) = (&group.owner, context_unit)
            && !group.applies_in(&self.store.ancestry_ids(context_unit, day).await?)
        {
            return Err(UnitsError::invalid_field(
                fazhi_platform::error::FieldViolation::new(
                    "context_unit",
                    "OUTSIDE_GROUP_REGION",
                    format!(
                        "{} is defined by {} and applies at or below it only",
                        id.name(),
                        owner.name()
                    ),
                    format!(
                        "{} 由 {} 定义,仅适用于其本级及下级",
                        id.name(),
                        owner.name()
                    ),
                ),
            ));
        }
        match &group.definition {
            GroupDefinition::Static(members) => self.store.units_or_successors(members, day).await,
            GroupDefinition::Rule(rule) => {
                let context_unit = context_unit.ok_or_else(|| {
                    UnitsError::invalid_field(fazhi_platform::error::FieldViolation::new(
                        "context_unit",
                        "REQUIRED",
                        "context_unit is required to expand a rule group",
                        "展开规则单位组须提供 context_unit",
                    ))
                })?;
                self.get_unit(context_unit, Some(day), today).await?;
                let members = self
                    .store
                    .all_descendants(context_unit, day)
                    .await?
                    .into_iter()
                    .filter(|found| rule.admits(&found.unit, found.depth.unsigned_abs()))
                    .map(|found| found.unit)
                    .collect();
                Ok(members)
            }
        }
    }

    /// Records a reorganisation: the caller must manage every unit it touches.
    pub async fn reorganize(
        &self,
        context: &CallContext,
        reorganization: Reorganization,
        new_units: Vec<ValidUnitFields>,
    ) -> Result<(Reorganization, Vec<Unit>)> {
        reorganization.validate().map_err(UnitsError::invalid)?;
        let mut touched: Vec<&UnitId> = reorganization
            .source_units
            .iter()
            .chain(&reorganization.successor_units)
            .chain(&reorganization.new_parent)
            .filter(|id| !new_units.iter().any(|unit| &unit.id == *id))
            .collect();
        touched.extend(new_units.iter().filter_map(|unit| unit.parent.as_ref()));
        let mut allowed = true;
        for id in touched {
            allowed &= may_manage(
                &context.caller,
                &self.store.ancestry_ids(id, context.clock.today()).await?,
            );
        }
        self.require(allowed, context, &reorganization.id.name())
            .await?;
        self.store
            .reorganize(context, &reorganization, &new_units)
            .await
    }

    pub async fn list_reorganizations(
        &self,
        unit: Option<&UnitId>,
        after: Option<(NaiveDate, String)>,
        page_size: i64,
    ) -> Result<Page<Reorganization, (NaiveDate, String)>> {
        self.store
            .list_reorganizations(unit, after, page_size)
            .await
    }

    /// Resolves mentions relative to the government at or above the context unit.
    pub async fn resolve_mentions(
        &self,
        context_unit: &UnitId,
        mentions: &[String],
        (as_of, today): (Option<NaiveDate>, NaiveDate),
    ) -> Result<Vec<Resolution>> {
        let day = as_of.unwrap_or(today);
        let ancestry = self.store.ancestry(context_unit, day).await?;
        if ancestry.is_empty() {
            return Err(UnitsError::UnitNotFound(context_unit.name()));
        }
        let government_position = ancestry.iter().position(is_government).unwrap_or(0);
        let government = ancestry[government_position].clone();
        let mut scoped: Vec<ScopedUnit> = ancestry[government_position..]
            .iter()
            .enumerate()
            .map(|(distance, unit)| ScopedUnit {
                unit: unit.clone(),
                depth: -(distance as i32),
            })
            .collect();
        scoped.extend(
            self.store
                .all_descendants(&government.id, day)
                .await?
                .into_iter()
                .map(|found| ScopedUnit {
                    unit: found.unit,
                    depth: found.depth,
                }),
        );
        let ancestry_ids: Vec<UnitId> = ancestry.iter().map(|unit| unit.id.clone()).collect();
        let groups = groups_in_scope(self.store.all_groups().await?, &ancestry_ids);
        let mentions = mentions.to_vec();
        // Once this future is dropped (the deadline passed, the caller went away) nobody waits
        // for the answer: the matching stops instead of taking CPU from other calls.
        let abandoned = tokio_util::sync::CancellationToken::new();
        let _abandon_when_dropped = abandoned.clone().drop_guard();
        // Building the index and matching is CPU work (a county has thousands of units, a call
        // up to 1,000 mentions): off the async runtime, so no other call waits behind it.
        tokio::task::spawn_blocking(move || {
            let index = MentionIndex::new(&Scope {
                government: &government,
                units: &scoped,
                groups: &groups,
            });
            let mut cache: HashMap<&str, Resolution> = HashMap::new();
            let mut resolutions = Vec::with_capacity(mentions.len());
            for mention in &mentions {
                if abandoned.is_cancelled() {
                    return None;
                }
                resolutions.push(
                    cache
                        .entry(mention)
                        .or_insert_with(|| index.resolve(mention))
                        .clone(),
                );
            }
            Some(resolutions)
        })
        .await
        .map_err(|error| {
            UnitsError::Platform(PlatformError::Internal(format!(
                "mention resolution failed: {error}"
            )))
        })?
        // Abandoned: the caller has its answer (DEADLINE_EXCEEDED or CANCELLED) already.
        .ok_or(UnitsError::Platform(PlatformError::Internal(
            "mention resolution abandoned".to_owned(),
        )))
    }

    /// Imports a registry file: admins only.
    pub async fn import(
        &self,
        context: &CallContext,
        format: Format,
        content: &[u8],
        validate_only: bool,
    ) -> Result<ImportCounts> {
        self.require(context.caller.has(Role::Admin), context, "units")
            .await?;
        let (units, groups) = registry_file::parse(format, content)?;
        if validate_only {
            return Ok(ImportCounts {
                units_created: units.len() as i32,
                groups_created: groups.len() as i32,
                ..ImportCounts::default()
            });
        }
        self.store.import(context, &units, &groups).await
    }

    /// The registry as it stands on `today`.
    pub async fn export(&self, format: Format, today: NaiveDate) -> Result<Vec<u8>> {
        let (units, groups) = self.store.export(today).await?;
        registry_file::write(format, &units, &groups)
    }
}
