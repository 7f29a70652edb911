//! Every rule kind of docs/assessment.md (§5 of the domain study: A1–A5, B1–B8, C1–C8, D1–D2)
//! scored on a small scheme, each against the points worked out by hand.

#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use fazhi_assessment::domain::{
    Frozen, Grade, Input, Member, Scheme, UnitInputs, UnitScore, Verdict, rank, score_round,
    score_unit,
};

/// A scheme of one 10-point criterion `1` for both peer groups, with these rules (YAML, indented
/// under `rules:`) and the extra criterion fields given.
fn leaf(fields: &str, rules: &str) -> Scheme {
    let text = format!(
        "code: t\ntitle: 测试方案\nyear: 2024\nowner_unit: tongliao\nbonus_cap: 3
peer_groups:
  - {{code: counties, title: 旗县市区, unit_group: tl-counties}}
  - {{code: departments, title: 市直单位, unit_group: tl-departments}}
grades:
  - {{grade: excellent, min: 9}}
  - {{grade: good, min: 8}}
  - {{grade: pass, min: 6}}
  - {{grade: fail, min: 0}}
criteria:
  - code: '1'
    title: 测试指标
    points: 10
{fields}
    rules:
{rules}"
    );
    Scheme::from_yaml(&text).unwrap_or_else(|violations| panic!("{violations:?}\n{text}"))
}

fn inputs(pairs: &[(&str, Input)]) -> UnitInputs {
    pairs
        .iter()
        .map(|(name, input)| {
            (
                (*name).to_owned(),
                Frozen {
                    input: input.clone(),
                    source: format!("来源:{name}"),
                },
            )
        })
        .collect()
}

fn score(scheme: &Scheme, given: &[(&str, Input)]) -> UnitScore {
    score_unit(scheme, "tl-kzq", "counties", &inputs(given))
}

fn total(scheme: &Scheme, given: &[(&str, Input)]) -> f64 {
    (score(scheme, given).total * 1000.0).round() / 1000.0
}

fn verdict(verdict: Verdict, value: f64, threshold: f64) -> Input {
    Input::Verdict {
        verdict,
        value: Some(value),
        threshold: Some(threshold),
        explanation: format!("出庭应诉率 {value}%,目标 ≥ {threshold}%"),
    }
}

fn day(text: &str) -> Input {
    Input::Day(NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap())
}

#[test]
fn b1_a_target_not_met_deducts_met_keeps_and_not_applicable_skips() {
    let scheme = leaf(
        "",
        "      - when: {target: targets/appearance-rate}\n        then: {deduct: 2}",
    );
    let name = "targets/appearance-rate";
    assert_eq!(
        total(&scheme, &[(name, verdict(Verdict::NotMet, 45.0, 50.0))]),
        8.0
    );
    assert_eq!(
        total(&scheme, &[(name, verdict(Verdict::Met, 55.0, 50.0))]),
        10.0
    );
    let not_applicable = Input::Verdict {
        verdict: Verdict::NotApplicable,
        value: None,
        threshold: None,
        explanation: "不适用".to_owned(),
    };
    assert_eq!(total(&scheme, &[(name, not_applicable)]), 10.0);
    // Not reported is not met.
    assert_eq!(total(&scheme, &[]), 8.0);

    // The trace names the rule, the input with its source and the points.
    let scored = score(&scheme, &[(name, verdict(Verdict::NotMet, 45.0, 50.0))]);
    let line = &scored.lines[0];
    assert_eq!(
        (line.criterion.as_str(), line.rule, line.points),
        ("1", Some(0), -2.0)
    );
    assert_eq!(line.inputs, [(name.to_owned(), format!("来源:{name}"))]);
    assert_eq!(line.text, "出庭应诉率 45%,目标 ≥ 50%;扣 2 分");
}

#[test]
fn b1_c3_a_figure_short_of_its_threshold_loses_a_point_per_percentage_point() {
    let scheme = leaf(
        "",
        "      - when: {figure: {input: indicators/review-rate, comparator: '>=', value: 95}}
        then: {shortfall: {deduct_per_step: 1, step: 1}}",
    );
    let rate = |value| [("indicators/review-rate", Input::Number(value))];
    assert_eq!(total(&scheme, &rate(93.5)), 8.5);
    assert_eq!(total(&scheme, &rate(96.0)), 10.0);
    // 分值扣完为止: never below zero.
    assert_eq!(total(&scheme, &rate(40.0)), 0.0);
}

#[test]
fn c3_steps_begun_or_whole_count_as_the_scheme_says() {
    // 全年结案率达到90%,低于此每10个百分点扣1分: 85% is half a step short.
    let rule = |steps: &str| {
        leaf(
            "",
            &format!(
                "      - when: {{figure: {{input: indicators/closure-rate, comparator: '>=', value: 90}}}}
        then: {{shortfall: {{deduct_per_step: 1, step: 10, steps: {steps}}}}}"
            ),
        )
    };
    let rate = [("indicators/closure-rate", Input::Number(85.0))];
    assert_eq!(total(&rule("exact"), &rate), 9.5);
    assert_eq!(total(&rule("started"), &rate), 9.0);
    assert_eq!(total(&rule("whole"), &rate), 10.0);
}

#[test]
fn b2_c2_each_missing_session_costs_its_points_up_to_the_rule_cap() {
    // 全年不少于4次,每少一次扣0.3分,累计扣分不超过1.2分.
    let scheme = leaf(
        "",
        "      - when: {count: {input: indicators/study-sessions, at_least: 4}}
        then: {per_occurrence: {deduct_each: 0.3, cap: 1.2}}",
    );
    let sessions = |count| [("indicators/study-sessions", Input::Number(count))];
    assert_eq!(total(&scheme, &sessions(1.0)), 9.1);
    assert_eq!(total(&scheme, &sessions(4.0)), 10.0);
    // None recorded: four short, 1.2 at most.
    assert_eq!(total(&scheme, &[]), 8.8);
}

#[test]
fn c2_a_group_cap_bounds_the_deductions_of_several_rules_together() {
    // 以上项目累计扣分不超过2分.
    let scheme = leaf(
        "    group_caps: {学法: 2}",
        "      - when: {count: {input: indicators/study-sessions, at_least: 4}}
        then: {per_occurrence: {deduct_each: 0.3, cap: 1.2, group: 学法}}
      - when: {count: {input: indicators/untrained-leaders, at_most: 0}}
        then: {per_occurrence: {deduct_each: 0.5, group: 学法}}",
    );
    let given = [
        ("indicators/study-sessions", Input::Number(0.0)),
        ("indicators/untrained-leaders", Input::Number(3.0)),
    ];
    // 1.2 + 1.5 = 2.7, held to 2.
    let scored = score(&scheme, &given);
    assert_eq!(scored.total, 8.0);
    assert!(
        scored.lines[1].text.contains("累计扣分不超过 2 分"),
        "{:?}",
        scored.lines
    );
}

#[test]
fn b8_an_event_that_should_not_happen_costs_its_points_each_time() {
    // 发生一起…即扣5分.
    let scheme = leaf(
        "",
        "      - when: {count: {input: indicators/serious-violations, at_most: 0}}
        then: {per_occurrence: {deduct_each: 5}}",
    );
    let events = |count| [("indicators/serious-violations", Input::Number(count))];
    assert_eq!(total(&scheme, &events(1.0)), 5.0);
    assert_eq!(total(&scheme, &events(0.0)), 10.0);
    assert_eq!(total(&scheme, &[]), 10.0);
}

#[test]
fn b4_a_day_after_its_deadline_deducts() {
    // 未按时报告的扣0.5分.
    let scheme = leaf(
        "",
        "      - when: {deadline: {input: indicators/report-published, by: 2024-03-31}}
        then: {deduct: 0.5}",
    );
    let published = |text| [("indicators/report-published", day(text))];
    assert_eq!(total(&scheme, &published("2024-04-05")), 9.5);
    assert_eq!(total(&scheme, &published("2024-03-31")), 10.0);
    assert_eq!(total(&scheme, &[]), 9.5);
}

#[test]
fn b7_c1_c4_an_award_on_a_zero_basis_and_tiers_by_the_first_band_reached() {
    // 每年定期清理的,得4分 (out of 4, nothing otherwise).
    let award = leaf(
        "    basis: zero",
        "      - when: {present: indicators/rules-cleaned-up}
        then: {award: 4}",
    );
    let cleaned = |yes| [("indicators/rules-cleaned-up", Input::Flag(yes))];
    assert_eq!(total(&award, &cleaned(true)), 4.0);
    assert_eq!(total(&award, &cleaned(false)), 0.0);

    // 有专门法制工作机构的得3分,有机构负责法制工作的得2分,否则得0分.
    let tiers = leaf(
        "    basis: zero",
        "      - then: {tiers: {input: indicators/legal-office, bands: [{at_least: 2, points: 3}, {at_least: 1, points: 2}, {at_least: 0, points: 0}]}}",
    );
    let office = |level| [("indicators/legal-office", Input::Number(level))];
    assert_eq!(total(&tiers, &office(2.0)), 3.0);
    assert_eq!(total(&tiers, &office(1.0)), 2.0);
    assert_eq!(total(&tiers, &office(0.0)), 0.0);
}

#[test]
fn plans_tasks_done_late_or_overdue_cost_points() {
    let scheme = leaf(
        "",
        "      - when: {tasks_on_time: {plan: plans/tl-2024, at_least: 90}}
        then: {shortfall: {deduct_per_step: 1, step: 10}}
      - when: {tasks_overdue: plans/tl-2024}
        then: {per_occurrence: {deduct_each: 0.5}}",
    );
    let tasks = |on_time, total, overdue| {
        [(
            "plans/tl-2024",
            Input::Tasks {
                on_time,
                total,
                overdue,
            },
        )]
    };
    // 7 of 10 on time: 70 %, 20 points short of 90 → 2; 2 overdue → 1.
    assert_eq!(total(&scheme, &tasks(7, 10, 2)), 7.0);
    assert_eq!(total(&scheme, &tasks(10, 10, 0)), 10.0);
    // No tasks: nothing to hold against the unit.
    assert_eq!(total(&scheme, &tasks(0, 0, 0)), 10.0);
}

#[test]
fn c5_bonus_points_go_to_a_capped_bucket_above_the_base() {
    let scheme = leaf(
        "",
        "      - when: {present: indicators/national-model}
        then: {bonus: 2}
      - when: {present: indicators/provincial-model}
        then: {bonus: 2}",
    );
    let scored = score(
        &scheme,
        &[
            ("indicators/national-model", Input::Flag(true)),
            ("indicators/provincial-model", Input::Flag(true)),
        ],
    );
    assert_eq!((scored.base, scored.bonus, scored.total), (10.0, 3.0, 13.0));
}

#[test]
fn c6_a_veto_sets_the_grade_and_optionally_the_total_whatever_the_points() {
    let veto = |zero: bool| {
        leaf(
            "",
            &format!(
                "      - when: {{count: {{input: indicators/serious-violations, at_most: 0}}}}
        then: {{veto: {{grade: fail, zero: {zero}}}}}"
            ),
        )
    };
    let events = [("indicators/serious-violations", Input::Number(1.0))];
    let kept = score(&veto(false), &events);
    assert_eq!((kept.total, kept.grade), (10.0, Some(Grade::Fail)));
    let zeroed = score(&veto(true), &events);
    assert_eq!((zeroed.total, zeroed.grade), (0.0, Some(Grade::Fail)));
    let clean = score(
        &veto(true),
        &[("indicators/serious-violations", Input::Number(0.0))],
    );
    assert_eq!((clean.total, clean.grade), (10.0, Some(Grade::Excellent)));
}

#[test]
fn c7_a_reviewer_scores_within_the_criterion_with_a_justification() {
    let scheme = leaf("", "      - then: manual");
    let manual = |score: f64| {
        [(
            "manual/1",
            Input::Manual {
                score,
                justification: "部分工作未达到要求,酌情扣分".to_owned(),
                scorer: "市司法局".to_owned(),
            },
        )]
    };
    let scored = score(&scheme, &manual(7.5));
    assert_eq!(scored.total, 7.5);
    assert!(
        scored.lines[0].text.contains("酌情扣分"),
        "{:?}",
        scored.lines
    );
    assert_eq!(total(&scheme, &manual(12.0)), 10.0);
    // Not scored yet: nothing.
    assert_eq!(total(&scheme, &[]), 0.0);
}

#[test]
fn c8_a_false_report_loses_the_whole_criterion() {
    let scheme = leaf(
        "",
        "      - when: {present: indicators/office-set-up}
        then: {deduct: 0.5}
      - then: falsification",
    );
    let given = [
        ("indicators/office-set-up", Input::Flag(true)),
        ("falsified/1", Input::Flag(true)),
    ];
    assert_eq!(total(&scheme, &given), 0.0);
    assert_eq!(total(&scheme, &given[..1]), 10.0);
}

const TREE: &str = "code: tl-2024
title: 通辽市2024年度法治政府建设考核方案(示例)
year: 2024
owner_unit: tongliao
normalise_to: 100
peer_groups:
  - {code: counties, title: 旗县市区, unit_group: tl-counties}
  - {code: departments, title: 市直单位, unit_group: tl-departments}
grades:
  - {grade: excellent, min: 90}
  - {grade: good, min: 80}
  - {grade: pass, min: 60}
  - {grade: fail, min: 0}
criteria:
  - code: '1'
    title: 完善法治政府建设保障措施
    points: 30
    children:
      - code: '1.1'
        title: 加强组织领导
        weight: 60
        scorer: 市委依法治市办
        guidance: 每年专题研究法治建设工作不少于2次,每少一次扣3分
        rules:
          - when: {count: {input: indicators/study-sessions, at_least: 2}}
            then: {per_occurrence: {deduct_each: 3}}
      - code: '1.2'
        title: 落实法治建设责任
        weight: 40
  - code: '2'
    title: 乡镇(街道)法治建设
    points: 20
    peer_groups: [counties]
    children:
      - code: '2.1'
        title: 乡镇合法性审查全覆盖
        points: 20
        rules:
          - when: {target: targets/township-review}
            then: {deduct: 10}
";

#[test]
fn a1_to_a4_weights_applicability_and_normalisation_shape_the_total() {
    let scheme = Scheme::from_yaml(TREE).unwrap();
    assert_eq!(
        scheme
            .all_criteria()
            .find(|c| c.code == "1.1")
            .unwrap()
            .scorer,
        "市委依法治市办"
    );
    let given = inputs(&[
        ("indicators/study-sessions", Input::Number(1.0)),
        (
            "targets/township-review",
            verdict(Verdict::NotMet, 80.0, 100.0),
        ),
    ]);
    // 1.1 is 60 % of 30 = 18, less 3 → 15; 1.2 is 12, untouched; 2.1: 20 − 10 = 10.
    // A county: (15 + 12 + 10) / 50 × 100 = 74.
    let county = score_unit(&scheme, "tl-kzq", "counties", &given);
    let by_code: Vec<(&str, f64, f64)> = county
        .criteria
        .iter()
        .map(|c| (c.code.as_str(), c.max, c.score))
        .collect();
    assert_eq!(
        by_code,
        [
            ("1", 30.0, 27.0),
            ("1.1", 18.0, 15.0),
            ("1.2", 12.0, 12.0),
            ("2", 20.0, 10.0),
            ("2.1", 20.0, 10.0)
        ]
    );
    assert_eq!((county.base, county.full, county.total), (37.0, 50.0, 74.0));
    assert_eq!(county.grade, Some(Grade::Pass));
    // A city department is not scored on 2: 27 / 30 × 100 = 90.
    let department = score_unit(&scheme, "tl-sfj", "departments", &given);
    assert_eq!((department.full, department.total), (30.0, 90.0));
    assert_eq!(department.grade, Some(Grade::Excellent));
    assert!(department.criteria.iter().all(|c| !c.code.starts_with('2')));

    // The scheme reads back as it was written.
    assert_eq!(Scheme::from_yaml(&scheme.to_yaml()).unwrap(), scheme);
}

#[test]
fn d2_ties_share_a_rank_and_the_next_rank_skips() {
    assert_eq!(
        rank(&[90.0, 85.0, 90.0, 70.0]),
        [(1, true), (3, false), (1, true), (4, false)]
    );
    assert_eq!(rank(&[]), []);
}

#[test]
fn a_scheme_with_problems_names_each_of_them() {
    let bad = "code: t
title: ''
year: 1900
owner_unit: tongliao
peer_groups:
  - {code: counties, title: 旗县市区, unit_group: tl-counties}
grades:
  - {grade: pass, min: 60}
  - {grade: excellent, min: 90}
criteria:
  - code: '1'
    title: 一
    weight: 50
  - code: '2'
    title: 二
    points: 10
    peer_groups: [towns]
    children:
      - {code: '2.1', title: 二一, points: 6}
      - {code: '2.1', title: 二二, points: 6}
  - code: '3'
    title: 三
    points: 5
    rules:
      - when: {present: indicators/x}
        then: manual
      - when: {present: indicators/x}
        then: {bonus: 1}
      - then: {deduct: 1}
      - when: {present: indicators/x}
        then: {shortfall: {deduct_per_step: 1, step: 1}}
      - when: {present: indicators/x}
        then: {per_occurrence: {deduct_each: -1, group: nowhere}}
";
    let violations = Scheme::from_yaml(bad).unwrap_err();
    let found: Vec<(&str, &str)> = violations
        .iter()
        .map(|violation| (violation.field.as_str(), violation.reason))
        .collect();
    assert_eq!(
        found,
        [
            ("title", "REQUIRED"),
            ("year", "INVALID_YEAR"),
            ("grades[1].min", "GRADES_NOT_DESCENDING"),
            ("criteria[0].weight", "WEIGHT_AT_TOP"),
            ("criteria[1].peer_groups[0]", "UNKNOWN_PEER_GROUP"),
            ("criteria[1].children", "CHILDREN_EXCEED_PARENT"),
            ("criteria[1].children[1].code", "DUPLICATE_CODE"),
            ("criteria[2].rules[0].when", "CONDITION_NOT_ALLOWED"),
            ("criteria[2].rules[1].then.bonus", "NO_BONUS_BUCKET"),
            ("criteria[2].rules[2].when", "REQUIRED"),
            ("criteria[2].rules[3].then.shortfall", "NO_SHORTFALL"),
            (
                "criteria[2].rules[4].then.per_occurrence.group",
                "UNKNOWN_GROUP"
            ),
            ("criteria[2].rules[4].then", "INVALID_POINTS"),
        ]
    );
    // Not YAML of a scheme at all, and a field no scheme has.
    for text in ["- 1\n- 2", "code: t\nbogus: 1"] {
        let reasons: Vec<&str> = Scheme::from_yaml(text)
            .unwrap_err()
            .iter()
            .map(|violation| violation.reason)
            .collect();
        assert_eq!(reasons, ["INVALID_SCHEME"]);
    }
}

#[test]
fn the_documented_example_is_a_valid_scheme() {
    let doc = include_str!("../../../docs/assessment.md");
    let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let scheme =
        Scheme::from_yaml(&doc[start..end]).unwrap_or_else(|violations| panic!("{violations:?}"));
    assert_eq!(scheme.all_criteria().count(), 6);
}

#[test]
fn d1_a_grade_quota_sends_those_ranked_beyond_it_and_ties_at_the_cut_one_grade_down() {
    let scheme = Scheme::from_yaml(
        "code: q\ntitle: 比例测试\nyear: 2024\nowner_unit: tongliao
peer_groups:
  - {code: counties, title: 旗县市区, unit_group: tl-counties}
grades:
  - {grade: excellent, min: 9, quota: 40}
  - {grade: good, min: 8}
  - {grade: fail, min: 0}
criteria:
  - code: '1'
    title: 综合评价
    points: 10
    rules:
      - then: manual
",
    )
    .unwrap();
    let given = [10.0, 9.5, 9.5, 9.0, 7.0];
    let members: Vec<Member> = (0..given.len())
        .map(|index| Member {
            unit: format!("u{index}"),
            display_name: format!("单位{index}"),
            peer_group: "counties".to_owned(),
        })
        .collect();
    let frozen = given
        .iter()
        .enumerate()
        .map(|(index, score)| {
            let manual = Input::Manual {
                score: *score,
                justification: "综合评价".to_owned(),
                scorer: "考核组".to_owned(),
            };
            (format!("u{index}"), inputs(&[("manual/1", manual)]))
        })
        .collect();
    let grades: Vec<Option<Grade>> = score_round(&scheme, &members, frozen)
        .into_iter()
        .map(|unit| unit.score.grade)
        .collect();
    // 40 % of 5 is 2 excellent places: the second and third tie at 9.5, so only the first
    // keeps 优秀; 9.0 was 优秀 by its score and is 良好 too; 7.0 stays 不合格.
    assert_eq!(
        grades,
        [
            Some(Grade::Excellent),
            Some(Grade::Good),
            Some(Grade::Good),
            Some(Grade::Good),
            Some(Grade::Fail)
        ]
    );
    let over = Scheme::from_yaml(&scheme.to_yaml().replace("quota: 40.0", "quota: 140.0"));
    assert!(over.is_err(), "{:?}", scheme.to_yaml());
}

#[test]
fn c9_points_by_rank_in_the_peer_group_ties_sharing_and_no_value_unranked() {
    let scheme = Scheme::from_yaml(
        "code: r\ntitle: 排名计分\nyear: 2024\nowner_unit: tongliao
peer_groups:
  - {code: counties, title: 旗县市区, unit_group: tl-counties}
criteria:
  - code: '1'
    title: 案件办理质效
    points: 5
    basis: zero
    guidance: 按结案率排名,第1名得5分,第2至3名得3分
    rules:
      - then: {rank_points: {input: indicators/closing-rate, bands: [{top: 1, points: 5}, {top: 3, points: 3}]}}
",
    )
    .unwrap();
    let values = [Some(90.0), Some(80.0), Some(80.0), Some(70.0), None];
    let members: Vec<Member> = (0..values.len())
        .map(|index| Member {
            unit: format!("u{index}"),
            display_name: format!("单位{index}"),
            peer_group: "counties".to_owned(),
        })
        .collect();
    let frozen = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let given: Vec<(&str, Input)> = value
                .map(|value| ("indicators/closing-rate", Input::Number(value)))
                .into_iter()
                .collect();
            (format!("u{index}"), inputs(&given))
        })
        .collect();
    let scored = score_round(&scheme, &members, frozen);
    let totals: Vec<f64> = scored.iter().map(|unit| unit.score.total).collect();
    // Ranks 1, 2, 2, 4 and none: 5, 3, 3, 0, 0.
    assert_eq!(totals, [5.0, 3.0, 3.0, 0.0, 0.0]);
    // The rank is frozen with the unit's inputs: the trace is worked out from them alone.
    let second = &scored[1];
    assert_eq!(
        second.inputs["rank/indicators/closing-rate"].source,
        "indicators/closing-rate 在本组 4 个有数据的单位中排第 2 名"
    );
    let again = score_unit(&scheme, "u1", "counties", &second.inputs);
    assert!(
        again.lines[0]
            .text
            .contains("排名第 2 名,在前 3 名内,得 3 分"),
        "{:?}",
        again.lines
    );
    let bad = Scheme::from_yaml(&scheme.to_yaml().replace("top: 3", "top: 1"));
    assert!(bad.is_err(), "bands must ascend");
}
