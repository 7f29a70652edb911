//! Evaluating every target that applies in a region for every unit of it: the figures of all
//! units read in one statement per element and window, then judged unit by unit off the async
//! runtime.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::PlatformError;
use fazhi_units_client::{Access, UnitId, UnitsClientError};

use crate::domain::{
    Bases, Evaluation, IndicatorId, Period, Target, TargetId, evaluate_each, indicator_needs, needs,
};
use crate::error::{IndicatorsError, Result};
use crate::service::IndicatorBook;

/// Verdicts per page sent, and how many pages may wait for the caller.
pub const PAGE_SIZE: usize = 1000;
const PAGES_AHEAD: usize = 32;

/// One unit's verdict on one target.
#[derive(Debug, Clone)]
pub struct UnitEvaluation<'a> {
    /// The unit's id.
    pub unit: &'a str,
    pub evaluation: Evaluation,
}

/// What to evaluate: the region, the period, the values counted, the targets (empty: all).
pub struct RegionQuery {
    pub region: UnitId,
    pub period: Period,
    pub include_submitted: bool,
    pub targets: Vec<TargetId>,
    /// With each verdict's explanation.
    pub detailed: bool,
}

/// One unit's value of one indicator.
#[derive(Debug, Clone)]
pub struct UnitIndicatorValue<'a> {
    /// The unit's id.
    pub unit: &'a str,
    pub indicator: &'a IndicatorId,
    pub value: Option<f64>,
}

impl IndicatorBook {
    /// The caller's access to a region it reads as a whole: its coordinators and viewers; a
    /// refusal is audited.
    async fn region_access(&self, context: &CallContext, region: &UnitId) -> Result<Access> {
        let access = match self.units().access(context, region).await {
            Err(UnitsClientError::NotFound(_)) => Err(PlatformError::PermissionDenied.into()),
            other => other.map_err(IndicatorsError::from),
        };
        let allowed = access
            .as_ref()
            .is_ok_and(|access| access.may_coordinate() || context.caller.has(Role::Viewer));
        let decision = match access {
            Ok(access) if allowed => Ok(access),
            Ok(_) => Err(PlatformError::PermissionDenied.into()),
            Err(error) => Err(error),
        };
        self.audit_read_refusal(context, &region.name(), decision)
            .await
    }

    /// Each unit's own value of each indicator, for every unit of the region and one period, in
    /// pages as they are worked out (by indicator, then unit): the figures of every unit read
    /// once, as for [`Self::evaluate_region`]. Its coordinators and viewers.
    pub async fn region_indicator_values<T: Send + 'static>(
        &self,
        context: &CallContext,
        (region, period, include_submitted): (&UnitId, Period, bool),
        indicators: &[IndicatorId],
        convert: impl Fn(&[UnitIndicatorValue<'_>]) -> T + Send + Sync + 'static,
    ) -> Result<tokio::sync::mpsc::Receiver<T>> {
        self.region_access(context, region).await?;
        let catalogue = self.catalogue().await?;
        let mut chosen = Vec::new();
        for id in indicators {
            chosen.push(
                catalogue
                    .indicator(id)
                    .cloned()
                    .ok_or_else(|| PlatformError::NotFound(id.name()))?,
            );
        }
        let needed: std::collections::BTreeSet<_> = chosen
            .iter()
            .flat_map(|indicator| indicator_needs(indicator, None, &period))
            .collect();
        let (below, figures) = tokio::join!(
            self.units().descendants(context, region, period.end),
            self.read_figures(&needed, &catalogue, None, include_submitted),
        );
        let mut figures = figures?;
        self.count_groups(context, &needed, &mut figures, region.as_str(), &period)
            .await?;
        let mut units = vec![region.as_str().to_owned()];
        units.extend(below?.into_iter().map(|(unit, _)| unit.as_str().to_owned()));
        let (pages, receiver) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        // Working out every unit's values is CPU work: off the async runtime, a page at a time.
        tokio::task::spawn_blocking(move || {
            for indicator in &chosen {
                for page in units.chunks(PAGE_SIZE) {
                    let values: Vec<UnitIndicatorValue<'_>> = page
                        .iter()
                        .map(|unit| UnitIndicatorValue {
                            unit: unit.as_str(),
                            indicator: &indicator.id,
                            value: figures
                                .indicator(indicator, None, std::slice::from_ref(unit), &period)
                                .value,
                        })
                        .collect();
                    // The caller went away: stop.
                    if pages.blocking_send(convert(&values)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(receiver)
    }

    /// Every applying target for every unit of the region, in pages as they are judged (in no
    /// particular order), each page made into what the caller sends by `convert` on the judging
    /// threads: its coordinators and viewers.
    pub async fn evaluate_region<T: Send + 'static>(
        &self,
        context: &CallContext,
        query: RegionQuery,
        convert: impl Fn(&[UnitEvaluation<'_>]) -> T + Send + Sync + 'static,
    ) -> Result<tokio::sync::mpsc::Receiver<T>> {
        let access = self.region_access(context, &query.region).await?;
        let catalogue = self.catalogue().await?;
        let candidates: Vec<_> = catalogue
            .targets
            .iter()
            .filter(|target| query.targets.is_empty() || query.targets.contains(&target.id))
            .collect();
        let needed = needs(&candidates, &catalogue, &query.period);
        // The region's units and the figures are read at once: the figures of every unit (a
        // region is most of the data read), kept for the region's units below.
        let (below, figures) = tokio::join!(
            self.units()
                .descendants(context, &query.region, query.period.end),
            self.read_figures(&needed, &catalogue, None, query.include_submitted),
        );
        let mut figures = figures?;
        figures.detailed = query.detailed;
        self.count_groups(
            context,
            &needed,
            &mut figures,
            query.region.as_str(),
            &query.period,
        )
        .await?;
        let mut units = vec![query.region.as_str().to_owned()];
        units.extend(below?.into_iter().map(|(unit, _)| unit.as_str().to_owned()));
        let in_region: HashSet<&str> = units.iter().map(String::as_str).collect();
        let mut chosen = Vec::new();
        for target in candidates {
            // Set by the region or a region above it: every unit; by a unit inside: those below it.
            let applying: Vec<String> = if access.is_within(&target.owner_unit) {
                let mut applying = units.clone();
                if let Some(group) = &target.applies_to_group {
                    let members = self
                        .group_members(context, group, &target.owner_unit, &query.period)
                        .await?;
                    applying.retain(|unit| members.contains(unit));
                }
                applying
            } else if in_region.contains(target.owner_unit.as_str()) {
                self.applying_units(context, target, &query.period).await?
            } else {
                continue;
            };
            // A relative target compares with every unit it applies to, in the region or not
            // (the figures of every unit are read).
            let peers = if !Bases::needed(target, &catalogue) {
                Vec::new()
            } else if target.owner_unit == query.region.as_str()
                || !access.is_within(&target.owner_unit)
            {
                applying.clone()
            } else {
                self.applying_units(context, target, &query.period).await?
            };
            chosen.push((target.id.clone(), applying, peers));
        }
        let period = query.period;
        let (pages, receiver) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        // Judging every unit is CPU work: off the async runtime, so no other call waits for it,
        // spread over the machine's cores, and sent a page at a time as it is done, so the
        // first verdicts travel while the last are judged.
        tokio::task::spawn_blocking(move || {
            let by_id: HashMap<&TargetId, _> = catalogue
                .targets
                .iter()
                .map(|target| (&target.id, target))
                .collect();
            let bases: HashMap<&TargetId, Bases> = chosen
                .iter()
                .filter_map(|(id, _, peers)| {
                    let target = by_id.get(id)?;
                    Some((
                        id,
                        Bases::over(target, &catalogue, &figures, peers, &period),
                    ))
                })
                .collect();
            let no_bases = Bases::default();
            // Pages of one target each: its figures are looked up once per page.
            let work: Vec<(&Target, &[String], &Bases)> = chosen
                .iter()
                .filter_map(|(id, applying, _)| {
                    by_id
                        .get(id)
                        .map(|target| (*target, applying, bases.get(id).unwrap_or(&no_bases)))
                })
                .flat_map(|(target, applying, bases)| {
                    applying
                        .chunks(PAGE_SIZE)
                        .map(move |units| (target, units, bases))
                })
                .collect();
            let next = AtomicUsize::new(0);
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        while let Some(page) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let (target, units, bases) = *page;
                            let judged: Vec<UnitEvaluation<'_>> =
                                evaluate_each(target, &catalogue, &figures, units, &period, bases)
                                    .into_iter()
                                    .zip(units)
                                    .map(|(evaluation, unit)| UnitEvaluation {
                                        unit: unit.as_str(),
                                        evaluation,
                                    })
                                    .collect();
                            // The caller went away: stop judging.
                            if pages.blocking_send(convert(&judged)).is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        });
        Ok(receiver)
    }
}
