//! Rounds (考核轮次): what a scheme needs gathered, and every unit scored and ranked in its
//! peer group from the inputs frozen for it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rule::{Condition, Effect};
use super::scheme::{Grade, Scheme};
use super::score::{Frozen, Input, UnitInputs, UnitScore, rank, score_unit};

fazhi_platform::resource_id!(
    /// A scheme, `schemes/{scheme}`.
    SchemeId,
    "schemes",
    "s"
);

fazhi_platform::resource_id!(
    /// A round, `rounds/{round}`.
    RoundId,
    "rounds",
    "r"
);

fazhi_platform::string_enum!(
    /// What a round is for.
    RoundKind {
        /// 月评价
        Monthly = "monthly",
        /// 季通报
        Quarterly = "quarterly",
        /// 年度考核
        Annual = "annual",
    }
);

/// A scheme as stored: its content and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScheme {
    pub id: SchemeId,
    pub scheme: Scheme,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub id: RoundId,
    pub scheme: SchemeId,
    pub scheme_version: i64,
    pub owner_unit: String,
    pub kind: RoundKind,
    pub period: String,
    pub unit_count: i32,
    pub input_count: i32,
    pub run_by: String,
    pub create_time: DateTime<Utc>,
    /// Set once published: the round is then final and its items opened.
    pub publish_time: Option<DateTime<Utc>>,
    /// 1 for a first run; a re-run is the next revision of the round it revises.
    pub revision: i32,
    pub previous_round: Option<RoundId>,
    /// The revision that re-ran this round, if one did.
    pub revised_by: Option<RoundId>,
    /// Why the round no longer matches what the other services say, if an input changed
    /// after it ran.
    pub stale: Option<Stale>,
}

/// An input that changed after a round ran (a value approved, an assignment completed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stale {
    pub reason: String,
    pub time: DateTime<Utc>,
}

/// Where a unit stood in a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub total: f64,
    pub grade: Option<Grade>,
    pub rank: usize,
}

/// A criterion whose score differs between two revisions (`None`: not scored in that one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionChange {
    pub code: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// How a unit's result differs between a round and the revision before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreChange {
    pub unit: String,
    pub display_name: String,
    pub peer_group: String,
    /// `None` when the unit was not scored in that revision.
    pub before: Option<Standing>,
    pub after: Option<Standing>,
    pub criteria: Vec<CriterionChange>,
}

fn standing(unit: &ScoredUnit) -> Standing {
    Standing {
        total: unit.score.total,
        grade: unit.score.grade,
        rank: unit.rank,
    }
}

const SAME: f64 = 1e-9;

/// Every unit whose total, grade, rank or any criterion differs between `before` and `after`
/// (or that only one of them scored), by peer group and unit.
pub fn diff_results(before: &[ScoredUnit], after: &[ScoredUnit]) -> Vec<ScoreChange> {
    let earlier: BTreeMap<&str, &ScoredUnit> = before
        .iter()
        .map(|unit| (unit.unit.as_str(), unit))
        .collect();
    let later: BTreeMap<&str, &ScoredUnit> = after
        .iter()
        .map(|unit| (unit.unit.as_str(), unit))
        .collect();
    let units: BTreeSet<&str> = earlier.keys().chain(later.keys()).copied().collect();
    let mut changes: Vec<ScoreChange> = units
        .into_iter()
        .filter_map(|unit| {
            let (was, now) = (earlier.get(unit), later.get(unit));
            let scores = |scored: Option<&&ScoredUnit>| -> BTreeMap<String, f64> {
                scored
                    .map(|scored| {
                        scored
                            .score
                            .criteria
                            .iter()
                            .map(|criterion| (criterion.code.clone(), criterion.score))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (old, new) = (scores(was), scores(now));
            let codes: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            let criteria: Vec<CriterionChange> = codes
                .into_iter()
                .filter_map(|code| {
                    let (before, after) = (old.get(code).copied(), new.get(code).copied());
                    let same = match (before, after) {
                        (Some(before), Some(after)) => (before - after).abs() < SAME,
                        (None, None) => true,
                        _ => false,
                    };
                    (!same).then(|| CriterionChange {
                        code: code.clone(),
                        before,
                        after,
                    })
                })
                .collect();
            let (before, after) = (
                was.map(|unit| standing(unit)),
                now.map(|unit| standing(unit)),
            );
            let moved = match (&before, &after) {
                (Some(before), Some(after)) => {
                    (before.total - after.total).abs() >= SAME
                        || before.grade != after.grade
                        || before.rank != after.rank
                }
                _ => true,
            };
            let named = now.or(was)?;
            (moved || !criteria.is_empty()).then(|| ScoreChange {
                unit: unit.to_owned(),
                display_name: named.display_name.clone(),
                peer_group: named.score.peer_group.clone(),
                before,
                after,
                criteria,
            })
        })
        .collect();
    changes.sort_by(|a, b| {
        a.peer_group
            .cmp(&b.peer_group)
            .then_with(|| a.unit.cmp(&b.unit))
    });
    changes
}

/// The inputs a scheme's rules name, by the service that has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// `targets/{id}`: verdicts of the indicators service.
    pub targets: BTreeSet<String>,
    /// `indicators/{id}`: figures of the indicators service.
    pub indicators: BTreeSet<String>,
    /// `plans/{id}`: the units' assignments.
    pub plans: BTreeSet<String>,
}

impl Needs {
    pub fn of(scheme: &Scheme) -> Self {
        let mut needs = Self::default();
        for rule in scheme.all_criteria().flat_map(|criterion| &criterion.rules) {
            let names = rule
                .when
                .as_ref()
                .map(|condition| (condition, condition.input()))
                .into_iter()
                .map(|(condition, name)| (Some(condition), name))
                .chain(match &rule.then {
                    Effect::Tiers { input, .. } | Effect::RankPoints { input, .. } => {
                        Some((None, input.as_str()))
                    }
                    _ => None,
                });
            for (condition, name) in names {
                // The round counts those itself.
                if name == super::rectification::OPEN_ITEMS {
                    continue;
                }
                let set = match condition {
                    Some(Condition::Target(_)) => &mut needs.targets,
                    Some(Condition::TasksOnTime { .. } | Condition::TasksOverdue(_)) => {
                        &mut needs.plans
                    }
                    _ => &mut needs.indicators,
                };
                set.insert(name.to_owned());
            }
        }
        needs
    }
}

/// What changed in another service after a round ran, for one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputChange {
    /// A data value approved or reopened for a period: targets' verdicts and figures move.
    Figures { period: String },
    /// An assignment of a plan (`plans/{id}`) completed or given to another unit.
    Tasks { plan: String },
}

impl InputChange {
    /// Whether a round of `period` whose scheme needs `needs` froze what changed: a value of
    /// the round's period or within it (a quarter within a year) or covering it.
    pub fn touches(&self, period: &str, needs: &Needs) -> bool {
        match self {
            Self::Figures { period: changed } => {
                (!needs.targets.is_empty() || !needs.indicators.is_empty())
                    && (changed.starts_with(period) || period.starts_with(changed.as_str()))
            }
            Self::Tasks { plan } => needs.plans.contains(plan),
        }
    }
}

/// A unit to score: its id, name and peer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub unit: String,
    pub display_name: String,
    pub peer_group: String,
}

/// One unit's result in a round, with what it was scored from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredUnit {
    pub unit: String,
    pub display_name: String,
    pub inputs: UnitInputs,
    pub score: UnitScore,
    pub rank: usize,
    pub rank_shared: bool,
}

/// Scores every member from its inputs and ranks each peer group.
pub fn score_round(
    scheme: &Scheme,
    members: &[Member],
    mut inputs: BTreeMap<String, UnitInputs>,
) -> Vec<ScoredUnit> {
    let score = |member: &Member, unit_inputs: UnitInputs| ScoredUnit {
        score: score_unit(scheme, &member.unit, &member.peer_group, &unit_inputs),
        unit: member.unit.clone(),
        display_name: member.display_name.clone(),
        inputs: unit_inputs,
        rank: 0,
        rank_shared: false,
    };
    freeze_ranks(scheme, members, &mut inputs);
    let work: Vec<(&Member, UnitInputs)> = members
        .iter()
        .map(|member| (member, inputs.remove(&member.unit).unwrap_or_default()))
        .collect();
    // Units are scored independently: one share of them per core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let share = work.len().div_ceil(threads).max(1);
    let mut shares: Vec<Vec<(&Member, UnitInputs)>> = Vec::new();
    let mut rest = work.into_iter();
    loop {
        let next: Vec<_> = rest.by_ref().take(share).collect();
        if next.is_empty() {
            break;
        }
        shares.push(next);
    }
    let mut scored: Vec<ScoredUnit> = std::thread::scope(|scope| {
        let running: Vec<_> = shares
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|(member, unit_inputs)| score(member, unit_inputs))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        running
            .into_iter()
            .flat_map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let groups: BTreeSet<String> = scored
        .iter()
        .map(|unit| unit.score.peer_group.clone())
        .collect();
    for group in groups {
        let positions: Vec<usize> = (0..scored.len())
            .filter(|index| scored[*index].score.peer_group == group)
            .collect();
        let totals: Vec<f64> = positions
            .iter()
            .map(|index| scored[*index].score.total)
            .collect();
        for (index, (rank, shared)) in positions.iter().zip(rank(&totals)) {
            scored[*index].rank = rank;
            scored[*index].rank_shared = shared;
        }
        apply_quotas(scheme, &mut scored, positions);
    }
    scored
}

/// C9: for each input a rank-based rule reads, each member's rank on it within its peer group,
/// frozen as `rank/{input}` (ties share a rank), so the trace is worked out from the inputs
/// alone like every other line.
fn freeze_ranks(scheme: &Scheme, members: &[Member], inputs: &mut BTreeMap<String, UnitInputs>) {
    let ranked: BTreeSet<(&str, bool)> = scheme
        .all_criteria()
        .flat_map(|criterion| &criterion.rules)
        .filter_map(|rule| match &rule.then {
            Effect::RankPoints {
                input,
                lower_is_better,
                ..
            } => Some((input.as_str(), *lower_is_better)),
            _ => None,
        })
        .collect();
    for (input, lower_is_better) in ranked {
        let groups: BTreeSet<&str> = members
            .iter()
            .map(|member| member.peer_group.as_str())
            .collect();
        for group in groups {
            let valued: Vec<(&str, f64)> = members
                .iter()
                .filter(|member| member.peer_group == group)
                .filter_map(|member| match inputs.get(&member.unit)?.get(input)?.input {
                    Input::Number(value) => Some((
                        member.unit.as_str(),
                        if lower_is_better { -value } else { value },
                    )),
                    _ => None,
                })
                .collect();
            let totals: Vec<f64> = valued.iter().map(|(_, value)| *value).collect();
            let count = valued.len();
            for ((unit, _), (position, _)) in valued.into_iter().zip(rank(&totals)) {
                if let Some(unit_inputs) = inputs.get_mut(unit) {
                    unit_inputs.insert(
                        format!("rank/{input}"),
                        Frozen {
                            input: Input::Number(position as f64),
                            source: format!(
                                "{input} 在本组 {count} 个有数据的单位中排第 {position} 名"
                            ),
                        },
                    );
                }
            }
        }
    }
}

/// D1 by quota, within one peer group (`positions` in `scored`): from the highest grade down,
/// the units beyond a grade's quota have the next grade. A grade a veto set stays.
fn apply_quotas(scheme: &Scheme, scored: &mut [ScoredUnit], mut positions: Vec<usize>) {
    positions.sort_by_key(|index| scored[*index].rank);
    let size = positions.len() as f64;
    for (band_index, band) in scheme.grades.iter().enumerate() {
        let Some(quota) = band.quota else {
            continue;
        };
        let holders: Vec<usize> = positions
            .iter()
            .copied()
            .filter(|index| {
                let unit = &scored[*index].score;
                unit.grade == Some(band.grade) && unit.veto.is_none()
            })
            .collect();
        let allowed = (quota / 100.0 * size + 1e-9).floor() as usize;
        if holders.len() <= allowed {
            continue;
        }
        let total = |position: usize| scored[holders[position]].score.total;
        let mut keep = allowed;
        while keep > 0 && (total(keep - 1) - total(keep)).abs() < 1e-9 {
            keep -= 1;
        }
        let lower = scheme.grades.get(band_index + 1).map(|next| next.grade);
        for index in &holders[keep..] {
            scored[*index].score.grade = lower;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_touches_rounds_of_its_period_and_plans_it_names() {
        let needs = Needs {
            targets: BTreeSet::from(["targets/t".to_owned()]),
            indicators: BTreeSet::new(),
            plans: BTreeSet::from(["plans/p".to_owned()]),
        };
        let figures = |period: &str| InputChange::Figures {
            period: period.to_owned(),
        };
        assert!(figures("2024").touches("2024", &needs));
        assert!(
            figures("2024Q3").touches("2024", &needs),
            "a quarter within the year"
        );
        assert!(
            figures("2024").touches("2024Q3", &needs),
            "a year covering the quarter"
        );
        assert!(!figures("2023").touches("2024", &needs));
        assert!(!figures("2024").touches("2024", &Needs::default()));
        let tasks = |plan: &str| InputChange::Tasks {
            plan: plan.to_owned(),
        };
        assert!(tasks("plans/p").touches("2024", &needs));
        assert!(!tasks("plans/q").touches("2024", &needs));
    }
}
