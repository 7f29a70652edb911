//! Bulk ingest as a use case: a stream of request messages from one source, each message's rows
//! checked (every problem a field violation of its row), authorised against the caller's units
//! decided once per stream, then applied in one transaction per message.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fazhi_platform::auth::Role;
use fazhi_platform::call::CallContext;
use fazhi_platform::error::FieldViolation;
use fazhi_platform::mutation::{self, Change, NewEvent, Outcome};
use fazhi_units_client::{UnitId, UnitsClientError};
use sha2::{Digest, Sha256};

use crate::domain::{DataElement, DataElementId, DataValueId, ValueInput, check_input};
use crate::error::{IndicatorsError, Result};
use crate::service::IndicatorBook;
use crate::store::{self, Applied, IngestRow};

/// Most rows in one request message.
pub const MAX_ROWS_PER_MESSAGE: usize = 10_000;
const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// A row as the sending system wrote it.
#[derive(Debug, Clone, Default)]
pub struct RowInput {
    pub external_id: String,
    /// `dataElements/{data_element}`
    pub data_element: String,
    /// `units/{unit}`, or empty.
    pub unit: String,
    pub period: String,
    pub category_option: String,
    pub value: f64,
    pub text: String,
    pub comment: String,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    Accepted(DataValueId),
    Unchanged(DataValueId),
    Rejected(Vec<FieldViolation>),
}

/// One row's answer, by its place in the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    pub index: i64,
    pub external_id: String,
    pub outcome: RowOutcome,
}

/// Which units the caller may report for, decided once per stream.
enum UnitScope {
    /// Admins: any unit the registry has (checked once per unit).
    Any(HashMap<String, bool>),
    /// Coordinators: their unit and every unit below it; staff: their own unit.
    Within(HashSet<String>),
}

/// One ingest stream.
pub struct IngestSession {
    book: IndicatorBook,
    context: CallContext,
    /// The time each message may take, as a unary call would have.
    budget: Option<Duration>,
    source: Option<String>,
    elements: HashMap<String, DataElement>,
    scope: Option<UnitScope>,
    next_index: i64,
}

fn violation(field: &str, reason: &'static str, en: &str, zh: &str) -> FieldViolation {
    FieldViolation::new(field, reason, en, zh)
}

fn fingerprint(row: &RowInput, submit: bool) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [
        &row.data_element,
        &row.unit,
        &row.period,
        &row.category_option,
        &row.comment,
        &row.text,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hasher.update(row.value.to_bits().to_be_bytes());
    hasher.update([u8::from(submit)]);
    hasher.finalize().to_vec()
}

impl IngestSession {
    pub fn new(book: IndicatorBook, context: CallContext) -> Self {
        Self {
            budget: context.remaining(),
            book,
            context,
            source: None,
            elements: HashMap::new(),
            scope: None,
            next_index: 0,
        }
    }

    /// Checks one request message's rows; [`Batch::commit`] writes them. Apart, so the next
    /// message can be received and checked while this one is written.
    pub async fn prepare(
        &mut self,
        source: &str,
        submit: bool,
        rows: Vec<RowInput>,
    ) -> Result<Batch> {
        let source = self.check_source(source)?;
        if rows.len() > MAX_ROWS_PER_MESSAGE {
            return Err(IndicatorsError::invalid_field(FieldViolation::too_many(
                "rows",
                MAX_ROWS_PER_MESSAGE,
            )));
        }
        // Each message is bounded like a unary call: its statements and calls get the budget anew.
        let mut context = self.context.clone();
        context.deadline = self
            .budget
            .map(|budget| tokio::time::Instant::now() + budget);
        if self.elements.is_empty() {
            self.elements = self
                .book
                .store()
                .all_elements()
                .await?
                .into_iter()
                .map(|element| (element.id.name(), element))
                .collect();
        }
        let first_index = self.next_index;
        self.next_index += i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let mut results: Vec<RowResult> = Vec::with_capacity(rows.len());
        let mut checked: Vec<(usize, IngestRow)> = Vec::with_capacity(rows.len());
        let (mut keys, mut external_ids) = (HashSet::new(), HashSet::new());
        for (position, row) in rows.into_iter().enumerate() {
            let index = first_index + i64::try_from(position).unwrap_or(i64::MAX);
            let outcome = match self.check_row(&context, &row, submit).await? {
                Ok(ingest_row) => {
                    let key = (
                        ingest_row.data_element.clone(),
                        ingest_row.unit.clone(),
                        ingest_row.period_id.clone(),
                        ingest_row.category_option.clone(),
                    );
                    if !keys.insert(key) || !external_ids.insert(ingest_row.external_id.clone()) {
                        RowOutcome::Rejected(vec![violation(
                            "external_id",
                            "DUPLICATE_ROW",
                            "an earlier row of this message has the same value key or external id",
                            "本批次中已有相同数据项、单位、周期和分类或相同外部编号的行",
                        )])
                    } else {
                        checked.push((results.len(), ingest_row));
                        RowOutcome::Rejected(Vec::new())
                    }
                }
                Err(violations) => RowOutcome::Rejected(violations),
            };
            results.push(RowResult {
                index,
                external_id: row.external_id,
                outcome,
            });
        }
        Ok(Batch {
            book: self.book.clone(),
            context,
            source,
            submit,
            results,
            checked,
        })
    }

    fn check_source(&mut self, source: &str) -> Result<String> {
        match (&self.source, source) {
            (Some(known), "") => Ok(known.clone()),
            (Some(known), given) if known == given => Ok(known.clone()),
            (Some(_), _) => Err(IndicatorsError::invalid_field(violation(
                "source",
                "SOURCE_CHANGED",
                "a stream has one source",
                "同一次导入只能有一个数据来源",
            ))),
            (None, "") => Err(IndicatorsError::invalid_field(FieldViolation::required(
                "source",
            ))),
            (None, given) => {
                if let Some(found) =
                    FieldViolation::check_texts("source", &[given.to_owned()], (1, 100)).pop()
                {
                    return Err(IndicatorsError::invalid_field(found));
                }
                self.source = Some(given.to_owned());
                Ok(given.to_owned())
            }
        }
    }

    /// A row's problems, or the row ready to write. `Err` of the outer result: a fault of ours.
    async fn check_row(
        &mut self,
        context: &CallContext,
        row: &RowInput,
        submit: bool,
    ) -> Result<std::result::Result<IngestRow, Vec<FieldViolation>>> {
        let mut violations = Vec::new();
        if row.external_id.is_empty() {
            violations.push(FieldViolation::required("external_id"));
        } else if row.external_id.chars().count() > MAX_EXTERNAL_ID_CHARS {
            violations.push(FieldViolation::too_long(
                "external_id",
                MAX_EXTERNAL_ID_CHARS,
            ));
        }
        let Some(element) = self.elements.get(&row.data_element).cloned() else {
            violations.push(
                match DataElementId::from_required_name("data_element", &row.data_element) {
                    Err(found) => found,
                    Ok(id) => violation(
                        "data_element",
                        "NOT_FOUND",
                        &format!("{} does not exist", id.name()),
                        &format!("{} 不存在", id.name()),
                    ),
                },
            );
            return Ok(Err(violations));
        };
        let unit = match row.unit.as_str() {
            "" => None,
            name => match UnitId::from_name("unit", name) {
                Ok(unit) => Some(unit),
                Err(found) => {
                    violations.push(found);
                    return Ok(Err(violations));
                }
            },
        };
        let checked = check_input(
            &element,
            &ValueInput {
                has_unit: unit.is_some(),
                period: &row.period,
                category_option: &row.category_option,
                value: row.value,
                text: &row.text,
                comment: &row.comment,
                evidence: &[],
            },
        );
        let allowed = match (&unit, element.central) {
            (Some(unit), false) => self.may_report_for(context, unit).await?,
            (None, true) => context.caller.has(Role::Admin),
            _ => true,
        };
        if !allowed {
            violations.push(violation(
                "unit",
                "PERMISSION_DENIED",
                "the caller may not report for this unit",
                "无权为该单位填报",
            ));
        }
        match checked {
            Err(found) => violations.extend(found),
            Ok((period, reading)) if violations.is_empty() => {
                return Ok(Ok(IngestRow {
                    external_id: row.external_id.clone(),
                    data_element: element.id.as_str().to_owned(),
                    unit: unit
                        .map(|unit| unit.as_str().to_owned())
                        .unwrap_or_default(),
                    period,
                    period_id: row.period.clone(),
                    category_option: row.category_option.clone(),
                    value: reading.value,
                    text: reading.text,
                    comment: row.comment.clone(),
                    fingerprint: fingerprint(row, submit),
                }));
            }
            Ok(_) => {}
        }
        Ok(Err(violations))
    }

    /// Whether the caller may report for `unit`; a unit that does not exist is refused alike.
    async fn may_report_for(&mut self, context: &CallContext, unit: &UnitId) -> Result<bool> {
        if self.scope.is_none() {
            self.scope = Some(self.decide_scope(context).await?);
        }
        match &mut self.scope {
            Some(UnitScope::Within(units)) => Ok(units.contains(unit.as_str())),
            Some(UnitScope::Any(known)) => {
                if let Some(exists) = known.get(unit.as_str()) {
                    return Ok(*exists);
                }
                let exists = match self.book.units().access(context, unit).await {
                    Ok(_) => true,
                    Err(UnitsClientError::NotFound(_)) => false,
                    Err(error) => return Err(error.into()),
                };
                known.insert(unit.as_str().to_owned(), exists);
                Ok(exists)
            }
            None => Ok(false),
        }
    }

    async fn decide_scope(&self, context: &CallContext) -> Result<UnitScope> {
        let caller = &context.caller;
        if caller.has(Role::Admin) {
            return Ok(UnitScope::Any(HashMap::new()));
        }
        let Some(own) = caller.unit.clone() else {
            return Ok(UnitScope::Within(HashSet::new()));
        };
        let mut units = HashSet::from([own.clone()]);
        if caller.has(Role::Coordinator) {
            let below = self
                .book
                .units()
                .descendants(context, &UnitId::from_trusted(own), context.clock.today())
                .await?;
            units.extend(below.into_iter().map(|(unit, _)| unit.as_str().to_owned()));
        } else if !caller.has(Role::UnitStaff) {
            units.clear();
        }
        Ok(UnitScope::Within(units))
    }
}

/// One message's rows, checked, to be written.
pub struct Batch {
    book: IndicatorBook,
    context: CallContext,
    source: String,
    submit: bool,
    /// A result per row; the checked rows' are filled in by the write.
    results: Vec<RowResult>,
    /// The rows that passed their checks, with their place in `results`.
    checked: Vec<(usize, IngestRow)>,
}

impl Batch {
    /// Writes the checked rows and answers every row of the message.
    pub async fn commit(mut self) -> Result<Vec<RowResult>> {
        if self.checked.is_empty() {
            return Ok(self.results);
        }
        let rows: Vec<IngestRow> = self.checked.iter().map(|(_, row)| row.clone()).collect();
        let applied = self.write(&rows).await?;
        for ((position, _), applied) in self.checked.iter().zip(applied) {
            self.results[*position].outcome = match applied {
                Applied::Accepted(id) => RowOutcome::Accepted(id),
                Applied::Unchanged(id) => RowOutcome::Unchanged(id),
                Applied::Locked(state) => RowOutcome::Rejected(vec![violation(
                    "value",
                    "VALUE_LOCKED",
                    &format!("the value is {} and cannot be changed", state.as_str()),
                    "该数据已报送或已审核,不能修改;须先退回或重新打开",
                )]),
                Applied::ExternalIdReused => RowOutcome::Rejected(vec![violation(
                    "external_id",
                    "EXTERNAL_ID_REUSED",
                    "this external id set another value before",
                    "该外部编号此前对应的是另一条数据",
                )]),
                Applied::Concurrent => RowOutcome::Rejected(vec![violation(
                    "",
                    "CONCURRENT_CHANGE",
                    "the value was written by another call at the same time; send the row again",
                    "该数据正被同时写入,请重新发送此行",
                )]),
            };
        }
        Ok(self.results)
    }

    /// Writes the checked rows in one transaction, audited as one change naming every value
    /// written and every row refused, with one event.
    async fn write(&self, rows: &[IngestRow]) -> Result<Vec<Applied>> {
        let (context, source, submit, results) = (
            &self.context,
            self.source.as_str(),
            self.submit,
            &self.results,
        );
        let store = self.book.store();
        let target = format!("ingest/{source}");
        mutation::run(
            store.pool(),
            store.journal(),
            context,
            &target,
            async || Ok::<(), IndicatorsError>(()),
            async |connection, ()| {
                let applied = store::ingest(connection, rows, (source, submit, &context.caller.subject)).await?;
                let written: Vec<String> = applied
                    .iter()
                    .filter_map(|applied| match applied {
                        Applied::Accepted(id) => Some(id.name()),
                        _ => None,
                    })
                    .collect();
                let refused: Vec<serde_json::Value> = results
                    .iter()
                    .filter_map(|result| match &result.outcome {
                        RowOutcome::Rejected(found) if !found.is_empty() => Some(serde_json::json!({
                            "index": result.index,
                            "external_id": result.external_id,
                            "reasons": found.iter().map(|violation| violation.reason).collect::<Vec<_>>(),
                        })),
                        _ => None,
                    })
                    .collect();
                let after = serde_json::json!({"source": source, "submit": submit, "written": written, "refused": refused});
                let events = if written.is_empty() {
                    Vec::new()
                } else {
                    vec![NewEvent {
                        event_type: "data_values.ingested",
                        resource: target.clone(),
                        payload: serde_json::json!({"source": source, "data_values": written}),
                    }]
                };
                Ok(Outcome {
                    changes: vec![Change { resource: target.clone(), before: None, after: Some(after) }],
                    events,
                    response: applied,
                })
            },
        )
        .await
    }
}
