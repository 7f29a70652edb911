//! An assignment's state changes: claim (认领), progress, reassignment. Each returns the
//! assignment as it will be, or why not; the store persists it at the revision it was read at.

use chrono::{DateTime, NaiveDate, Utc};

use super::plan::{Assignment, AssignmentState, PlanId, WorkPlan};
use super::progress::ProgressStatus;

/// Why an assignment refuses a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentRefusal {
    /// Claimed (or done) already.
    AlreadyClaimed,
    /// Progress is reported on claimed work only.
    NotClaimed,
    /// Reassigned to the unit that has it.
    SameUnit,
}

impl Assignment {
    /// 认领: an open assignment taken on with the unit's work plan; its due date becomes the plan's.
    pub fn claim(
        &self,
        work_plan: WorkPlan,
        claimed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, AssignmentRefusal> {
        if self.state != AssignmentState::Open {
            return Err(AssignmentRefusal::AlreadyClaimed);
        }
        Ok(Self {
            state: AssignmentState::Claimed,
            due_date: Some(work_plan.due_date),
            work_plan: Some(work_plan),
            claim_time: Some(now),
            claimed_by: Some(claimed_by.to_owned()),
            ..self.clone()
        })
    }

    /// A progress report brings the assignment up to it: COMPLETED completes it, any later
    /// other status re-opens the work (claimed again).
    pub fn report(
        &self,
        status: ProgressStatus,
        percent: i32,
        now: DateTime<Utc>,
    ) -> Result<Self, AssignmentRefusal> {
        if self.state == AssignmentState::Open {
            return Err(AssignmentRefusal::NotClaimed);
        }
        let state = match status {
            ProgressStatus::Completed => AssignmentState::Completed,
            _ => AssignmentState::Claimed,
        };
        Ok(Self {
            state,
            progress: Some((status, percent, now)),
            ..self.clone()
        })
    }

    /// Given to another unit: open again, its claim and progress gone from the assignment (they
    /// stay in the audit log and the progress history), due by the task's deadline.
    pub fn reassign(
        &self,
        unit: &str,
        task_deadline: Option<NaiveDate>,
    ) -> Result<Self, AssignmentRefusal> {
        if unit == self.unit {
            return Err(AssignmentRefusal::SameUnit);
        }
        Ok(Self {
            unit: unit.to_owned(),
            state: AssignmentState::Open,
            work_plan: None,
            claim_time: None,
            claimed_by: None,
            due_date: task_deadline,
            progress: None,
            ..self.clone()
        })
    }
}

/// Which assignments to list.
#[derive(Debug, Default, Clone, Copy)]
pub struct AssignmentFilter<'a> {
    pub plan: Option<&'a PlanId>,
    pub unit: Option<&'a str>,
    /// Every assignment of the tasks this unit leads.
    pub led_by: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::super::plan::Role;
    use super::*;

    fn open() -> Assignment {
        Assignment {
            id: "a-1".to_owned(),
            plan: PlanId::from_trusted("p-1".to_owned()),
            task_id: "t1".to_owned(),
            task_number: "1".to_owned(),
            task_title: "任务".to_owned(),
            unit: "ng-sfj".to_owned(),
            role: Role::Lead,
            mention: "市司法局".to_owned(),
            state: AssignmentState::Open,
            create_time: DateTime::<Utc>::UNIX_EPOCH,
            work_plan: None,
            claim_time: None,
            claimed_by: None,
            revision: 1,
            due_date: NaiveDate::from_ymd_opt(2024, 12, 31),
            progress: None,
        }
    }

    fn work_plan() -> WorkPlan {
        WorkPlan {
            leader_in_charge: "王副局长".to_owned(),
            person_responsible: "李科长".to_owned(),
            measures: "梳理清单".to_owned(),
            due_date: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap_or_default(),
        }
    }

    #[test]
    fn claim_once() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let claimed = open().claim(work_plan(), "alice", now).expect("open");
        assert_eq!(claimed.state, AssignmentState::Claimed);
        assert_eq!(claimed.due_date, NaiveDate::from_ymd_opt(2024, 6, 30));
        assert_eq!(claimed.claimed_by.as_deref(), Some("alice"));
        assert_eq!(
            claimed.claim(work_plan(), "bob", now),
            Err(AssignmentRefusal::AlreadyClaimed)
        );
    }

    #[test]
    fn progress_needs_a_claim_and_completed_completes() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            open().report(ProgressStatus::InProgress, 10, now),
            Err(AssignmentRefusal::NotClaimed)
        );
        let claimed = open().claim(work_plan(), "alice", now).expect("open");
        let done = claimed
            .report(ProgressStatus::Completed, 100, now)
            .expect("claimed");
        assert_eq!(done.state, AssignmentState::Completed);
        let reopened = done
            .report(ProgressStatus::InProgress, 90, now)
            .expect("completed work takes reports");
        assert_eq!(reopened.state, AssignmentState::Claimed);
        assert_eq!(
            reopened.progress,
            Some((ProgressStatus::InProgress, 90, now))
        );
    }

    #[test]
    fn reassignment_reopens_for_another_unit() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let claimed = open().claim(work_plan(), "alice", now).expect("open");
        assert_eq!(
            claimed.reassign("ng-sfj", None),
            Err(AssignmentRefusal::SameUnit)
        );
        let deadline = NaiveDate::from_ymd_opt(2024, 12, 31);
        let moved = claimed.reassign("ng-zfb", deadline).expect("other unit");
        assert_eq!(moved.state, AssignmentState::Open);
        assert_eq!(moved.unit, "ng-zfb");
        assert_eq!((moved.work_plan, moved.claimed_by), (None, None));
        assert_eq!(moved.due_date, deadline);
    }
}
