//! A bulletin (通报) of a round: the ranking of each peer group with its grade distribution, the
//! targets units failed, the vetoes, and where the rectification items stand.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::rectification::{Item, ItemState, Warning};
use super::round::ScoredUnit;
use super::scheme::{Grade, Scheme};
use super::score::{Input, Verdict};
use super::supervision::SupervisionRecord;

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRanking<'a> {
    pub code: String,
    pub title: String,
    /// By rank.
    pub units: Vec<&'a ScoredUnit>,
    pub grades: BTreeMap<&'static str, usize>,
}

/// A target and the units of the round that did not meet it (NOT_MET or NO_DATA).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedTarget {
    pub target: String,
    pub units: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerCounts {
    pub by_state: BTreeMap<&'static str, usize>,
    pub yellow: usize,
    pub red: usize,
}

/// A unit's assignments of a plan past due and not completed, as the round froze them.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueTasks {
    pub unit: String,
    pub plan: String,
    pub overdue: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin<'a> {
    pub groups: Vec<GroupRanking<'a>>,
    pub failed_targets: Vec<FailedTarget>,
    /// Units whose grade a veto set, with the criterion.
    pub vetoed: Vec<(String, String)>,
    pub ledger: LedgerCounts,
    /// By unit, then plan.
    pub overdue_tasks: Vec<OverdueTasks>,
    /// The supervision steps that followed the round up.
    pub supervision: &'a [SupervisionRecord],
}

/// The bulletin of a round's results and its items, as of `today`.
pub fn bulletin<'a>(
    scheme: &Scheme,
    results: &'a [ScoredUnit],
    (items, supervision): (&[Item], &'a [SupervisionRecord]),
    today: NaiveDate,
) -> Bulletin<'a> {
    let groups = scheme
        .peer_groups
        .iter()
        .map(|group| {
            let mut units: Vec<&ScoredUnit> = results
                .iter()
                .filter(|unit| unit.score.peer_group == group.code)
                .collect();
            units.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.unit.cmp(&b.unit)));
            let mut grades = BTreeMap::new();
            for unit in &units {
                let grade = unit.score.grade.map_or("none", Grade::as_str);
                *grades.entry(grade).or_default() += 1;
            }
            GroupRanking {
                code: group.code.clone(),
                title: group.title.clone(),
                units,
                grades,
            }
        })
        .collect();
    let mut failed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut overdue_tasks = Vec::new();
    for unit in results {
        for (name, frozen) in &unit.inputs {
            match frozen.input {
                Input::Verdict {
                    verdict: Verdict::NotMet | Verdict::NoData,
                    ..
                } => failed.entry(name).or_default().push(unit.unit.clone()),
                Input::Tasks { overdue, .. } if overdue > 0 => overdue_tasks.push(OverdueTasks {
                    unit: unit.unit.clone(),
                    plan: name.clone(),
                    overdue,
                }),
                _ => {}
            }
        }
    }
    overdue_tasks.sort_by(|a, b| a.unit.cmp(&b.unit).then_with(|| a.plan.cmp(&b.plan)));
    let mut ledger = LedgerCounts::default();
    for item in items {
        *ledger.by_state.entry(item.state.as_str()).or_default() += 1;
        match item.warning(today) {
            Warning::Yellow => ledger.yellow += 1,
            Warning::Red => ledger.red += 1,
            Warning::None => {}
        }
    }
    for state in ItemState::ALL {
        ledger.by_state.entry(state.as_str()).or_default();
    }
    Bulletin {
        groups,
        failed_targets: failed
            .into_iter()
            .map(|(target, units)| FailedTarget {
                target: target.to_owned(),
                units,
            })
            .collect(),
        vetoed: results
            .iter()
            .filter_map(|unit| {
                unit.score
                    .veto
                    .as_ref()
                    .map(|veto| (unit.unit.clone(), veto.criterion.clone()))
            })
            .collect(),
        ledger,
        overdue_tasks,
        supervision,
    }
}
