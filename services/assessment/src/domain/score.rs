//! Scoring one unit on a scheme from its frozen inputs, every point traced to the rule and the
//! input that made it; grading (D1) and ranking within a peer group (D2).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::rule::{Condition, Effect, Rule, Steps};
use super::scheme::{Basis, Criterion, Grade, Scheme, Worth};

/// A verdict of the indicators service on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    NotMet,
    NoData,
    NotApplicable,
}

/// One input of one unit as a round froze it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A target's verdict, with the value and threshold compared and the service's words.
    Verdict {
        verdict: Verdict,
        value: Option<f64>,
        threshold: Option<f64>,
        explanation: String,
    },
    Number(f64),
    Day(NaiveDate),
    Flag(bool),
    /// The unit's assignments of a plan.
    Tasks {
        on_time: u32,
        total: u32,
        overdue: u32,
    },
    /// A reviewer's score of a criterion (C7), or an appeal's decided score.
    Manual {
        score: f64,
        justification: String,
        scorer: String,
    },
}

/// An input and where it came from (a data value, an evaluation, an assignment list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frozen {
    pub input: Input,
    pub source: String,
}

/// A unit's inputs by name: `targets/{id}`, `indicators/{id}`, `plans/{id}`,
/// `manual/{criterion}`, `falsified/{criterion}`, `adjusted/{criterion}` (an appeal's decision),
/// `rectification/open-items`.
pub type UnitInputs = BTreeMap<String, Frozen>;

/// One line of a score's trace: what a rule found and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    pub criterion: String,
    /// The rule's position in its criterion; `None` for the criterion's own lines (a clamp).
    pub rule: Option<usize>,
    /// The inputs read, by name, with their sources.
    pub inputs: Vec<(String, String)>,
    /// Change to the criterion's score (or to the bonus bucket, for a bonus).
    pub points: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub code: String,
    /// Full marks for this unit (the applicable children's, for a branch).
    pub max: f64,
    pub score: f64,
}

/// A veto that struck (C6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vetoed {
    pub criterion: String,
    pub grade: Grade,
    pub zero: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitScore {
    pub unit: String,
    pub peer_group: String,
    /// Every criterion that applies, depth first.
    pub criteria: Vec<CriterionScore>,
    /// The top-level criteria's scores added up, and their full marks.
    pub base: f64,
    pub full: f64,
    /// Bonus points counted (within the scheme's cap).
    pub bonus: f64,
    /// The base rescaled to the scheme's `normalise_to`, plus the bonus; 0 under a zeroing veto.
    pub total: f64,
    pub veto: Option<Vetoed>,
    pub grade: Option<Grade>,
    pub lines: Vec<TraceLine>,
}

/// What a condition found.
enum Reading {
    /// It fails: how many occurrences, how far short (in the input's unit; infinite without a
    /// value), in words.
    Hit {
        occurrences: f64,
        shortfall: f64,
        said: String,
    },
    /// It holds.
    Clear(String),
    /// It does not apply (a target not applicable to the unit, no assignments).
    Skip(String),
}

fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

fn read(condition: &Condition, inputs: &UnitInputs) -> Reading {
    let name = condition.input();
    let found = inputs.get(name).map(|frozen| &frozen.input);
    match (condition, found) {
        (
            Condition::Target(_),
            Some(Input::Verdict {
                verdict,
                value,
                threshold,
                explanation,
            }),
        ) => match verdict {
            Verdict::Met => Reading::Clear(explanation.clone()),
            Verdict::NotApplicable => Reading::Skip(explanation.clone()),
            Verdict::NotMet | Verdict::NoData => Reading::Hit {
                occurrences: 1.0,
                shortfall: match (value, threshold) {
                    (Some(value), Some(threshold)) => (threshold - value).abs(),
                    _ => f64::INFINITY,
                },
                said: explanation.clone(),
            },
        },
        (
            Condition::Figure {
                comparator, value, ..
            },
            Some(Input::Number(found)),
        ) => {
            let said = format!(
                "{name} = {},要求 {} {}",
                number(*found),
                comparator.symbol(),
                number(*value)
            );
            if comparator.holds(*found, *value) {
                Reading::Clear(said)
            } else {
                Reading::Hit {
                    occurrences: 1.0,
                    shortfall: (value - found).abs(),
                    said,
                }
            }
        }
        (
            Condition::Count {
                at_least, at_most, ..
            },
            found,
        ) => {
            // Nothing recorded is none happened.
            let count = match found {
                Some(Input::Number(count)) => *count,
                _ => 0.0,
            };
            let short = at_least.map_or(0.0, |least| (least - count).max(0.0));
            let over = at_most.map_or(0.0, |most| (count - most).max(0.0));
            let said = format!("{name} = {}", number(count));
            if short + over > 0.0 {
                Reading::Hit {
                    occurrences: short + over,
                    shortfall: short + over,
                    said: format!("{said},差 {} 次", number(short + over)),
                }
            } else {
                Reading::Clear(said)
            }
        }
        (Condition::Deadline { by, .. }, Some(Input::Day(day))) => {
            let late = (*day - *by).num_days();
            let said = format!("{name} 为 {day},时限 {by}");
            if late > 0 {
                Reading::Hit {
                    occurrences: 1.0,
                    shortfall: f64::from(i32::try_from(late).unwrap_or(i32::MAX)),
                    said: format!("{said},逾期 {late} 天"),
                }
            } else {
                Reading::Clear(said)
            }
        }
        (Condition::Present(_), Some(Input::Flag(true))) => Reading::Clear(format!("{name}:是")),
        (Condition::Present(_), Some(Input::Flag(false))) => Reading::Hit {
            occurrences: 1.0,
            shortfall: f64::INFINITY,
            said: format!("{name}:否"),
        },
        (Condition::TasksOnTime { at_least, .. }, Some(Input::Tasks { on_time, total, .. })) => {
            if *total == 0 {
                return Reading::Skip(format!("{name}:本单位无任务"));
            }
            let share = f64::from(*on_time) / f64::from(*total) * 100.0;
            let said = format!(
                "{name}:按时完成 {on_time}/{total} 项({}%),要求不低于 {}%",
                number(share),
                number(*at_least)
            );
            if share >= *at_least {
                Reading::Clear(said)
            } else {
                Reading::Hit {
                    occurrences: f64::from(total - on_time),
                    shortfall: at_least - share,
                    said,
                }
            }
        }
        (Condition::TasksOverdue(_), Some(Input::Tasks { overdue, .. })) => {
            let said = format!("{name}:逾期 {overdue} 项");
            if *overdue > 0 {
                Reading::Hit {
                    occurrences: f64::from(*overdue),
                    shortfall: f64::from(*overdue),
                    said,
                }
            } else {
                Reading::Clear(said)
            }
        }
        (Condition::TasksOverdue(_), None) => Reading::Clear(format!("{name}:无逾期任务")),
        // Not shown is not done: a missing figure, day or document counts against the unit.
        _ => Reading::Hit {
            occurrences: 1.0,
            shortfall: f64::INFINITY,
            said: format!("{name}:无数据"),
        },
    }
}

/// The running state of one leaf as its rules apply.
struct Leaf<'a> {
    criterion: &'a Criterion,
    max: f64,
    score: f64,
    /// Points deducted so far per group cap.
    group_used: HashMap<&'a str, f64>,
    falsified: bool,
}

/// What scoring a unit gathers beyond the criteria: the bonus bucket, a veto, the trace.
#[derive(Default)]
struct Tally {
    bonus: f64,
    veto: Option<Vetoed>,
    lines: Vec<TraceLine>,
    criteria: Vec<CriterionScore>,
}

impl Tally {
    fn line(
        &mut self,
        criterion: &Criterion,
        rule: Option<usize>,
        inputs: Vec<(String, String)>,
        points: f64,
        text: String,
    ) {
        self.lines.push(TraceLine {
            criterion: criterion.code.clone(),
            rule,
            inputs,
            points,
            text,
        });
    }
}

fn sourced(inputs: &UnitInputs, name: &str) -> (String, String) {
    (
        name.to_owned(),
        inputs
            .get(name)
            .map_or_else(|| "无".to_owned(), |frozen| frozen.source.clone()),
    )
}

fn apply<'a>(
    leaf: &mut Leaf<'a>,
    (position, rule): (usize, &'a Rule),
    inputs: &UnitInputs,
    tally: &mut Tally,
) {
    let code = &leaf.criterion.code;
    match &rule.then {
        Effect::Manual => {
            let name = format!("manual/{code}");
            let read = vec![sourced(inputs, &name)];
            match inputs.get(&name).map(|frozen| &frozen.input) {
                Some(Input::Manual {
                    score,
                    justification,
                    scorer,
                }) => {
                    let given = score.clamp(0.0, leaf.max);
                    let change = given - leaf.score;
                    leaf.score = given;
                    let text = format!(
                        "评分 {}(满分 {}),{scorer}:{justification}",
                        number(given),
                        number(leaf.max)
                    );
                    tally.line(leaf.criterion, Some(position), read, change, text);
                }
                _ => {
                    let change = -leaf.score;
                    leaf.score = 0.0;
                    tally.line(
                        leaf.criterion,
                        Some(position),
                        read,
                        change,
                        "未评分,计 0 分".to_owned(),
                    );
                }
            }
            return;
        }
        Effect::Falsification => {
            let name = format!("falsified/{code}");
            if let Some(Input::Flag(true)) = inputs.get(&name).map(|frozen| &frozen.input) {
                leaf.falsified = true;
                let read = vec![sourced(inputs, &name)];
                tally.line(
                    leaf.criterion,
                    Some(position),
                    read,
                    0.0,
                    "经核查报送情况不实,本项不得分".to_owned(),
                );
            }
            return;
        }
        Effect::RankPoints { input, bands, .. } => {
            let name = format!("rank/{input}");
            let read = vec![sourced(inputs, input), sourced(inputs, &name)];
            let (points, text) = match inputs.get(&name).map(|frozen| &frozen.input) {
                Some(Input::Number(place)) => {
                    match bands.iter().find(|band| *place <= band.top as f64) {
                        Some(band) => (
                            band.points,
                            format!(
                                "{input} 本组排名第 {} 名,在前 {} 名内,得 {} 分",
                                number(*place),
                                band.top,
                                number(band.points)
                            ),
                        ),
                        None => (
                            0.0,
                            format!("{input} 本组排名第 {} 名,未进入计分名次", number(*place)),
                        ),
                    }
                }
                _ => (0.0, format!("{input}:无数据,不参与排名,不得分")),
            };
            leaf.score += points;
            tally.line(leaf.criterion, Some(position), read, points, text);
            return;
        }
        Effect::Tiers { input, bands } => {
            let read = vec![sourced(inputs, input)];
            let (points, text) = match inputs.get(input).map(|frozen| &frozen.input) {
                Some(Input::Number(value)) => {
                    match bands.iter().find(|band| *value >= band.at_least) {
                        Some(band) => (
                            band.points,
                            format!(
                                "{input} = {},达到 {} 档,得 {} 分",
                                number(*value),
                                number(band.at_least),
                                number(band.points)
                            ),
                        ),
                        None => (0.0, format!("{input} = {},未达任何档次", number(*value))),
                    }
                }
                _ => (0.0, format!("{input}:无数据,不得分")),
            };
            leaf.score += points;
            tally.line(leaf.criterion, Some(position), read, points, text);
            return;
        }
        _ => {}
    }
    let Some(condition) = &rule.when else {
        return;
    };
    let reading = read(condition, inputs);
    let read = vec![sourced(inputs, condition.input())];
    let (change, text) = match (reading, &rule.then) {
        (Reading::Skip(said), _) => (0.0, format!("{said};不适用")),
        (Reading::Hit { said, .. }, Effect::Deduct(points)) => (
            -points.min(leaf.max),
            format!("{said};扣 {} 分", number(*points)),
        ),
        (Reading::Clear(said), Effect::Award(points)) => {
            (*points, format!("{said};得 {} 分", number(*points)))
        }
        (
            Reading::Hit {
                said, occurrences, ..
            },
            Effect::PerOccurrence {
                deduct_each,
                cap,
                group,
            },
        ) => {
            let mut deducted = (occurrences * deduct_each).min(cap.unwrap_or(f64::INFINITY));
            let mut note = String::new();
            if let Some(group) = group {
                let limit = leaf
                    .criterion
                    .group_caps
                    .get(group.as_str())
                    .copied()
                    .unwrap_or(f64::INFINITY);
                let used = leaf.group_used.entry(group.as_str()).or_default();
                if *used + deducted > limit {
                    deducted = (limit - *used).max(0.0);
                    note = format!("(“{group}”累计扣分不超过 {} 分)", number(limit));
                }
                *used += deducted;
            }
            (
                -deducted,
                format!(
                    "{said};每次扣 {} 分,扣 {} 分{note}",
                    number(*deduct_each),
                    number(deducted)
                ),
            )
        }
        (
            Reading::Hit {
                said, shortfall, ..
            },
            Effect::Shortfall {
                deduct_per_step,
                step,
                steps,
            },
        ) => {
            let counted = match steps {
                Steps::Exact => shortfall / step,
                Steps::Started => (shortfall / step).ceil(),
                Steps::Whole => (shortfall / step).floor(),
            };
            let deducted = (counted * deduct_per_step).min(leaf.max);
            (
                -deducted,
                format!(
                    "{said};差距每 {} 扣 {} 分,扣 {} 分",
                    number(*step),
                    number(*deduct_per_step),
                    number(deducted)
                ),
            )
        }
        (Reading::Clear(said), Effect::Bonus(points)) => {
            tally.bonus += points;
            tally.line(
                leaf.criterion,
                Some(position),
                read,
                *points,
                format!("{said};加 {} 分", number(*points)),
            );
            return;
        }
        (Reading::Hit { said, .. }, Effect::Veto { grade, zero }) => {
            if tally.veto.is_none() {
                tally.veto = Some(Vetoed {
                    criterion: leaf.criterion.code.clone(),
                    grade: *grade,
                    zero: *zero,
                });
            }
            let consequence = if *zero { "总分计 0 分" } else { "" };
            tally.line(
                leaf.criterion,
                Some(position),
                read,
                0.0,
                format!("{said};一票否决,等次为{}{consequence}", grade.word()),
            );
            return;
        }
        (Reading::Hit { said, .. } | Reading::Clear(said), _) => (0.0, format!("{said};不扣分")),
    };
    leaf.score += change;
    tally.line(leaf.criterion, Some(position), read, change, text);
}

/// A leaf's score after an appeal decided another (`adjusted/{criterion}`): the decision
/// stands over the rules.
fn adjusted(
    criterion: &Criterion,
    (score, max): (f64, f64),
    inputs: &UnitInputs,
    tally: &mut Tally,
) -> f64 {
    let name = format!("adjusted/{}", criterion.code);
    let Some(Input::Manual {
        score: decided,
        justification,
        scorer,
    }) = inputs.get(&name).map(|frozen| &frozen.input)
    else {
        return score;
    };
    let decided = decided.clamp(0.0, max);
    tally.line(
        criterion,
        None,
        vec![sourced(inputs, &name)],
        decided - score,
        format!(
            "经申诉复核,本项调整为 {} 分,{scorer}:{justification}",
            number(decided)
        ),
    );
    decided
}

/// A node's score for the unit and its full marks, its lines in `tally`; `None` when it does
/// not apply to the unit's group.
fn score_node(
    criterion: &Criterion,
    max: f64,
    peer_group: &str,
    inputs: &UnitInputs,
    tally: &mut Tally,
) -> Option<(f64, f64)> {
    if !criterion.applies_to(peer_group) {
        return None;
    }
    let slot = tally.criteria.len();
    tally.criteria.push(CriterionScore {
        code: criterion.code.clone(),
        max,
        score: 0.0,
    });
    let (score, max) = if criterion.children.is_empty() {
        let mut leaf = Leaf {
            criterion,
            max,
            score: match criterion.basis {
                Basis::Full => max,
                Basis::Zero => 0.0,
            },
            group_used: HashMap::new(),
            falsified: false,
        };
        for rule in criterion.rules.iter().enumerate() {
            apply(&mut leaf, rule, inputs, tally);
        }
        let mut score = leaf.score;
        if leaf.falsified {
            score = 0.0;
        }
        let clamped = score.clamp(0.0, max);
        if clamped != score {
            tally.line(
                criterion,
                None,
                Vec::new(),
                clamped - score,
                format!("本项得分限于 0 至 {} 分", number(max)),
            );
        }
        (adjusted(criterion, (clamped, max), inputs, tally), max)
    } else {
        let (mut score, mut full) = (0.0, 0.0);
        for child in &criterion.children {
            let child_max = match child.worth {
                Worth::Points(points) => points,
                Worth::Weight(share) => max * share / 100.0,
            };
            if let Some((child_score, child_full)) =
                score_node(child, child_max, peer_group, inputs, tally)
            {
                score += child_score;
                full += child_full;
            }
        }
        let full = full.min(max);
        (score.clamp(0.0, full), full)
    };
    tally.criteria[slot] = CriterionScore {
        code: criterion.code.clone(),
        max,
        score,
    };
    Some((score, max))
}

/// Scores a unit of `peer_group` on the scheme from its inputs.
pub fn score_unit(scheme: &Scheme, unit: &str, peer_group: &str, inputs: &UnitInputs) -> UnitScore {
    let mut tally = Tally::default();
    let (mut base, mut full) = (0.0, 0.0);
    for criterion in &scheme.criteria {
        let max = match criterion.worth {
            Worth::Points(points) => points,
            Worth::Weight(_) => 0.0,
        };
        if let Some((score, max)) = score_node(criterion, max, peer_group, inputs, &mut tally) {
            base += score;
            full += max;
        }
    }
    let rescaled = match scheme.normalise_to {
        Some(target) if full > 0.0 => base / full * target,
        _ => base,
    };
    let bonus = tally.bonus.min(scheme.bonus_cap);
    let mut total = rescaled + bonus;
    if tally.veto.as_ref().is_some_and(|veto| veto.zero) {
        total = 0.0;
    }
    let grade = match &tally.veto {
        Some(veto) => Some(veto.grade),
        None => scheme
            .grades
            .iter()
            .find(|band| total >= band.min - 1e-9)
            .map(|band| band.grade),
    };
    UnitScore {
        unit: unit.to_owned(),
        peer_group: peer_group.to_owned(),
        criteria: tally.criteria,
        base,
        full,
        bonus,
        total,
        veto: tally.veto,
        grade,
        lines: tally.lines,
    }
}

/// Ranks of scores within one peer group, highest total first: equal totals share a rank and
/// the next rank skips (1, 2, 2, 4). Answers each score's rank and whether it is shared, in the
/// order given.
pub fn rank(totals: &[f64]) -> Vec<(usize, bool)> {
    let mut order: Vec<usize> = (0..totals.len()).collect();
    order.sort_by(|a, b| totals[*b].total_cmp(&totals[*a]));
    let mut ranks = vec![(0, false); totals.len()];
    let mut position = 0;
    while position < order.len() {
        let tied_until = order[position..]
            .iter()
            .take_while(|index| (totals[**index] - totals[order[position]]).abs() < 1e-9)
            .count();
        for index in &order[position..position + tied_until] {
            ranks[*index] = (position + 1, tied_until > 1);
        }
        position += tied_until;
    }
    ranks
}
