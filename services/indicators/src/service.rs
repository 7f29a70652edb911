//! The use cases of indicators: authorise (through the units service), apply the domain, call
//! the store. Every mutation goes through [`IndicatorBook::mutate`]
//! (`fazhi_platform::mutation::run`): a retry is answered from its stored response before
//! anything else; authorisation and reads run next; then, with the request id claimed, the value
//! is locked, its etag and state checked by the domain, and the change written.

use fazhi_platform::aip::{Page, check_etag};
use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_units_client::{Access, UnitId, UnitsClient, UnitsClientError};
use futures::TryStreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use crate::catalogue_file;
use crate::domain::{
    Bases, Catalogue, CatalogueImport, DataElement, DataElementChanges, DataElementId, DataSet,
    DataValue, DataValueId, Evaluation, EvidenceLink, FigureNeed, Figures, Formula, Indicator,
    IndicatorChanges, IndicatorId, IndicatorValue, Period, Reading, Target, TargetChanges,
    TargetId, TargetKind, ValueAction, ValueFilter, ValueInput, ValueState, check_data_element,
    check_indicator, check_input, check_target, check_value, evaluate, groups_counted,
    indicator_needs, needs, not_applicable, plan_import,
};
use fazhi_plans_client::PlansClient;

use crate::error::{IndicatorsError, Result};
use crate::store::{self, RevisionRow, Store, ValueCursor, ValueKey};

/// The indicators service's use cases.
#[derive(Clone)]
pub struct IndicatorBook {
    store: Store,
    units: UnitsClient,
    plans: PlansClient,
}

/// What the caller must be to a unit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read its figures: its staff, its coordinators, or a viewer.
    Read,
    /// Report for it: its own staff, or its coordinators.
    WorkFor,
    /// Review it: a coordinator above it (not of the unit itself), or an admin.
    Review,
    /// Manage its targets: its coordinators.
    Coordinate,
}

/// A value to enter, as the caller sent it (checked in [`IndicatorBook::report_value`]).
pub struct ValueReport {
    pub data_element: DataElementId,
    /// `None` for a central element.
    pub unit: Option<UnitId>,
    pub period: String,
    pub category_option: String,
    pub value: f64,
    /// A text or date element's value.
    pub text: String,
    pub comment: String,
    pub evidence: Vec<EvidenceLink>,
    pub etag: String,
}

/// What an import created, and what it found unchanged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CatalogueSummary {
    pub elements: usize,
    pub indicators: usize,
    pub targets: usize,
    pub data_sets: usize,
    pub unchanged: usize,
}

impl CatalogueSummary {
    fn of(plan: &CatalogueImport) -> Self {
        Self {
            elements: plan.elements.len(),
            indicators: plan.indicators.len(),
            targets: plan.targets.len(),
            data_sets: plan.data_sets.len(),
            unchanged: plan.unchanged,
        }
    }
}

/// A step of a value's review.
#[derive(Debug, Clone, Copy)]
pub enum Review<'a> {
    Submit,
    Approve,
    /// With what to correct.
    Return(&'a str),
    /// With why.
    Reopen(&'a str),
}

impl Review<'_> {
    fn action(self) -> ValueAction {
        match self {
            Self::Submit => ValueAction::Submitted,
            Self::Approve => ValueAction::Approved,
            Self::Return(_) => ValueAction::Returned,
            Self::Reopen(_) => ValueAction::Reopened,
        }
    }
}

/// Where and how to evaluate.
pub struct Scope {
    pub unit: UnitId,
    pub period: Period,
    /// The unit and every unit below it.
    pub include_descendants: bool,
    /// Count submitted values as well as approved ones.
    pub include_submitted: bool,
}

pub(crate) fn unknown(field: &str, name: &str) -> IndicatorsError {
    IndicatorsError::invalid_field(FieldViolation::new(
        field,
        "NOT_FOUND",
        format!("{name} does not exist"),
        format!("{name} 不存在"),
    ))
}

/// The period a field names, read.
pub fn period_of(field: &str, text: &str) -> Result<Period> {
    Period::parse_field(field, text).map_err(IndicatorsError::invalid_field)
}

impl IndicatorBook {
    pub fn new(store: Store, units: UnitsClient, plans: PlansClient) -> Self {
        Self {
            store,
            units,
            plans,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn units(&self) -> &UnitsClient {
        &self.units
    }

    pub fn plans(&self) -> &PlansClient {
        &self.plans
    }

    /// Runs a mutation of this service; see the module comment.
    pub(crate) async fn mutate<T, P>(
        &self,
        context: &CallContext,
        target: &str,
        prepare: impl AsyncFnOnce() -> Result<P>,
        apply: impl AsyncFnOnce(&mut PgConnection, P) -> Result<Outcome<T>>,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        mutation::run(
            self.store.pool(),
            self.store.journal(),
            context,
            target,
            prepare,
            apply,
        )
        .await
    }

    /// Refuses unless the caller may act for the unit as `need` says.
    pub(crate) async fn authorize(
        &self,
        context: &CallContext,
        unit: &UnitId,
        need: Need,
    ) -> Result<()> {
        // A viewer reads everything: no need to ask the units service.
        if need == Need::Read && context.caller.has(Role::Viewer) {
            return Ok(());
        }
        self.access_for(context, unit, need).await.map(drop)
    }

    /// What the caller may do for the unit, when `need` allows it; a refusal otherwise.
    pub(crate) async fn access_for(
        &self,
        context: &CallContext,
        unit: &UnitId,
        need: Need,
    ) -> Result<Access> {
        let caller = &context.caller;
        let access = match self.units.access(context, unit).await {
            Ok(access) => access,
            // AIP-211: only an admin learns that a unit does not exist.
            Err(UnitsClientError::NotFound(_)) if caller.has(Role::Admin) => {
                return Err(IndicatorsError::invalid_field(
                    fazhi_units_client::unit_not_found("unit"),
                ));
            }
            Err(UnitsClientError::NotFound(_)) => {
                return Err(PlatformError::PermissionDenied.into());
            }
            Err(error) => return Err(error.into()),
        };
        let allowed = match need {
            Need::Read => access.may_work_for() || caller.has(Role::Viewer),
            Need::WorkFor => access.may_work_for(),
            Need::Coordinate => access.may_coordinate(),
            Need::Review => {
                access.may_coordinate()
                    && (caller.has(Role::Admin) || caller.unit.as_deref() != Some(unit.as_str()))
            }
        };
        if allowed {
            Ok(access)
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    /// [`Self::authorize`] for a read: a refusal is audited against `resource`.
    async fn authorize_read(
        &self,
        context: &CallContext,
        unit: &UnitId,
        resource: &str,
    ) -> Result<()> {
        let decision = self.authorize(context, unit, Need::Read).await;
        self.audit_read_refusal(context, resource, decision).await
    }

    pub(crate) async fn audit_read_refusal<T>(
        &self,
        context: &CallContext,
        resource: &str,
        decision: Result<T>,
    ) -> Result<T> {
        mutation::audit_read_refusal(
            self.store.pool(),
            self.store.journal(),
            context,
            resource,
            decision,
        )
        .await
    }

    fn require_admin(context: &CallContext) -> Result<()> {
        if context.caller.has(Role::Admin) {
            Ok(())
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    /// Adds a data element: admins.
    pub async fn create_element(
        &self,
        context: &CallContext,
        element: DataElement,
    ) -> Result<DataElement> {
        let name = element.id.name();
        self.mutate(
            context,
            &name,
            async || {
                Self::require_admin(context)?;
                IndicatorsError::refuse_any(check_data_element(&element, "data_element"))
            },
            async |connection, ()| {
                created_entry(
                    &name,
                    "data_element.created",
                    store::insert_element(connection, &element).await?,
                )
            },
        )
        .await
    }

    pub async fn get_element(&self, id: &DataElementId) -> Result<DataElement> {
        self.store.get_element(id).await
    }

    pub async fn list_elements(
        &self,
        after: Option<String>,
        size: i64,
    ) -> Result<Page<DataElement, String>> {
        self.store.list_elements(after, size).await
    }

    /// Adds an indicator, its formula checked against the catalogue: admins.
    pub async fn create_indicator(
        &self,
        context: &CallContext,
        indicator: Indicator,
    ) -> Result<Indicator> {
        let name = indicator.id.name();
        self.mutate(
            context,
            &name,
            async || {
                Self::require_admin(context)?;
                let codes = Formula::parse(&indicator.formula)
                    .map(|formula| formula.element_codes())
                    .unwrap_or_default();
                let elements = self.store.elements_by_code(&codes).await?;
                let element_of = |code: &str| elements.iter().find(|element| element.code == code);
                check_indicator(&indicator, "indicator", element_of)
                    .map_err(IndicatorsError::invalid)?;
                Ok(Indicator {
                    data_element_codes: codes,
                    ..indicator.clone()
                })
            },
            async |connection, checked: Indicator| {
                created_entry(
                    &name,
                    "indicator.created",
                    store::insert_indicator(connection, &checked).await?,
                )
            },
        )
        .await
    }

    /// The indicators audit log for the caller: admins all of it, coordinators the records of
    /// callers in their region; anyone else is refused.
    pub async fn list_audit_records(
        &self,
        context: &CallContext,
        page: (Option<fazhi_proto::audit::v1::AuditRecordFilter>, i32, &str),
    ) -> Result<(Vec<fazhi_proto::audit::v1::AuditRecord>, String)> {
        let (pool, journal) = (self.store.pool(), self.store.journal());
        fazhi_platform::audit::list_for_caller(pool, journal, context, page, async |own: &str| {
            Ok::<_, IndicatorsError>(self.units.ids_below(context, own).await?)
        })
        .await
    }

    /// Changes a data element's name, unit or options (added only): admins.
    pub async fn update_element(
        &self,
        context: &CallContext,
        id: &DataElementId,
        etag: &str,
        changes: DataElementChanges,
    ) -> Result<DataElement> {
        self.change_element(context, (id, etag, "data_element.updated"), |current, _| {
            let next = current
                .changed(changes)
                .map_err(IndicatorsError::invalid_field)?;
            IndicatorsError::refuse_any(check_data_element(&next, "data_element"))?;
            Ok(next)
        })
        .await
    }

    /// Soft-deletes a data element no live indicator, data set or target needs: admins.
    pub async fn delete_element(
        &self,
        context: &CallContext,
        id: &DataElementId,
        etag: &str,
    ) -> Result<DataElement> {
        let now = context.clock.now();
        self.change_element(
            context,
            (id, etag, "data_element.deleted"),
            |current, catalogue| match catalogue.element_user(&current.code) {
                Some(user) => Err(IndicatorsError::InUse("ELEMENT_IN_USE", id.name(), user)),
                None => Ok(DataElement {
                    delete_time: Some(now),
                    ..current.clone()
                }),
            },
        )
        .await
    }

    /// Soft-deletes an indicator no live target is set on: admins.
    pub async fn delete_indicator(
        &self,
        context: &CallContext,
        id: &IndicatorId,
        etag: &str,
    ) -> Result<Indicator> {
        let now = context.clock.now();
        self.change_indicator(
            context,
            (id, etag, "indicator.deleted"),
            |current, catalogue| match catalogue.indicator_user(id) {
                Some(user) => Err(IndicatorsError::InUse("INDICATOR_IN_USE", id.name(), user)),
                None => Ok(Indicator {
                    delete_time: Some(now),
                    ..current.clone()
                }),
            },
        )
        .await
    }

    /// Changes an indicator: admins. The formula is checked against the catalogue, and every
    /// live target on the indicator against the changed indicator (a quota needs its options).
    pub async fn update_indicator(
        &self,
        context: &CallContext,
        id: &IndicatorId,
        etag: &str,
        changes: IndicatorChanges,
    ) -> Result<Indicator> {
        self.change_indicator(
            context,
            (id, etag, "indicator.updated"),
            |current, catalogue| {
                let mut next = current.changed(changes);
                let formula = check_indicator(&next, "indicator", |code| catalogue.element(code))
                    .map_err(IndicatorsError::invalid)?;
                next.data_element_codes = formula.element_codes();
                let mut changed = catalogue.clone();
                changed
                    .indicators
                    .retain(|indicator| indicator.id != next.id);
                changed.indicators.push(next.clone());
                let broken: Vec<FieldViolation> = changed
                    .targets
                    .iter()
                    .filter(|target| target.indicator.as_ref() == Some(&next.id))
                    .filter(|target| !check_target(target, &changed, "target").is_empty())
                    .map(|target| {
                        FieldViolation::new(
                            "indicator.formula",
                            "BREAKS_TARGET",
                            format!(
                                "{} would no longer fit the changed indicator",
                                target.id.name()
                            ),
                            format!("修改后 {} 与指标不再相符", target.id.name()),
                        )
                    })
                    .collect();
                IndicatorsError::refuse_any(broken)?;
                Ok(next)
            },
        )
        .await
    }

    pub async fn get_indicator(&self, id: &IndicatorId) -> Result<Indicator> {
        self.store.get_indicator(id).await
    }

    pub async fn list_indicators(
        &self,
        after: Option<String>,
        size: i64,
    ) -> Result<Page<Indicator, String>> {
        self.store.list_indicators(after, size).await
    }

    /// Sets a target for a region: coordinators of the owner unit.
    pub async fn create_target(&self, context: &CallContext, target: Target) -> Result<Target> {
        self.create_owned(
            context,
            (&target.id.name(), &target.owner_unit, "target.created"),
            |catalogue| check_target(&target, catalogue, "target"),
            async |connection| store::insert_target(connection, &target).await,
        )
        .await
    }

    /// Adds an entry a region owns (a target, a data set): coordinators of the owner unit, the
    /// entry checked against the catalogue.
    pub(crate) async fn create_owned<T: Serialize + DeserializeOwned>(
        &self,
        context: &CallContext,
        (name, owner, event_type): (&str, &str, &'static str),
        check: impl FnOnce(&Catalogue) -> Vec<FieldViolation>,
        insert: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        self.mutate(
            context,
            name,
            async || {
                self.authorize(
                    context,
                    &UnitId::from_trusted(owner.to_owned()),
                    Need::Coordinate,
                )
                .await?;
                IndicatorsError::refuse_any(check(&self.catalogue().await?))
            },
            async |connection, ()| created_entry(name, event_type, insert(connection).await?),
        )
        .await
    }

    /// Changes (or soft-deletes) an entry a region owns: the current entry read, the caller
    /// checked as a coordinator of its owner, `change` applied and checked against the
    /// catalogue; then, locked, its etag checked and the change saved as its next revision.
    pub(crate) async fn change_owned<T: OwnedEntry>(
        &self,
        context: &CallContext,
        (name, etag, event_type): (&str, &str, &'static str),
        load: impl AsyncFnOnce() -> Result<T>,
        change: impl FnOnce(&T, &Catalogue) -> Result<T>,
        (lock, save): (
            impl AsyncFnOnce(&mut PgConnection) -> Result<Option<T>>,
            impl AsyncFnOnce(&mut PgConnection, &T) -> Result<T>,
        ),
    ) -> Result<T> {
        self.mutate(
            context,
            name,
            async || {
                let current = load().await?;
                if current.deleted() {
                    return Err(PlatformError::NotFound(name.to_owned()).into());
                }
                match current.owner() {
                    "" => Self::require_admin(context)?,
                    owner => {
                        self.authorize(
                            context,
                            &UnitId::from_trusted(owner.to_owned()),
                            Need::Coordinate,
                        )
                        .await?;
                    }
                }
                let next = change(&current, &self.catalogue().await?)?;
                Ok((current.revision(), next))
            },
            async |connection, (read_revision, next): (i64, T)| {
                let locked = lock(connection)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.to_owned()))?;
                check_etag(etag, locked.revision())?;
                // Changed since it was checked: the caller retries on what is there now.
                if locked.revision() != read_revision {
                    return Err(PlatformError::Conflict.into());
                }
                let saved = save(connection, &next).await?;
                Ok(Outcome {
                    changes: vec![Change::of(name, Some(&locked), Some(&saved))?],
                    events: vec![NewEvent {
                        event_type,
                        resource: name.to_owned(),
                        payload: serde_json::Value::Null,
                    }],
                    response: saved,
                })
            },
        )
        .await
    }

    /// Changes a target's name, group, periods or kind: coordinators of its owner unit.
    pub async fn update_target(
        &self,
        context: &CallContext,
        id: &TargetId,
        etag: &str,
        changes: TargetChanges,
    ) -> Result<Target> {
        self.change_target(
            context,
            (id, etag, "target.updated"),
            |current, catalogue| {
                let next = current.changed(changes);
                IndicatorsError::refuse_any(check_target(&next, catalogue, "target"))?;
                Ok(next)
            },
        )
        .await
    }

    /// Soft-deletes a target, unless a composite target that is not deleted has it as a part:
    /// coordinators of its owner unit.
    pub async fn delete_target(
        &self,
        context: &CallContext,
        id: &TargetId,
        etag: &str,
    ) -> Result<Target> {
        let now = context.clock.now();
        self.change_target(
            context,
            (id, etag, "target.deleted"),
            |current, catalogue| {
                if let Some(whole) = catalogue.targets.iter().find(|whole| {
                    matches!(&whole.kind, TargetKind::AllOf(parts) | TargetKind::AnyOf(parts)
                    if parts.contains(id))
                }) {
                    return Err(IndicatorsError::InUse(
                        "TARGET_IN_USE",
                        id.name(),
                        whole.id.name(),
                    ));
                }
                Ok(Target {
                    delete_time: Some(now),
                    ..current.clone()
                })
            },
        )
        .await
    }

    async fn change_element(
        &self,
        context: &CallContext,
        (id, etag, event_type): (&DataElementId, &str, &'static str),
        change: impl FnOnce(&DataElement, &Catalogue) -> Result<DataElement>,
    ) -> Result<DataElement> {
        self.change_owned(
            context,
            (&id.name(), etag, event_type),
            async || self.store.get_element(id).await,
            change,
            (
                async |connection| store::lock_element(connection, id).await,
                async |connection, next| store::save_element(connection, next).await,
            ),
        )
        .await
    }

    async fn change_indicator(
        &self,
        context: &CallContext,
        (id, etag, event_type): (&IndicatorId, &str, &'static str),
        change: impl FnOnce(&Indicator, &Catalogue) -> Result<Indicator>,
    ) -> Result<Indicator> {
        self.change_owned(
            context,
            (&id.name(), etag, event_type),
            async || self.store.get_indicator(id).await,
            change,
            (
                async |connection| store::lock_indicator(connection, id).await,
                async |connection, next| store::save_indicator(connection, next).await,
            ),
        )
        .await
    }

    async fn change_target(
        &self,
        context: &CallContext,
        (id, etag, event_type): (&TargetId, &str, &'static str),
        change: impl FnOnce(&Target, &Catalogue) -> Result<Target>,
    ) -> Result<Target> {
        self.change_owned(
            context,
            (&id.name(), etag, event_type),
            async || self.store.get_target(id).await,
            change,
            (
                async |connection| store::lock_target(connection, id).await,
                async |connection, next| store::save_target(connection, next).await,
            ),
        )
        .await
    }

    /// Loads a catalogue file in one transaction: admins. `validate_only` checks and writes
    /// nothing.
    pub async fn import_catalogue(
        &self,
        context: &CallContext,
        content: Vec<u8>,
        validate_only: bool,
    ) -> Result<CatalogueSummary> {
        let prepare = async || {
            Self::require_admin(context)?;
            // Parsing is CPU work bounded by the file size: off the async runtime.
            let file = tokio::task::spawn_blocking(move || catalogue_file::read(&content))
                .await
                .map_err(|error| {
                    PlatformError::Internal(format!("catalogue reader failed: {error}"))
                })?
                .map_err(IndicatorsError::invalid)?;
            plan_import(file, &self.catalogue().await?).map_err(IndicatorsError::invalid)
        };
        if validate_only {
            return Ok(CatalogueSummary::of(&prepare().await?));
        }
        self.mutate(
            context,
            "catalogue",
            prepare,
            async |connection, plan: CatalogueImport| {
                let mut outcome = Outcome {
                    response: CatalogueSummary::of(&plan),
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                for element in &plan.elements {
                    let created = store::insert_element(connection, element).await?;
                    outcome.absorb(created_entry(
                        &element.id.name(),
                        "data_element.created",
                        created,
                    )?);
                }
                for indicator in &plan.indicators {
                    let created = store::insert_indicator(connection, indicator).await?;
                    outcome.absorb(created_entry(
                        &indicator.id.name(),
                        "indicator.created",
                        created,
                    )?);
                }
                for target in &plan.targets {
                    let created = store::insert_target(connection, target).await?;
                    outcome.absorb(created_entry(&target.id.name(), "target.created", created)?);
                }
                for set in &plan.data_sets {
                    let created = store::insert_data_set(connection, set).await?;
                    outcome.absorb(created_entry(&set.id.name(), "data_set.created", created)?);
                }
                Ok(outcome)
            },
        )
        .await
    }

    /// The whole catalogue as a file.
    pub async fn export_catalogue(&self) -> Result<String> {
        catalogue_file::write(self.catalogue().await?).map_err(|error| {
            PlatformError::Internal(format!("catalogue not writable: {error}")).into()
        })
    }

    /// Everything in the catalogue, for checks that look across it.
    pub(crate) async fn catalogue(&self) -> Result<Catalogue> {
        Ok(Catalogue {
            elements: self.store.all_elements().await?,
            indicators: self.store.all_indicators().await?,
            targets: self.store.all_targets().await?,
            data_sets: self.store.all_data_sets().await?,
        })
    }

    pub async fn get_target(&self, id: &TargetId) -> Result<Target> {
        self.store.get_target(id).await
    }

    pub async fn list_targets(
        &self,
        owner: Option<&str>,
        after: Option<String>,
        size: i64,
    ) -> Result<Page<Target, String>> {
        self.store.list_targets(owner, after, size).await
    }

    /// The live element a field names, or a violation of that field (a deleted one is as good
    /// as none, as in ingest).
    async fn element_named(&self, field: &str, id: &DataElementId) -> Result<DataElement> {
        match self.store.get_element(id).await {
            Err(IndicatorsError::Platform(PlatformError::NotFound(_))) => {
                Err(unknown(field, &id.name()))
            }
            Ok(element) if element.delete_time.is_some() => Err(unknown(field, &id.name())),
            other => other,
        }
    }

    /// Enters or corrects a draft value: the unit's staff or coordinators; central, admins.
    pub async fn report_value(
        &self,
        context: &CallContext,
        report: ValueReport,
    ) -> Result<DataValue> {
        let target = report
            .unit
            .as_ref()
            .map_or_else(|| report.data_element.name(), UnitId::name);
        self.mutate(
            context,
            &target,
            async || {
                let element = self
                    .element_named("data_element", &report.data_element)
                    .await?;
                let checked = check_input(
                    &element,
                    &ValueInput {
                        has_unit: report.unit.is_some(),
                        period: &report.period,
                        category_option: &report.category_option,
                        value: report.value,
                        text: &report.text,
                        comment: &report.comment,
                        evidence: &report.evidence,
                    },
                );
                // Who may report comes first: a refusal says nothing about the request's fields.
                match (&report.unit, element.central) {
                    (Some(unit), false) => self.authorize(context, unit, Need::WorkFor).await?,
                    (None, true) => Self::require_admin(context)?,
                    _ => {}
                }
                checked.map_err(IndicatorsError::invalid)
            },
            async |connection, (period, reading): (Period, Reading)| {
                let unit = report.unit.as_ref().map(|unit| unit.as_str().to_owned());
                let key = ValueKey {
                    data_element: &report.data_element,
                    unit: unit.as_deref().unwrap_or_default(),
                    period: &report.period,
                    category_option: &report.category_option,
                };
                let existing = store::lock_value_by_key(connection, &key).await?;
                if let Some(current) = &existing
                    && !report.etag.is_empty()
                {
                    check_etag(&report.etag, current.revision)?;
                }
                let before = existing.clone();
                let new = DataValue {
                    id: DataValueId::generate(),
                    data_element: report.data_element.clone(),
                    unit,
                    period: report.period.clone(),
                    category_option: report.category_option.clone(),
                    value: reading.value,
                    text: reading.text,
                    comment: report.comment.clone(),
                    evidence: report.evidence.clone(),
                    state: ValueState::Draft,
                    reason: String::new(),
                    update_subject: context.caller.subject.clone(),
                    revision: 1,
                    update_time: context.clock.now(),
                };
                let reported = crate::domain::report(existing, new)?;
                let saved = match &before {
                    Some(_) => {
                        store::update_value(connection, &reported, ValueAction::Reported).await?
                    }
                    None => {
                        store::insert_value(connection, &reported, &period, ValueAction::Reported)
                            .await?
                    }
                };
                value_outcome(saved, before, ValueAction::Reported)
            },
        )
        .await
    }

    /// A value and the element it is of, for a call naming the value; a missing value is refused
    /// like another unit's, except to admins (AIP-211).
    async fn value_for(
        &self,
        context: &CallContext,
        id: &DataValueId,
        need: Need,
    ) -> Result<(DataValue, DataElement)> {
        let Some(value) = self.store.get_value(id).await? else {
            return Err(if context.caller.has(Role::Admin) {
                PlatformError::NotFound(id.name()).into()
            } else {
                PlatformError::PermissionDenied.into()
            });
        };
        match &value.unit {
            Some(unit) => {
                self.authorize(context, &UnitId::from_trusted(unit.clone()), need)
                    .await?
            }
            None if need == Need::Read => {}
            None => Self::require_admin(context)?,
        }
        let element = self.store.get_element(&value.data_element).await?;
        Ok((value, element))
    }

    /// Submits, approves, returns or reopens a value.
    pub async fn review_value(
        &self,
        context: &CallContext,
        id: &DataValueId,
        etag: &str,
        review: Review<'_>,
    ) -> Result<DataValue> {
        let need = match review {
            Review::Submit => Need::WorkFor,
            _ => Need::Review,
        };
        self.mutate(
            context,
            &id.name(),
            async || {
                if let Review::Return(reason) | Review::Reopen(reason) = review {
                    if reason.trim().is_empty() {
                        return Err(IndicatorsError::invalid_field(FieldViolation::required(
                            "reason",
                        )));
                    }
                    if reason.chars().count() > crate::domain::MAX_COMMENT_CHARS {
                        return Err(IndicatorsError::invalid_field(FieldViolation::too_long(
                            "reason",
                            crate::domain::MAX_COMMENT_CHARS,
                        )));
                    }
                }
                let element = self.value_for(context, id, need).await?.1;
                let sets = match review {
                    Review::Submit => self.store.data_sets_holding(&element.code).await?,
                    _ => Vec::new(),
                };
                Ok((element, sets))
            },
            async |connection, (element, sets): (DataElement, Vec<DataSet>)| {
                let current = store::lock_value(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(id.name()))?;
                check_etag(etag, current.revision)?;
                let subject = &context.caller.subject;
                let changed = match review {
                    Review::Submit => {
                        let mut violations = check_value(&element, current.value, "value");
                        violations.extend(
                            self.rules_failing_on(connection, &sets, &current, &element.code)
                                .await?,
                        );
                        IndicatorsError::refuse_any(violations)?;
                        current.clone().submit(subject)?
                    }
                    Review::Approve => current.clone().approve(subject)?,
                    Review::Return(reason) => current.clone().send_back(reason, subject)?,
                    Review::Reopen(reason) => current.clone().reopen(reason, subject)?,
                };
                let action = review.action();
                let saved = store::update_value(connection, &changed, action).await?;
                value_outcome(saved, Some(current), action)
            },
        )
        .await
    }

    pub async fn get_value(&self, context: &CallContext, id: &DataValueId) -> Result<DataValue> {
        let decision = self.value_for(context, id, Need::Read).await;
        Ok(self
            .audit_read_refusal(context, &id.name(), decision)
            .await?
            .0)
    }

    /// A unit's values, with `include_descendants` those of every unit below it too (or a
    /// central element's, with `unit` `None`).
    pub async fn list_values(
        &self,
        context: &CallContext,
        (unit, data_element): (Option<&UnitId>, Option<&DataElementId>),
        filter: ValueFilter,
        (after, size): (Option<ValueCursor>, i64),
    ) -> Result<Page<DataValue, ValueCursor>> {
        let mut units = vec![unit.map_or("", UnitId::as_str).to_owned()];
        match unit {
            Some(unit) => {
                self.authorize_read(context, unit, &unit.name()).await?;
                if filter.include_descendants {
                    let today = context.clock.now().date_naive();
                    units.extend(
                        self.units
                            .descendants(context, unit, today)
                            .await?
                            .into_iter()
                            .map(|(unit, _)| unit.as_str().to_owned()),
                    );
                }
            }
            None => {
                let Some(element) = data_element else {
                    return Err(IndicatorsError::invalid_field(FieldViolation::required(
                        "unit",
                    )));
                };
                if !self.element_named("data_element", element).await?.central {
                    return Err(IndicatorsError::invalid_field(FieldViolation::required(
                        "unit",
                    )));
                }
            }
        }
        self.store
            .list_values(&units, data_element, filter, after, size)
            .await
    }

    pub async fn list_revisions(
        &self,
        context: &CallContext,
        id: &DataValueId,
    ) -> Result<Vec<RevisionRow>> {
        let decision = self.value_for(context, id, Need::Read).await;
        self.audit_read_refusal(context, &id.name(), decision)
            .await?;
        self.store.list_revisions(id).await
    }

    /// The units a scope covers: the unit, and with descendants every unit below it.
    async fn units_of(&self, context: &CallContext, scope: &Scope) -> Result<Vec<String>> {
        let mut units = vec![scope.unit.as_str().to_owned()];
        if scope.include_descendants {
            units.extend(
                self.units
                    .descendants(context, &scope.unit, scope.period.end)
                    .await?
                    .into_iter()
                    .map(|(unit, _)| unit.as_str().to_owned()),
            );
        }
        Ok(units)
    }

    /// Reads what `needs` names for `units`: one statement per element and window, every option
    /// at once.
    pub(crate) async fn read_figures(
        &self,
        needs: &std::collections::BTreeSet<FigureNeed>,
        catalogue: &Catalogue,
        units: Option<&[String]>,
        include_submitted: bool,
    ) -> Result<Figures> {
        let states: &[&str] = if include_submitted {
            &["approved", "submitted"]
        } else {
            &["approved"]
        };
        let mut figures = Figures::new(catalogue);
        let (Some(first), Some(last)) = (
            needs.iter().map(|need| need.2.start).min(),
            needs.iter().map(|need| need.2.end).max(),
        ) else {
            return Ok(figures);
        };
        let elements: Vec<DataElement> = needs
            .iter()
            .filter_map(|(code, _, _)| figures.element(code).cloned())
            .collect();
        let mut ids: Vec<&str> = elements.iter().map(|element| element.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut options: Vec<&str> = needs.iter().map(|(_, option, _)| option.as_str()).collect();
        options.sort_unstable();
        options.dedup();
        let wanted_units: Option<Vec<&str>> = units.map(|units| {
            let mut wanted: Vec<&str> = units.iter().map(String::as_str).collect();
            if elements.iter().any(|element| element.central) {
                wanted.push("");
            }
            wanted
        });
        // What each element (by its position in `ids`) is read for.
        let needs_at: Vec<Vec<&FigureNeed>> = ids
            .iter()
            .map(|id| {
                let code = elements
                    .iter()
                    .find(|element| element.id.as_str() == *id)
                    .map_or("", |element| element.code.as_str());
                needs.iter().filter(|need| need.0 == code).collect()
            })
            .collect();
        // One statement for every element, option and window; each row then goes to every
        // need whose window holds its period (a month counts for its quarter and its year).
        // Each window one calendar period of its element (the usual yearly reading): one value
        // per unit and window, so no order to keep.
        let in_period_order = !needs.iter().all(|(code, _, window)| {
            figures.element(code).is_none_or(|element| {
                element.period_type == window.period_type
                    && window.period_type != crate::domain::PeriodType::Custom
            })
        });
        let mut rows = self.store.figures(
            &ids,
            &options,
            wanted_units.as_deref(),
            (first, last),
            states,
            in_period_order,
        );
        while let Some(row) = rows.try_next().await? {
            let position = |index: i32| usize::try_from(index - 1).ok();
            let (Some(candidates), Some(option)) = (
                position(row.element).and_then(|at| needs_at.get(at)),
                position(row.option).and_then(|at| options.get(at)),
            ) else {
                continue;
            };
            let state = if row.approved {
                ValueState::Approved
            } else {
                ValueState::Submitted
            };
            for need in candidates.iter().filter(|(_, need_option, window)| {
                need_option == option
                    && window.start <= row.period_start
                    && row.period_end <= window.end
            }) {
                figures.add(need, &row.unit_id, row.value, state);
            }
        }
        Ok(figures)
    }

    /// An indicator's value for a scope.
    pub async fn evaluate_indicator(
        &self,
        context: &CallContext,
        id: &IndicatorId,
        scope: &Scope,
    ) -> Result<IndicatorValue> {
        self.authorize_read(context, &scope.unit, &id.name())
            .await?;
        let indicator = self.store.get_indicator(id).await?;
        let units = self.units_of(context, scope).await?;
        let needs = indicator_needs(&indicator, None, &scope.period);
        let catalogue = Catalogue {
            elements: self
                .store
                .elements_by_code(&indicator.data_element_codes)
                .await?,
            indicators: vec![indicator.clone()],
            ..Catalogue::default()
        };
        let mut figures = self
            .read_figures(&needs, &catalogue, Some(&units), scope.include_submitted)
            .await?;
        self.count_groups(
            context,
            &needs,
            &mut figures,
            scope.unit.as_str(),
            &scope.period,
        )
        .await?;
        Ok(figures.indicator(&indicator, None, &units, &scope.period))
    }

    /// Whether a target holds for a scope, and why.
    pub async fn evaluate_target(
        &self,
        context: &CallContext,
        id: &TargetId,
        scope: &Scope,
    ) -> Result<Evaluation> {
        let decision = self.access_for(context, &scope.unit, Need::Read).await;
        let access = self
            .audit_read_refusal(context, &id.name(), decision)
            .await?;
        let target = self.store.get_target(id).await?;
        if target.delete_time.is_some() {
            return Err(PlatformError::NotFound(id.name()).into());
        }
        let not_applicable_to = |zh: String, en: String| Evaluation {
            target: target.id.clone(),
            category_option: None,
            verdict: not_applicable(zh, en),
            values: vec![],
            parts: vec![],
        };
        if !access.is_within(&target.owner_unit) {
            return Ok(not_applicable_to(
                format!(
                    "该单位不在目标设定单位 units/{} 的范围内",
                    target.owner_unit
                ),
                format!(
                    "the unit is not within units/{}, which set the target",
                    target.owner_unit
                ),
            ));
        }
        let mut units = self.units_of(context, scope).await?;
        if let Some(group) = &target.applies_to_group {
            let members = self
                .group_members(context, group, &target.owner_unit, &scope.period)
                .await?;
            units.retain(|unit| members.contains(unit));
            if units.is_empty() {
                return Ok(not_applicable_to(
                    format!("该单位不属于 {group}"),
                    format!("the unit is not in {group}"),
                ));
            }
        }
        let catalogue = self.catalogue().await?;
        let needs = needs(&[&target], &catalogue, &scope.period);
        // A relative target compares with every unit it applies to: they are read too.
        let peers = if Bases::needed(&target, &catalogue) {
            self.applying_units(context, &target, &scope.period).await?
        } else {
            Vec::new()
        };
        let read: Vec<String> = units.iter().chain(&peers).cloned().collect();
        let mut figures = self
            .read_figures(&needs, &catalogue, Some(&read), scope.include_submitted)
            .await?;
        self.count_groups(
            context,
            &needs,
            &mut figures,
            &target.owner_unit,
            &scope.period,
        )
        .await?;
        let bases = Bases::over(&target, &catalogue, &figures, &peers, &scope.period);
        Ok(evaluate(
            &target,
            &catalogue,
            &figures,
            &units,
            &scope.period,
            &bases,
        ))
    }

    /// Expands the unit groups `needs` count (`count(…)`) relative to `context_unit` on the
    /// period's last day, into `figures`.
    pub(crate) async fn count_groups(
        &self,
        context: &CallContext,
        needs: &std::collections::BTreeSet<FigureNeed>,
        figures: &mut Figures,
        context_unit: &str,
        period: &Period,
    ) -> Result<()> {
        for group in groups_counted(needs) {
            let members = self
                .group_members(
                    context,
                    &format!("unitGroups/{group}"),
                    context_unit,
                    period,
                )
                .await?;
            figures.add_group(&group, members);
        }
        Ok(())
    }

    /// Every unit a target applies to on the period's last day: its owner and every unit below,
    /// within its group when it names one.
    pub(crate) async fn applying_units(
        &self,
        context: &CallContext,
        target: &Target,
        period: &Period,
    ) -> Result<Vec<String>> {
        let owner = UnitId::from_trusted(target.owner_unit.clone());
        let mut units = self
            .units_of(
                context,
                &Scope {
                    unit: owner,
                    period: *period,
                    include_descendants: true,
                    include_submitted: false,
                },
            )
            .await?;
        if let Some(group) = &target.applies_to_group {
            let members = self
                .group_members(context, group, &target.owner_unit, period)
                .await?;
            units.retain(|unit| members.contains(unit));
        }
        Ok(units)
    }

    /// A unit group's members relative to `owner` at the end of `period`.
    pub(crate) async fn group_members(
        &self,
        context: &CallContext,
        group: &str,
        owner: &str,
        period: &Period,
    ) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .units
            .expand(
                context,
                group,
                &UnitId::from_trusted(owner.to_owned()),
                period.end,
            )
            .await?
            .into_iter()
            .map(|unit| unit.as_str().to_owned())
            .collect())
    }
}

/// A catalogue entry a region owns and changes: a target, a data set.
pub(crate) trait OwnedEntry: Clone + Serialize + DeserializeOwned {
    /// The unit whose coordinators manage it; `""`: the catalogue's, managed by admins.
    fn owner(&self) -> &str;
    fn revision(&self) -> i64;
    fn deleted(&self) -> bool;
}

impl OwnedEntry for Target {
    fn owner(&self) -> &str {
        &self.owner_unit
    }

    fn revision(&self) -> i64 {
        self.revision
    }

    fn deleted(&self) -> bool {
        self.delete_time.is_some()
    }
}

impl OwnedEntry for DataElement {
    fn owner(&self) -> &str {
        ""
    }

    fn revision(&self) -> i64 {
        self.revision
    }

    fn deleted(&self) -> bool {
        self.delete_time.is_some()
    }
}

impl OwnedEntry for Indicator {
    fn owner(&self) -> &str {
        ""
    }

    fn revision(&self) -> i64 {
        self.revision
    }

    fn deleted(&self) -> bool {
        self.delete_time.is_some()
    }
}

impl OwnedEntry for DataSet {
    fn owner(&self) -> &str {
        &self.owner_unit
    }

    fn revision(&self) -> i64 {
        self.revision
    }

    fn deleted(&self) -> bool {
        self.delete_time.is_some()
    }
}

/// A new catalogue entry as audited and published.
pub(crate) fn created_entry<T: Serialize>(
    name: &str,
    event_type: &'static str,
    created: T,
) -> Result<Outcome<T>> {
    Ok(Outcome {
        changes: vec![Change::of(name, None::<&()>, Some(&created))?],
        events: vec![NewEvent {
            event_type,
            resource: name.to_owned(),
            payload: serde_json::Value::Null,
        }],
        response: created,
    })
}

/// A value's change as audited and published.
pub(crate) fn value_outcome(
    saved: DataValue,
    before: Option<DataValue>,
    action: ValueAction,
) -> Result<Outcome<DataValue>> {
    let name = saved.id.name();
    let event_type = match action {
        ValueAction::Reported => "data_value.reported",
        ValueAction::Ingested => "data_value.ingested",
        ValueAction::Submitted => "data_value.submitted",
        ValueAction::Approved => "data_value.approved",
        ValueAction::Returned => "data_value.returned",
        ValueAction::Reopened => "data_value.reopened",
    };
    Ok(Outcome {
        changes: vec![Change::of(&name, before.as_ref(), Some(&saved))?],
        events: vec![NewEvent {
            event_type,
            resource: name,
            payload: mutation::to_json(&saved)?,
        }],
        response: saved,
    })
}
