//! Use cases: authorise through the units service, then run the change through
//! `mutation::run` (idempotency, audit, outbox) with the domain deciding.

use fazhi_platform::aip::Page;
use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_units_client::{UnitId, UnitsClientError};
use sqlx::PgConnection;

mod claims;
mod ledger;
mod rounds;
mod stale;
mod supervision;

pub use claims::{AppealDraft, SelfAssessmentDraft};
pub use ledger::ItemStep;
pub use rounds::{BulletinParts, RoundSpec, ScoreView};
pub use stale::Changed;
pub use supervision::SupervisionDraft;

use crate::domain::{Scheme, SchemeId, StoredScheme, check_text};
use crate::error::{AssessmentError, Result};
use crate::gather::Sources;
use crate::store::{self, ManualScore, Store};

/// The assessment use cases. Cheap to clone.
#[derive(Clone)]
pub struct AssessmentBook {
    store: Store,
    sources: Sources,
}

/// Most evidence links a submission carries, and the longest.
const MAX_EVIDENCE: usize = 20;
const MAX_EVIDENCE_URI_CHARS: usize = 2000;

/// Evidence links (佐证材料): at most a few, each an http(s) address or a plans evidence name.
fn check_evidence(evidence: &[String], violations: &mut Vec<FieldViolation>) {
    violations.extend(FieldViolation::check_texts(
        "evidence_uris",
        evidence,
        (MAX_EVIDENCE, MAX_EVIDENCE_URI_CHARS),
    ));
    for (index, uri) in evidence.iter().enumerate() {
        if !fazhi_platform::text::is_evidence_address(uri) {
            violations.push(FieldViolation::new(
                format!("evidence_uris[{index}]"),
                "INVALID_URI",
                "an evidence link is an http(s) address or plans/…/assignments/…/evidence/{sha256}",
                "佐证材料链接须为 http(s) 网址或 plans/…/assignments/…/evidence/{sha256}",
            ));
        }
    }
}

impl AssessmentBook {
    pub fn new(store: Store, sources: Sources) -> Self {
        Self { store, sources }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    async fn mutate<T, P>(
        &self,
        context: &CallContext,
        target: &str,
        prepare: impl AsyncFnOnce() -> Result<P>,
        apply: impl AsyncFnOnce(&mut PgConnection, P) -> Result<Outcome<T>>,
    ) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
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

    /// Refuses unless the caller coordinates `unit` (at or above it) or is an admin; a unit
    /// that does not exist is refused alike, except to admins (AIP-211).
    async fn require_coordinator(&self, context: &CallContext, unit: &str) -> Result<()> {
        let access = match self
            .sources
            .units
            .access(context, &UnitId::from_trusted(unit.to_owned()))
            .await
        {
            Ok(access) => access,
            Err(UnitsClientError::NotFound(_)) if context.caller.has(Role::Admin) => {
                return Err(AssessmentError::invalid_field(
                    fazhi_units_client::unit_not_found("owner_unit"),
                ));
            }
            Err(UnitsClientError::NotFound(_)) => {
                return Err(PlatformError::PermissionDenied.into());
            }
            Err(error) => return Err(AssessmentError::upstream("units", error)),
        };
        if access.may_coordinate() {
            Ok(())
        } else {
            Err(PlatformError::PermissionDenied.into())
        }
    }

    /// Refuses unless the caller coordinates the scheme's owner, or works for the criterion's
    /// scoring unit (评分责任单位), when it names one.
    async fn require_scorer(
        &self,
        context: &CallContext,
        owner: &str,
        scorer_unit: Option<&str>,
    ) -> Result<()> {
        match self.require_coordinator(context, owner).await {
            Ok(()) => Ok(()),
            Err(refusal) => match scorer_unit {
                Some(unit) if self.require_work_for(context, unit).await.is_ok() => Ok(()),
                _ => Err(refusal),
            },
        }
    }

    /// Reads and checks a scheme's YAML on a blocking thread (up to 1 MiB of it).
    async fn parsed(content: String) -> Result<Scheme> {
        tokio::task::spawn_blocking(move || Scheme::from_yaml(&content))
            .await
            .map_err(|error| PlatformError::Internal(format!("scheme check: {error}")))?
            .map_err(AssessmentError::invalid)
    }

    /// Adds a scheme from its YAML: coordinators of its owner unit.
    pub async fn create_scheme(
        &self,
        context: &CallContext,
        id: &SchemeId,
        content: String,
    ) -> Result<StoredScheme> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let scheme = Self::parsed(content).await?;
                self.require_coordinator(context, &scheme.owner_unit)
                    .await?;
                Ok(scheme)
            },
            async |connection, scheme: Scheme| {
                let stored = store::insert_scheme(connection, id, &scheme).await?;
                entry_outcome(&name, "scheme.created", None, stored)
            },
        )
        .await
    }

    /// Replaces a scheme's content as its next version: coordinators of its owner unit.
    pub async fn update_scheme(
        &self,
        context: &CallContext,
        id: &SchemeId,
        etag: &str,
        content: String,
    ) -> Result<StoredScheme> {
        let name = id.name();
        self.mutate(
            context,
            &name,
            async || {
                let current = self.store.get_scheme(id).await?;
                self.require_coordinator(context, &current.scheme.owner_unit)
                    .await?;
                let scheme = Self::parsed(content).await?;
                if scheme.owner_unit != current.scheme.owner_unit {
                    return Err(AssessmentError::invalid_field(FieldViolation::new(
                        "content",
                        "OWNER_CHANGED",
                        "a scheme keeps its owner unit: create another scheme instead",
                        "考核方案的制定单位不能修改,请另建方案",
                    )));
                }
                Ok(scheme)
            },
            async |connection, scheme: Scheme| {
                let locked = store::lock_scheme(connection, id)
                    .await?
                    .ok_or_else(|| PlatformError::NotFound(name.clone()))?;
                fazhi_platform::aip::check_etag(etag, locked.version)?;
                let saved = store::save_scheme(connection, id, &scheme).await?;
                entry_outcome(&name, "scheme.updated", Some(&locked), saved)
            },
        )
        .await
    }

    /// Records a reviewer's score of a manual criterion for a unit and period, within the
    /// criterion's full marks and with a justification (C7): coordinators of the owner. A round
    /// run afterwards reads it; one run before keeps what it froze.
    pub async fn record_manual_score(
        &self,
        context: &CallContext,
        score: ManualScore,
    ) -> Result<ManualScore> {
        let name = format!("{}/manualScores/{}", score.scheme.name(), score.unit);
        self.mutate(
            context,
            &name,
            async || {
                let stored = self.store.get_scheme(&score.scheme).await?;
                let terms = stored.scheme.criterion_terms(&score.criterion);
                self.require_scorer(
                    context,
                    &stored.scheme.owner_unit,
                    terms
                        .as_ref()
                        .and_then(|terms| terms.scorer_unit.as_deref()),
                )
                .await?;
                let mut violations = Vec::new();
                match terms {
                    None => violations.push(FieldViolation::new(
                        "criterion",
                        "NOT_FOUND",
                        format!("the scheme has no criterion {}", score.criterion),
                        format!("方案中没有编号为 {} 的考核指标", score.criterion),
                    )),
                    Some(terms) if !terms.manual => violations.push(FieldViolation::new(
                        "criterion",
                        "NOT_MANUAL",
                        "only a criterion with a manual rule takes a reviewer's score",
                        "只有设有人工评分规则的指标才能评分",
                    )),
                    Some(terms) if !(0.0..=terms.max).contains(&score.score) => {
                        let max = terms.max;
                        violations.push(FieldViolation::new(
                            "score",
                            "OUT_OF_RANGE",
                            format!("a score from 0 to the criterion's {max} points"),
                            format!("评分须在 0 至本项满分 {max} 分之间"),
                        ));
                    }
                    Some(_) => {}
                }
                check_text("justification", &score.justification, &mut violations);
                if score.period.trim().is_empty() {
                    violations.push(FieldViolation::required("period"));
                }
                AssessmentError::refuse_any(violations)?;
                Ok(ManualScore {
                    scorer: context.caller.subject.clone(),
                    ..score.clone()
                })
            },
            async |connection, recorded: ManualScore| {
                store::record_manual_score(connection, &recorded).await?;
                entry_outcome(
                    &name,
                    "manual_score.recorded",
                    None::<&ManualScore>,
                    recorded,
                )
            },
        )
        .await
    }

    /// Any signed-in caller reads schemes: they are what every unit is assessed on.
    pub async fn get_scheme(&self, id: &SchemeId) -> Result<StoredScheme> {
        self.store.get_scheme(id).await
    }

    pub async fn list_schemes(
        &self,
        owner: &UnitId,
        after: Option<(i32, String)>,
        size: i64,
    ) -> Result<Page<StoredScheme, (i32, String)>> {
        self.store.list_schemes(owner.as_str(), after, size).await
    }

    /// Refuses unless the caller works for `unit` (its staff) or coordinates it.
    async fn require_work_for(&self, context: &CallContext, unit: &str) -> Result<()> {
        match self
            .sources
            .units
            .access(context, &UnitId::from_trusted(unit.to_owned()))
            .await
        {
            Ok(access) if access.may_work_for() => Ok(()),
            Ok(_) | Err(UnitsClientError::NotFound(_)) => {
                Err(PlatformError::PermissionDenied.into())
            }
            Err(error) => Err(AssessmentError::upstream("units", error)),
        }
    }

    async fn require_reader(&self, context: &CallContext, owner: &str) -> Result<()> {
        if context.caller.has(Role::Viewer) {
            return Ok(());
        }
        self.require_coordinator(context, owner).await
    }

    /// The assessment audit log for the caller: admins all of it, coordinators the records of
    /// callers in their region; anyone else is refused.
    pub async fn list_audit_records(
        &self,
        context: &CallContext,
        page: (Option<fazhi_proto::audit::v1::AuditRecordFilter>, i32, &str),
    ) -> Result<(Vec<fazhi_proto::audit::v1::AuditRecord>, String)> {
        let (pool, journal) = (self.store.pool(), self.store.journal());
        fazhi_platform::audit::list_for_caller(pool, journal, context, page, async |own: &str| {
            self.sources
                .units
                .ids_below(context, own)
                .await
                .map_err(|error| AssessmentError::upstream("units", error))
        })
        .await
    }
}

/// A listing names an office (its coordinators' view) or a unit (its own), not both or neither.
fn one_of_owner_or_unit() -> AssessmentError {
    AssessmentError::invalid_field(FieldViolation::new(
        "owner_unit",
        "ONE_OF_OWNER_OR_UNIT",
        "name either owner_unit (the office's records) or unit (a unit's own)",
        "须指定 owner_unit(台账)或 unit(本单位记录)之一",
    ))
}

/// A created or changed entry as audited and published: the event carries the entry.
fn entry_outcome<T: serde::Serialize>(
    name: &str,
    event_type: &'static str,
    before: Option<&T>,
    after: T,
) -> Result<Outcome<T>> {
    Ok(Outcome {
        changes: vec![Change::of(name, before, Some(&after))?],
        events: vec![NewEvent {
            event_type,
            resource: name.to_owned(),
            payload: mutation::to_json(&after)?,
        }],
        response: after,
    })
}
