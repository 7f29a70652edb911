//! What a round gathers before it scores: the members of the scheme's peer groups (units),
//! the targets' verdicts and the figures (indicators), the assignments (plans), each asked as
//! the caller who runs the round, and frozen with where it came from.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use fazhi_plans_client::PlansClient;
use fazhi_platform::call::CallContext;
use fazhi_platform::telemetry::TraceContextInterceptor;
use fazhi_platform::upstream::{UpstreamError, outbound};
use fazhi_proto::indicators::v1 as indicators;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use fazhi_proto::plans::v1 as plans;
use fazhi_units_client::{UnitId, UnitsClient};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::domain::{Frozen, Input, Member, Needs, Scheme, UnitInputs, Verdict};
use crate::error::{AssessmentError, Result};

type Indicators = IndicatorsServiceClient<InterceptedService<Channel, TraceContextInterceptor>>;

/// The three services a round reads. Cheap to clone.
#[derive(Clone)]
pub struct Sources {
    pub units: UnitsClient,
    pub plans: PlansClient,
    indicators: Indicators,
}

fn indicators_error(error: UpstreamError) -> AssessmentError {
    AssessmentError::upstream("indicators", error)
}

/// What the indicators service's refusal of a stream for `period` means here.
fn refused(period: &str) -> impl Fn(tonic::Status) -> AssessmentError + '_ {
    move |status| indicators_error(UpstreamError::from_status(&status, period))
}

impl Sources {
    /// Connects on first use, so services can start in any order.
    pub fn new(units: UnitsClient, plans: PlansClient, indicators_endpoint: &str) -> Result<Self> {
        let channel = Endpoint::from_shared(indicators_endpoint.to_owned())
            .map_err(|error| {
                indicators_error(UpstreamError::Unavailable(format!("bad endpoint: {error}")))
            })?
            .connect_lazy();
        Ok(Self {
            units,
            plans,
            indicators: IndicatorsServiceClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(64 << 20),
        })
    }

    /// The indicators service's events after `after_sequence`, as they commit.
    pub async fn indicator_events(
        &self,
        context: &CallContext,
        after_sequence: i64,
    ) -> Result<tonic::Streaming<indicators::WatchEventsResponse>> {
        Ok(self
            .indicators
            .clone()
            .watch_events(
                outbound(indicators::WatchEventsRequest { after_sequence }, context)
                    .map_err(indicators_error)?,
            )
            .await
            .map_err(|status| indicators_error(UpstreamError::from_status(&status, "events")))?
            .into_inner())
    }

    /// The units to score, each in the first of the scheme's peer groups it belongs to.
    pub async fn members(
        &self,
        context: &CallContext,
        scheme: &Scheme,
        as_of: NaiveDate,
    ) -> Result<Vec<Member>> {
        let owner = UnitId::from_trusted(scheme.owner_unit.clone());
        let mut seen = BTreeSet::new();
        let mut members = Vec::new();
        for group in &scheme.peer_groups {
            let found = self
                .units
                .members(
                    context,
                    &format!(
                        "unitGroups/{}",
                        group.unit_group.trim_start_matches("unitGroups/")
                    ),
                    &owner,
                    as_of,
                )
                .await
                .map_err(|error| AssessmentError::upstream("units", error))?;
            for (unit, display_name) in found {
                if seen.insert(unit.as_str().to_owned()) {
                    members.push(Member {
                        unit: unit.as_str().to_owned(),
                        display_name,
                        peer_group: group.code.clone(),
                    });
                }
            }
        }
        Ok(members)
    }

    /// Every input the scheme needs for every member, by unit.
    pub async fn inputs(
        &self,
        context: &CallContext,
        (scheme, needs): (&Scheme, &Needs),
        members: &[Member],
        (period, today): (&str, NaiveDate),
    ) -> Result<BTreeMap<String, UnitInputs>> {
        let mut inputs: BTreeMap<String, UnitInputs> = members
            .iter()
            .map(|member| (member.unit.clone(), UnitInputs::new()))
            .collect();
        if !needs.targets.is_empty() {
            self.verdicts(context, scheme, needs, period, &mut inputs)
                .await?;
        }
        if !needs.indicators.is_empty() {
            self.figures(context, (scheme, needs), period, &mut inputs)
                .await?;
        }
        for plan in &needs.plans {
            self.tasks(context, plan, today, &mut inputs).await?;
        }
        Ok(inputs)
    }

    /// The targets' verdicts for every unit of the owner's region, in one stream.
    async fn verdicts(
        &self,
        context: &CallContext,
        scheme: &Scheme,
        needs: &Needs,
        period: &str,
        inputs: &mut BTreeMap<String, UnitInputs>,
    ) -> Result<()> {
        let mut stream = self
            .indicators
            .clone()
            .evaluate_region(
                outbound(
                    indicators::EvaluateRegionRequest {
                        unit: format!("units/{}", scheme.owner_unit),
                        period: period.to_owned(),
                        targets: needs.targets.iter().cloned().collect(),
                        view: indicators::EvaluationView::Full as i32,
                        include_submitted: false,
                    },
                    context,
                )
                .map_err(indicators_error)?,
            )
            .await
            .map_err(refused(period))?
            .into_inner();
        while let Some(page) = stream.message().await.map_err(refused(period))? {
            for evaluation in page.evaluations {
                let unit = evaluation.unit.trim_start_matches("units/");
                let Some(unit_inputs) = inputs.get_mut(unit) else {
                    continue;
                };
                let verdict = match indicators::TargetStatus::try_from(evaluation.status) {
                    Ok(indicators::TargetStatus::Met) => Verdict::Met,
                    Ok(indicators::TargetStatus::NotMet) => Verdict::NotMet,
                    Ok(indicators::TargetStatus::NotApplicable) => Verdict::NotApplicable,
                    _ => Verdict::NoData,
                };
                unit_inputs.insert(
                    evaluation.target.clone(),
                    Frozen {
                        source: format!(
                            "{} {period}:{}",
                            evaluation.target, evaluation.explanation
                        ),
                        input: Input::Verdict {
                            verdict,
                            value: evaluation.value,
                            threshold: None,
                            explanation: evaluation.explanation,
                        },
                    },
                );
            }
        }
        Ok(())
    }

    /// Each figure for each unit of the owner's region, in one stream; a figure without a
    /// value is left out (the rule then reads it as not shown).
    async fn figures(
        &self,
        context: &CallContext,
        (scheme, needs): (&Scheme, &Needs),
        period: &str,
        inputs: &mut BTreeMap<String, UnitInputs>,
    ) -> Result<()> {
        let mut stream = self
            .indicators
            .clone()
            .evaluate_region_indicators(
                outbound(
                    indicators::EvaluateRegionIndicatorsRequest {
                        unit: format!("units/{}", scheme.owner_unit),
                        period: period.to_owned(),
                        indicators: needs.indicators.iter().cloned().collect(),
                        include_submitted: false,
                    },
                    context,
                )
                .map_err(indicators_error)?,
            )
            .await
            .map_err(refused(period))?
            .into_inner();
        while let Some(page) = stream.message().await.map_err(refused(period))? {
            for found in page.values {
                let unit = found.unit.trim_start_matches("units/");
                if let (Some(number), Some(unit_inputs)) = (found.value, inputs.get_mut(unit)) {
                    unit_inputs.insert(
                        found.indicator.clone(),
                        Frozen {
                            input: Input::Number(number),
                            source: format!("{} units/{unit} {period}", found.indicator),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Each unit's assignments of a plan: how many, how many completed by their due date, how
    /// many past it and not completed on `today`.
    async fn tasks(
        &self,
        context: &CallContext,
        plan: &str,
        today: NaiveDate,
        inputs: &mut BTreeMap<String, UnitInputs>,
    ) -> Result<()> {
        let assignments = self
            .plans
            .assignments(context, plan)
            .await
            .map_err(|error| AssessmentError::upstream("plans", error))?;
        let mut counts: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new();
        for assignment in &assignments {
            let unit = assignment.unit.trim_start_matches("units/");
            let due = NaiveDate::parse_from_str(&assignment.due_date, "%Y-%m-%d").ok();
            let completed = assignment.state == plans::AssignmentState::Completed as i32;
            let finished_on = assignment.progress_time.as_ref().and_then(|time| {
                chrono::DateTime::from_timestamp(time.seconds, 0).map(|time| time.date_naive())
            });
            let count = counts.entry(unit).or_default();
            count.0 += 1;
            if completed && due.is_none_or(|due| finished_on.is_some_and(|day| day <= due)) {
                count.1 += 1;
            }
            if !completed && due.is_some_and(|due| due < today) {
                count.2 += 1;
            }
        }
        for (unit, unit_inputs) in inputs.iter_mut() {
            let (total, on_time, overdue) = counts.get(unit.as_str()).copied().unwrap_or_default();
            unit_inputs.insert(
                plan.to_owned(),
                Frozen {
                    input: Input::Tasks {
                        on_time,
                        total,
                        overdue,
                    },
                    source: format!(
                        "{plan}:任务 {total} 项,按时完成 {on_time} 项,逾期 {overdue} 项(截至 {today})"
                    ),
                },
            );
        }
        Ok(())
    }
}
