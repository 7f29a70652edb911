//! The plans service, `fazhi.plans.v1`. Built so far: the plan importer, which turns the text of
//! a published plan (实施方案) into a structured draft — parts, sections, tasks with their lead
//! (牵头), responsible (责任) and participating (配合) unit mentions, deadlines and quantitative
//! targets — and reports what it could not place.

pub mod domain;
