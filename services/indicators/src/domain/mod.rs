//! The indicators context's rules; no tonic, no sqlx.

mod catalogue;
mod formula;
mod period;
mod target;
mod value;

pub use catalogue::{
    Aggregation, DataElement, DataElementId, Direction, Indicator, IndicatorId, ValueType,
    check_code, check_data_element, check_indicator,
};
pub use formula::{Formula, Reference};
pub use period::{BadPeriod, Period, PeriodType};
pub use target::{
    Comparator, Explanation, Figure, IndicatorValue, MAX_PARTS, Target, TargetId, TargetKind,
    TargetStatus, Verdict, combine, compare, format_number, indicator_value, judge, not_applicable,
    without_value,
};
pub use value::{
    DataValue, DataValueId, MAX_COMMENT_CHARS, ValueAction, ValueRefusal, ValueState, check_value,
    report,
};
