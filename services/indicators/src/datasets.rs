//! Data sets (报表) and their returns: defining a data set, submitting a unit's return in one go
//! with every validation rule run, and the state of every return of a region for a period — the
//! list a coordinating office chases late units with (催报).

use std::collections::HashSet;

use fazhi_platform::aip::Page;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::{FieldViolation, PlatformError};
use fazhi_platform::mutation::{NewEvent, Outcome};
use fazhi_units_client::UnitId;

use crate::domain::{
    Catalogue, DataSet, DataSetChanges, DataSetId, DataValue, OverdueReturn, Period, ReturnStatus,
    ValueAction, ValueState, check_data_set, check_value, china_date, return_status, rule_breaches,
};
use crate::error::{IndicatorsError, Result};
use crate::service::{IndicatorBook, Need, period_of, unknown, value_outcome};
use crate::store;

/// The returns of a region, and the day they are due.
pub struct RegionReturns {
    pub due_date: chrono::NaiveDate,
    /// A page of the region's reporting units, by id (only outstanding ones when asked).
    pub returns: Page<ReturnStatus, String>,
    /// How many units report, and how many of them submitted on time and late.
    pub expected: usize,
    pub on_time: usize,
    pub late: usize,
}

/// A unit's values of one period as the validation rules read them.
fn rule_inputs(values: &[(String, DataValue)]) -> Vec<(&str, &str, f64)> {
    values
        .iter()
        .map(|(code, value)| (code.as_str(), value.category_option.as_str(), value.value))
        .collect()
}

impl IndicatorBook {
    /// Adds a data set: coordinators of the unit that collects it.
    pub async fn create_data_set(&self, context: &CallContext, set: DataSet) -> Result<DataSet> {
        self.create_owned(
            context,
            (&set.id.name(), &set.owner_unit, "data_set.created"),
            |catalogue| check_data_set(&set, catalogue, "data_set"),
            async |connection| store::insert_data_set(connection, &set).await,
        )
        .await
    }

    /// Changes a data set's name, elements, reporting group, due days or rules: coordinators of
    /// its owner unit. Returns already submitted keep their values; rules apply from now on.
    pub async fn update_data_set(
        &self,
        context: &CallContext,
        id: &DataSetId,
        etag: &str,
        changes: DataSetChanges,
    ) -> Result<DataSet> {
        self.change_data_set(
            context,
            (id, etag, "data_set.updated"),
            |current, catalogue| {
                let next = current.changed(changes);
                IndicatorsError::refuse_any(check_data_set(&next, catalogue, "data_set"))?;
                Ok(next)
            },
        )
        .await
    }

    /// Soft-deletes a data set: no more returns are asked for; its values stay. Coordinators of
    /// its owner unit.
    pub async fn delete_data_set(
        &self,
        context: &CallContext,
        id: &DataSetId,
        etag: &str,
    ) -> Result<DataSet> {
        let now = context.clock.now();
        self.change_data_set(context, (id, etag, "data_set.deleted"), |current, _| {
            Ok(DataSet {
                delete_time: Some(now),
                ..current.clone()
            })
        })
        .await
    }

    async fn change_data_set(
        &self,
        context: &CallContext,
        (id, etag, event_type): (&DataSetId, &str, &'static str),
        change: impl FnOnce(&DataSet, &Catalogue) -> Result<DataSet>,
    ) -> Result<DataSet> {
        self.change_owned(
            context,
            (&id.name(), etag, event_type),
            async || self.store().get_data_set(id).await,
            change,
            (
                async |connection| store::lock_data_set(connection, id).await,
                async |connection, next| store::save_data_set(connection, next).await,
            ),
        )
        .await
    }

    pub async fn get_data_set(&self, id: &DataSetId) -> Result<DataSet> {
        self.store().get_data_set(id).await
    }

    pub async fn list_data_sets(
        &self,
        after: Option<String>,
        size: i64,
    ) -> Result<Page<DataSet, String>> {
        self.store().list_data_sets(after, size).await
    }

    /// The data set a field names, or a violation of that field.
    async fn data_set_named(&self, field: &str, id: &DataSetId) -> Result<DataSet> {
        match self.store().get_data_set(id).await {
            Err(IndicatorsError::Platform(PlatformError::NotFound(_))) => {
                Err(unknown(field, &id.name()))
            }
            Ok(set) if set.delete_time.is_some() => Err(unknown(field, &id.name())),
            other => other,
        }
    }

    /// A period of the data set's type, or a violation of `period`.
    fn period_for(set: &DataSet, text: &str) -> Result<Period> {
        let period = period_of("period", text)?;
        if period.period_type == set.period_type {
            return Ok(period);
        }
        Err(IndicatorsError::invalid_field(FieldViolation::new(
            "period",
            "WRONG_PERIOD_TYPE",
            format!(
                "{} is reported per {} period",
                set.code,
                set.period_type.as_str()
            ),
            format!("报表 {} 按{}填报", set.code, set.period_type.word()),
        )))
    }

    /// The units of `region` (itself included) that report `set` for `period`: the members of
    /// its reporting group, or every unit below the unit that collects it.
    async fn reporters(
        &self,
        context: &CallContext,
        set: &DataSet,
        region: &UnitId,
        period: &Period,
    ) -> Result<Vec<String>> {
        let ids = |found: Vec<(UnitId, String)>| -> Vec<String> {
            found
                .into_iter()
                .map(|(unit, _)| unit.as_str().to_owned())
                .collect()
        };
        let below = ids(self
            .units()
            .descendants(context, region, period.end)
            .await?);
        let mut units = vec![region.as_str().to_owned()];
        units.extend(below.iter().cloned());
        let reporting: HashSet<String> = match &set.reporting_group {
            Some(group) => {
                self.group_members(context, group, &set.owner_unit, period)
                    .await?
            }
            // Every unit below the owner: for the owner's own region, the units just listed.
            None if region.as_str() == set.owner_unit => below.into_iter().collect(),
            None => {
                let owner = UnitId::from_trusted(set.owner_unit.clone());
                ids(self
                    .units()
                    .descendants(context, &owner, period.end)
                    .await?)
                .into_iter()
                .collect()
            }
        };
        units.retain(|unit| reporting.contains(unit));
        Ok(units)
    }

    /// The return of every unit of `region` that reports `set` for `period` (its values stored
    /// under `period_id`), as of the call's clock.
    async fn region_returns(
        &self,
        context: &CallContext,
        (set, region): (&DataSet, &UnitId),
        (period, period_id): (&Period, &str),
    ) -> Result<Vec<ReturnStatus>> {
        let units = self.reporters(context, set, region, period).await?;
        let unit_refs: Vec<&str> = units.iter().map(String::as_str).collect();
        let mut values = self
            .store()
            .return_values(&set.data_element_codes, &unit_refs, period_id)
            .await?;
        let now = context.clock.now();
        Ok(units
            .iter()
            .map(|unit| {
                let values = values.remove(unit).unwrap_or_default();
                return_status(set, unit, period, &values, now)
            })
            .collect())
    }

    /// Submits a unit's return: every element has a value, every value passes its checks and
    /// every rule of the data set holds, and then each draft or returned value is submitted, all
    /// in one transaction. Its staff or coordinators. Answers every value of the return.
    pub async fn submit_return(
        &self,
        context: &CallContext,
        id: &DataSetId,
        unit: &UnitId,
        period_text: &str,
    ) -> Result<Vec<DataValue>> {
        self.mutate(
            context,
            &format!("{}/returns/{}/{period_text}", id.name(), unit.as_str()),
            async || {
                let set = self.data_set_named("data_set", id).await?;
                self.authorize(context, unit, Need::WorkFor).await?;
                let period = Self::period_for(&set, period_text)?;
                if !self
                    .reporters(context, &set, unit, &period)
                    .await?
                    .iter()
                    .any(|reporter| reporter == unit.as_str())
                {
                    return Err(IndicatorsError::invalid_field(FieldViolation::new(
                        "unit",
                        "NOT_A_REPORTER",
                        format!("{} does not report {}", unit.name(), set.code),
                        format!("{} 不是报表 {} 的填报单位", unit.name(), set.code),
                    )));
                }
                let elements = self
                    .store()
                    .elements_by_code(&set.data_element_codes)
                    .await?;
                Ok((set, elements))
            },
            async |connection, (set, elements): (DataSet, Vec<crate::domain::DataElement>)| {
                let values = store::unit_period_values(
                    &mut *connection,
                    &set.data_element_codes,
                    unit.as_str(),
                    period_text,
                    true,
                )
                .await?;
                let mut violations: Vec<FieldViolation> = set
                    .data_element_codes
                    .iter()
                    .filter(|code| values.iter().all(|(reported, _)| reported != *code))
                    .map(|code| {
                        FieldViolation::new(
                            format!("data_values[{code}]"),
                            "MISSING_VALUE",
                            format!("{code} has no value for {period_text}"),
                            format!("数据项 {code} 尚未填报 {period_text} 的数据"),
                        )
                    })
                    .collect();
                for (code, value) in &values {
                    if let Some(element) = elements.iter().find(|element| &element.code == code) {
                        violations.extend(check_value(
                            element,
                            value.value,
                            &format!("data_values[{code}]"),
                        ));
                    }
                }
                violations.extend(rule_breaches(
                    std::slice::from_ref(&set),
                    None,
                    &rule_inputs(&values),
                ));
                IndicatorsError::refuse_any(violations)?;
                let subject = &context.caller.subject;
                let mut outcome = Outcome {
                    response: Vec::new(),
                    changes: Vec::new(),
                    events: Vec::new(),
                };
                for (_, value) in values {
                    if !matches!(value.state, ValueState::Draft | ValueState::Returned) {
                        outcome.response.push(value);
                        continue;
                    }
                    let submitted = value.clone().submit(subject)?;
                    let saved =
                        store::update_value(connection, &submitted, ValueAction::Submitted).await?;
                    let one = value_outcome(saved, Some(value), ValueAction::Submitted)?;
                    let submitted = outcome.absorb(one);
                    outcome.response.push(submitted);
                }
                Ok(outcome)
            },
        )
        .await
    }

    /// The validation rules that read a value's element and fail with its unit's values of its
    /// period, as they stand in the transaction (run when the value is submitted).
    pub(crate) async fn rules_failing_on(
        &self,
        connection: &mut sqlx::PgConnection,
        sets: &[DataSet],
        value: &DataValue,
        code: &str,
    ) -> Result<Vec<FieldViolation>> {
        let Some(unit) = &value.unit else {
            return Ok(Vec::new());
        };
        let codes: Vec<String> = sets
            .iter()
            .flat_map(|set| set.rules_reading(Some(code)))
            .flat_map(|(_, rule)| rule.codes())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let values =
            store::unit_period_values(connection, &codes, unit, &value.period, false).await?;
        Ok(rule_breaches(sets, Some(code), &rule_inputs(&values)))
    }

    /// The data-entry form of a data set for a unit and period, with its file name: the unit's
    /// staff or coordinators.
    pub async fn data_entry_form(
        &self,
        context: &CallContext,
        id: &DataSetId,
        unit: &UnitId,
        period_text: &str,
    ) -> Result<(Vec<u8>, String)> {
        let decision = self.authorize(context, unit, Need::WorkFor).await;
        self.audit_read_refusal(context, &unit.name(), decision)
            .await?;
        let set = self.data_set_named("data_set", id).await?;
        let period = Self::period_for(&set, period_text)?;
        let unit_name = self
            .units()
            .display_name(context, unit)
            .await?
            .unwrap_or_else(|| unit.as_str().to_owned());
        let elements = self
            .store()
            .elements_by_code(&set.data_element_codes)
            .await?;
        let values = store::unit_period_values(
            self.store().reads(),
            &set.data_element_codes,
            unit.as_str(),
            period_text,
            false,
        )
        .await?;
        let file_name = format!("{}-{unit_name}-{period_text}.xlsx", set.display_name);
        let unit_id = unit.as_str().to_owned();
        let period_id = period_text.to_owned();
        // Building the workbook is CPU work: off the async runtime.
        let content = tokio::task::spawn_blocking(move || {
            crate::form::write(
                &crate::form::FormFor {
                    data_set: &set,
                    unit: &unit_id,
                    unit_name: &unit_name,
                    period: &period_id,
                    due_date: set.due_date(&period),
                },
                &elements,
                &values,
            )
        })
        .await
        .map_err(|error| PlatformError::Internal(format!("form writer failed: {error}")))?
        .map_err(|error| PlatformError::Internal(format!("form not writable: {error}")))?;
        Ok((content, file_name))
    }

    /// 催报: for each data set whose latest period fell due and was not swept yet, a
    /// `return.overdue` event for every reporting unit that has not submitted its return, in one
    /// transaction with the record of the sweep (so each is published once, whichever replica
    /// sweeps). Answers how many were found overdue.
    pub async fn chase_overdue_returns(&self, context: &CallContext) -> Result<usize> {
        let now = context.clock.now();
        let mut found = 0;
        for set in self.store().all_data_sets().await? {
            let Some(period) = set.last_period_due(china_date(now)) else {
                continue;
            };
            let period_id = period.id();
            if self.store().swept(&set.id, &period_id).await? {
                continue;
            }
            let region = UnitId::from_trusted(set.owner_unit.clone());
            let mut overdue = self
                .region_returns(context, (&set, &region), (&period, &period_id))
                .await?;
            overdue.retain(|found| found.overdue);
            let name = format!("{}/returns/{period_id}", set.id.name());
            found += self
                .mutate(
                    context,
                    &name,
                    async || Ok(()),
                    async |connection, ()| {
                        if !store::record_sweep(connection, &set.id, &period_id, overdue.len())
                            .await?
                        {
                            return Ok(Outcome {
                                response: 0,
                                changes: Vec::new(),
                                events: Vec::new(),
                            });
                        }
                        let events = overdue
                            .iter()
                            .map(|late| {
                                Ok(NewEvent {
                                    event_type: "return.overdue",
                                    resource: format!("{name}/units/{}", late.unit),
                                    payload: fazhi_platform::mutation::to_json(&OverdueReturn {
                                        data_set: set.id.clone(),
                                        unit: late.unit.clone(),
                                        period: period_id.clone(),
                                        due_date: late.due_date,
                                        state: late.state,
                                        missing_data_element_codes: late.missing_codes.clone(),
                                    })?,
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        Ok(Outcome {
                            response: overdue.len(),
                            changes: Vec::new(),
                            events,
                        })
                    },
                )
                .await?;
        }
        Ok(found)
    }

    /// The returns of every unit of a region that reports a data set, for a period: what is
    /// missing, late, overdue. Those who may read the region.
    pub async fn list_returns(
        &self,
        context: &CallContext,
        id: &DataSetId,
        region: &UnitId,
        period_text: &str,
        outstanding_only: bool,
        (after, size): (Option<String>, i64),
    ) -> Result<RegionReturns> {
        let decision = self.authorize(context, region, Need::Read).await;
        self.audit_read_refusal(context, &region.name(), decision)
            .await?;
        let set = self.data_set_named("data_set", id).await?;
        let period = Self::period_for(&set, period_text)?;
        let mut returns = self
            .region_returns(context, (&set, region), (&period, period_text))
            .await?;
        returns.sort_by(|left, right| left.unit.cmp(&right.unit));
        let submitted = returns.iter().filter(|found| !found.outstanding());
        let late = submitted.clone().filter(|found| found.late).count();
        let on_time = submitted.count() - late;
        let expected = returns.len();
        returns.retain(|found| {
            (!outstanding_only || found.outstanding())
                && after.as_ref().is_none_or(|after| &found.unit > after)
        });
        Ok(RegionReturns {
            due_date: set.due_date(&period),
            returns: Page::from_overfetch(returns, size, |last| last.unit.clone()),
            expected,
            on_time,
            late,
        })
    }
}
