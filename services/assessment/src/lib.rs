//! The assessment service, `fazhi.assessment.v1` (考核): schemes as criteria trees with points
//! or weights and the rules that score them, every unit scored with a trace of each point,
//! graded and ranked within its peer group. This first part is the scheme and its scoring, pure
//! and without I/O; rounds that gather and freeze their inputs from the indicators and plans
//! services build on it (docs/assessment.md).

pub mod domain;
