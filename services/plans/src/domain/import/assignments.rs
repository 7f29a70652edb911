//! Layer 4: unit cells and labels → one mention per unit or group, as printed.

use super::segment::LabelRole;

/// Splits a unit cell at list separators, keeping `X等…的各相关部门` whole: its separators belong
/// to the description, not to the list.
pub fn split_mentions(cell: &str) -> Vec<String> {
    let mut mentions: Vec<String> = Vec::new();
    let mut open_description = false;
    for fragment in cell
        .split(['、', ',', ';', ',', ';'])
        .map(str::trim)
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

/// Takes a trailing bracket that assigns units — `(牵头单位:市司法局;责任单位:各县区)` or
/// `(市司法局牵头,各乡镇负责)` — off a task's text, returning the text and the assignments.
pub fn split_inline(text: &str) -> (String, Vec<(LabelRole, String)>) {
    let trimmed = text.trim_end_matches(['。', ' ']);
    let Some(body) = trimmed.strip_suffix(')') else {
        return (text.to_owned(), Vec::new());
    };
    let Some(open) = body.rfind('(') else {
        return (text.to_owned(), Vec::new());
    };
    let content = &body[open + 1..];
    if !["牵头", "责任单位", "负责", "配合"]
        .iter()
        .any(|keyword| content.contains(keyword))
    {
        return (text.to_owned(), Vec::new());
    }
    let mut assignments = Vec::new();
    for clause in content
        .split([';', ';', ',', ','])
        .map(str::trim)
        .filter(|clause| !clause.is_empty())
    {
        let labelled = [
            ("牵头单位", LabelRole::Lead),
            ("责任单位", LabelRole::Responsible),
            ("配合单位", LabelRole::Participating),
        ]
        .into_iter()
        .find_map(|(label, role)| {
            clause
                .strip_prefix(label)
                .map(|rest| (role, rest.trim_start_matches([':', ':']).to_owned()))
        });
        let suffixed = [
            ("牵头", LabelRole::Lead),
            ("负责", LabelRole::Responsible),
            ("落实", LabelRole::Responsible),
            ("配合", LabelRole::Participating),
            ("参与", LabelRole::Participating),
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
    (body[..open].trim_end().to_owned(), assignments)
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
        assert!(split_mentions("").is_empty());
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
