//! Layer 4: unit cells and labels → one mention per unit or group, as printed.

use std::sync::LazyLock;

use regex::Regex;

use super::segment::{LABEL_ANYWHERE as INLINE_LABEL, LABELS, LabelRole};

/// A clause of running text that opens with units and says their part: 县司法局牵头,
/// 由市财政局负责, 各行政执法部门具体落实, 各乡镇要…. The units end in a word units end in.
static PROSE_DUTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:由)?((?:[\p{Han}()]{1,24}?(?:局|委|办|厅|部|院|中心|政府|部门|单位|乡镇|街道|机关|委员会|党校|法院|检察院)、?)+?)(牵头|负责牵头|具体落实|负责落实|抓好落实|负责实施|负责|落实|配合|协助|参与|要|应当|应)",
    )
    .expect("a valid pattern")
});

/// The cell's fragments between list separators outside brackets (normalised to ASCII): 各县(市、区)
/// 人民政府 is one.
fn list_fragments(cell: &str) -> Vec<&str> {
    let mut fragments = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (index, character) in cell.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = (depth - 1).max(0),
            '、' | ',' | ';' | ',' | ';' | '。' if depth == 0 => {
                fragments.push(&cell[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    fragments.push(&cell[start..]);
    fragments
}

/// Phrases that say how units share a duty, not which units: 县委党校按职责分工(负责).
const DUTY_FILLERS: [&str; 7] = [
    "按职责分工",
    "按照职责分工",
    "按职责",
    "分别",
    "共同",
    "具体",
    "负责",
];

fn strip_fillers(mention: &str) -> &str {
    let mut rest = mention.trim();
    while let Some(shorter) = DUTY_FILLERS
        .iter()
        .find_map(|filler| rest.strip_suffix(filler))
    {
        rest = shorter.trim_end();
    }
    rest
}

/// Splits a unit cell at list separators outside brackets, keeping `X等…的各相关部门` whole: its
/// separators belong to the description, not to the list.
pub fn split_mentions(cell: &str) -> Vec<String> {
    let mut mentions: Vec<String> = Vec::new();
    let mut open_description = false;
    for fragment in list_fragments(cell)
        .into_iter()
        .map(strip_fillers)
        .filter(|fragment| !fragment.is_empty())
    {
        match mentions.last_mut() {
            Some(last) if open_description => {
                last.push('、');
                last.push_str(fragment);
            }
            _ => mentions.push(fragment.to_owned()),
        }
        let current = mentions.last().map(String::as_str).unwrap_or_default();
        open_description = current.contains('等') && !ends_a_description(current);
    }
    mentions
}

/// The role a mention names in a closing bracket, and the mention without it:
/// 县司法局(牵头) → lead 县司法局.
pub fn own_role(mention: &str) -> Option<(LabelRole, String)> {
    let body = mention.strip_suffix(')')?;
    let open = body.rfind('(')?;
    let role = match &body[open + 1..] {
        "牵头" | "牵头单位" | "主办" => LabelRole::Lead,
        "负责" | "责任单位" | "责任" => LabelRole::Responsible,
        "配合" | "配合单位" | "协办" | "参与" | "参加" => LabelRole::Participating,
        _ => return None,
    };
    let unit = body[..open].trim();
    (!unit.is_empty()).then(|| (role, unit.to_owned()))
}

fn ends_a_description(text: &str) -> bool {
    ["部门", "单位", "机构", "机关", "等"]
        .iter()
        .any(|ending| text.ends_with(ending))
}

/// A line that continues a task's text rather than naming units: it has sentence punctuation or
/// is long.
pub fn reads_as_prose(text: &str) -> bool {
    text.contains(['。', ',', ':', '“']) || text.chars().count() > 40
}

/// A time limit given with the units: 完成时限:2023年12月底前.
pub static TIME_LIMIT_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(完成时限|完成时间|时间节点|时限)\s*[::]").expect("a valid pattern")
});
/// A unit's or group's name: a few characters ending in a word names of units end in.
static UNIT_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\p{Han}()]{1,20}(?:局|委|办|厅|院|政府|部门|单位|中心|党校|街道|乡镇|办公室|管委会|机关)$")
        .expect("a valid pattern")
});

/// A bracket that holds nothing but unit names, (县政府办、县数据资源局): the task's responsible
/// units. (试行) and (2021—2025年) are not.
fn names_only_units(content: &str) -> bool {
    let fragments = list_fragments(content);
    !fragments.is_empty()
        && fragments
            .iter()
            .all(|fragment| UNIT_NAME.is_match(fragment.trim()))
}

/// Takes the units a task's text assigns off it: a trailing bracket — `(牵头单位:市司法局;责任单位:
/// 各县区)`, `【…】`, `[县委宣传部、县司法局负责]`, `(市司法局牵头,各乡镇负责)` — or labels run into
/// the text (`…建设。牵头单位:县司法局;责任单位:县直各单位。`). A time limit given with them stays
/// in the text as (完成时限:…), where deadlines are read.
pub fn split_inline(text: &str) -> (String, Vec<(LabelRole, String)>) {
    let trimmed = text.trim_end_matches(['。', ' ']);
    let bracketed = [('(', ')'), ('【', '】'), ('[', ']'), ('〔', '〕')]
        .into_iter()
        .find_map(|(open, close)| {
            let body = trimmed.strip_suffix(close)?;
            let at = body.rfind(open)?;
            Some((&body[..at], &body[at + open.len_utf8()..]))
        })
        .filter(|(_, content)| {
            [
                "牵头",
                "责任单位",
                "责任部门",
                "负责",
                "配合",
                "协办",
                "主办",
            ]
            .iter()
            .any(|keyword| content.contains(keyword))
                || names_only_units(content)
        });
    let (before, content) = match bracketed {
        Some(found) => found,
        None => match INLINE_LABEL.find(trimmed) {
            Some(label) if label.start() > 0 => {
                (&trimmed[..label.start()], &trimmed[label.start()..])
            }
            _ => return (text.to_owned(), Vec::new()),
        },
    };
    // Each label and time limit starts a clause of its own, even without a separator before it.
    let separated = INLINE_LABEL.replace_all(content, ";$0");
    let separated = TIME_LIMIT_KEY.replace_all(&separated, ";$0");
    let mut assignments: Vec<(LabelRole, String)> = Vec::new();
    let mut limits = Vec::new();
    for clause in separated
        .split([';', ';', ',', ','])
        .map(|clause| clause.trim().trim_end_matches('。'))
        .filter(|clause| !clause.is_empty())
    {
        if let Some(key) = TIME_LIMIT_KEY.find(clause).filter(|key| key.start() == 0) {
            limits.push(clause[key.end()..].trim().to_owned());
            continue;
        }
        let labelled = LABELS.iter().find_map(|(label, role)| {
            let rest = clause.strip_prefix(label)?;
            let units = rest.trim_start_matches([':', ':', ' ']);
            // A short label (牵头, 配合) is one only with its colon: 牵头推进… is a sentence.
            (label.chars().count() > 2 || units.len() < rest.len())
                .then(|| (*role, units.to_owned()))
        });
        let suffixed = [
            ("牵头", LabelRole::Lead),
            ("主办", LabelRole::Lead),
            ("负责", LabelRole::Responsible),
            ("落实", LabelRole::Responsible),
            ("配合", LabelRole::Participating),
            ("参与", LabelRole::Participating),
            ("参加", LabelRole::Participating),
            ("协办", LabelRole::Participating),
        ]
        .into_iter()
        .find_map(|(suffix, role)| {
            clause
                .strip_suffix(suffix)
                .map(|rest| (role, rest.to_owned()))
        });
        match labelled.or(suffixed) {
            Some((role, units)) => assignments.push((role, units)),
            // A clause that continues the previous one's list: 市司法局牵头,市财政局 → both lead.
            None => match assignments.last_mut() {
                Some((_, units)) => {
                    units.push('、');
                    units.push_str(clause);
                }
                None => assignments.push((LabelRole::Responsible, clause.to_owned())),
            },
        }
    }
    let mut text = before.trim_end().to_owned();
    for limit in limits.iter().filter(|limit| !limit.is_empty()) {
        text.push_str(&format!("(完成时限:{limit})"));
    }
    (text, assignments)
}

/// Words a sentence opens with that no unit's name does.
const VERB_OPENINGS: [&str; 14] = [
    "严格", "全面", "深入", "加强", "推进", "推动", "落实", "完善", "健全", "建立", "开展", "坚持",
    "强化", "积极",
];

/// How much a sentence must say to name units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// 牵头, 负责, 落实, 配合 … and also 要, 应当: a prose plan's headings, where nothing else
    /// names units.
    Any,
    /// Only the words that assign work (牵头, 负责, 落实, 配合, 协助, 参与): a numbered item
    /// without labels, where 各级政府要… is exhortation, not assignment.
    Assigning,
}

/// Units and their parts named in running text, for plans that print no unit labels: each clause
/// (between , ; 。 :) that opens with units followed by 牵头 (lead), 配合/协助/参与
/// (participating), or 负责/落实/要/应当 (responsible). A unit named twice keeps its first part.
pub fn from_prose(text: &str, duty: Duty) -> Vec<(LabelRole, String)> {
    let mut found: Vec<(LabelRole, String)> = Vec::new();
    for clause in text.split(['。', ',', ';', ':', ',', ';']).map(str::trim) {
        let Some(captures) = PROSE_DUTY.captures(clause) else {
            continue;
        };
        if duty == Duty::Assigning {
            let after = clause[captures.get(2).map_or(0, |found| found.end())..]
                .chars()
                .next();
            // 负责人 is a person and 严格落实行政机关… a sentence, not units given work.
            let exhortation = matches!(&captures[2], "要" | "应当" | "应");
            let not_a_duty = matches!(after, Some('人' | '制' | '同' | '的'));
            let opens_with_a_verb = VERB_OPENINGS
                .iter()
                .any(|verb| captures[1].trim_start_matches('由').starts_with(verb));
            if exhortation || not_a_duty || opens_with_a_verb {
                continue;
            }
        }
        let role = match &captures[2] {
            "牵头" | "负责牵头" => LabelRole::Lead,
            "配合" | "协助" | "参与" => LabelRole::Participating,
            _ => LabelRole::Responsible,
        };
        let units = captures[1].trim_end_matches('、');
        if !found.iter().any(|(_, known)| known == units) {
            found.push((role, units.to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lists_and_keeps_descriptions_whole() {
        assert_eq!(
            split_mentions("各乡镇、街道,市政府各部门"),
            vec!["各乡镇", "街道", "市政府各部门"]
        );
        assert_eq!(
            split_mentions(
                "发改委、市人社局等有职业资格、资质许可和认定事项的各相关部门、旗县市区"
            ),
            vec![
                "发改委",
                "市人社局等有职业资格、资质许可和认定事项的各相关部门",
                "旗县市区"
            ]
        );
        assert_eq!(split_mentions(" 市司法局 "), vec!["市司法局"]);
        assert_eq!(
            split_mentions("市直有关部门、各县(市、区)人民政府"),
            vec!["市直有关部门", "各县(市、区)人民政府"]
        );
        assert_eq!(
            split_mentions("县委组织部、县委党校按职责分工"),
            vec!["县委组织部", "县委党校"]
        );
        assert!(split_mentions("").is_empty());
    }

    #[test]
    fn a_mention_may_carry_its_own_role() {
        assert_eq!(
            own_role("县司法局(牵头)"),
            Some((LabelRole::Lead, "县司法局".to_owned()))
        );
        assert_eq!(
            own_role("县司法局(配合)"),
            Some((LabelRole::Participating, "县司法局".to_owned()))
        );
        assert_eq!(own_role("各县(市、区)"), None);
        assert_eq!(own_role("(牵头)"), None);
    }

    fn from_prose_any(text: &str) -> Vec<(LabelRole, String)> {
        from_prose(text, Duty::Any)
    }

    #[test]
    fn reads_units_named_in_running_text() {
        assert_eq!(
            from_prose_any(
                "各行政执法部门要在2023年9月底前全面公示执法信息。县司法局负责统筹推进。"
            ),
            vec![
                (LabelRole::Responsible, "各行政执法部门".to_owned()),
                (LabelRole::Responsible, "县司法局".to_owned())
            ]
        );
        assert_eq!(
            from_prose_any(
                "全面推行法制审核制度。县司法局牵头,各行政执法部门具体落实,审核率达到100%。"
            ),
            vec![
                (LabelRole::Lead, "县司法局".to_owned()),
                (LabelRole::Responsible, "各行政执法部门".to_owned())
            ]
        );
        assert_eq!(
            from_prose_any("由市财政局、市审计局负责,市发展改革委配合。"),
            vec![
                (LabelRole::Responsible, "市财政局、市审计局".to_owned()),
                (LabelRole::Participating, "市发展改革委".to_owned())
            ]
        );
        // In a numbered item, only words that give work name units.
        assert_eq!(
            from_prose(
                "严格落实行政机关负责人出庭应诉制度。由县司法局牵头,各乡镇要抓好落实。",
                Duty::Assigning
            ),
            vec![(LabelRole::Lead, "县司法局".to_owned())]
        );
        // Sentences without units say nothing.
        assert!(from_prose_any("要加强组织领导,确保各项任务落到实处。").is_empty());
    }

    #[test]
    fn reads_bracketed_assignments() {
        let (text, assignments) = split_inline("开展执法检查。(牵头单位:市司法局;责任单位:各县区)");
        assert_eq!(text, "开展执法检查。");
        assert_eq!(
            assignments,
            vec![
                (LabelRole::Lead, "市司法局".to_owned()),
                (LabelRole::Responsible, "各县区".to_owned())
            ]
        );
        let (text, assignments) = split_inline("推进政务公开(县政府办、县数据资源局)");
        assert_eq!(text, "推进政务公开");
        assert_eq!(
            assignments,
            vec![(LabelRole::Responsible, "县政府办、县数据资源局".to_owned())]
        );
        let (_, assignments) = split_inline("推进公开(市政府办公室牵头,市数据资源局配合)");
        assert_eq!(
            assignments,
            vec![
                (LabelRole::Lead, "市政府办公室".to_owned()),
                (LabelRole::Participating, "市数据资源局".to_owned())
            ]
        );
        let (text, assignments) = split_inline("严格落实(试行)办法");
        assert_eq!(
            (text.as_str(), assignments.len()),
            ("严格落实(试行)办法", 0)
        );
    }
}
