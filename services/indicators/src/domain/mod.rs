//! The indicators context's rules; no tonic, no sqlx.

mod catalogue;
mod dataset;
mod evaluation;
mod formula;
mod import;
mod period;
mod proposal;
mod target;
mod value;

pub use catalogue::{
    Aggregation, Catalogue, DataElement, DataElementChanges, DataElementId, Direction, Indicator,
    IndicatorChanges, IndicatorId, ValueType, check_code, check_data_element, check_indicator,
};
pub use dataset::{
    DataSet, DataSetChanges, DataSetId, OverdueReturn, ReturnState, ReturnStatus, ReturnValue,
    ValidationRule, check_data_set, china_date, return_status, rule_breaches,
};
pub use evaluation::{
    Bases, Evaluation, FigureNeed, Figures, evaluate, evaluate_each, groups_counted,
    indicator_needs, needs,
};
pub use formula::{Formula, Reference};
pub use import::{CatalogueImport, plan_import};
pub use period::{BadPeriod, Period, PeriodType};
pub use proposal::{
    ExtractedTarget, ProposalId, ProposalState, ProposedTarget, Statement, SuggestedTarget,
    statements, suggest,
};
pub use target::{
    Basis, Comparator, Explanation, Figure, IndicatorValue, MAX_PARTS, RelativeBasis, StatusChange,
    Target, TargetChanges, TargetId, TargetKind, TargetStatus, Verdict, check_target, combine,
    compare, format_number, indicator_value, judge, not_applicable, without_value,
};
pub use value::{
    DataValue, DataValueId, EvidenceLink, MAX_COMMENT_CHARS, Reading, StateSet, ValueAction,
    ValueFilter, ValueInput, ValueRefusal, ValueState, check_input, check_value, report,
};
