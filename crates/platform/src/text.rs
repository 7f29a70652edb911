//! Cleaning Chinese text that came out of published documents, shared by every service that
//! reads them (plan text, unit mentions, scheme rows).

/// Removes the `-10-`, `- 10 -` and `—10—` page markers that extraction from a paginated
/// document leaves inside sentences: a dash, one to three digits (spaces around them allowed),
/// a dash. Ranges such as `2022—2025年` stay.
pub fn remove_page_markers(text: &str) -> String {
    let characters: Vec<char> = text.chars().collect();
    let is_dash = |character: char| matches!(character, '-' | '—' | '–' | '−');
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < characters.len() {
        if is_dash(characters[index]) {
            let mut end = index + 1;
            while end < characters.len() && characters[end] == ' ' {
                end += 1;
            }
            let digits_start = end;
            while end < characters.len() && characters[end].is_ascii_digit() {
                end += 1;
            }
            let digits = end - digits_start;
            while end < characters.len() && characters[end] == ' ' {
                end += 1;
            }
            if (1..=3).contains(&digits) && end < characters.len() && is_dash(characters[end]) {
                index = end + 1;
                continue;
            }
        }
        out.push(characters[index]);
        index += 1;
    }
    out
}

/// Whether a text is an address evidence may be linked by: an http(s) URL with a host, or an
/// evidence file the plans service keeps,
/// `plans/{plan}/tasks/{task}/assignments/{assignment}/evidence/{sha256}`.
pub fn is_evidence_address(uri: &str) -> bool {
    if let Ok(parsed) = url::Url::parse(uri) {
        return matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some();
    }
    let parts: Vec<&str> = uri.split('/').collect();
    matches!(
        parts.as_slice(),
        ["plans", plan, "tasks", task, "assignments", assignment, "evidence", sha256]
            if [plan, task, assignment].iter().all(|id| !id.is_empty())
                && sha256.len() == 64
                && sha256.bytes().all(|byte| byte.is_ascii_hexdigit())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_markers_go_and_ranges_stay() {
        assert_eq!(remove_page_markers("把习近平 -10 - 作为"), "把习近平  作为");
        assert_eq!(remove_page_markers("市司法局—7—"), "市司法局");
        assert_eq!(remove_page_markers("市-12-司法局"), "市司法局");
        assert_eq!(remove_page_markers("2022—2025年"), "2022—2025年");
        assert_eq!(remove_page_markers("(2022-2025年)"), "(2022-2025年)");
        assert_eq!(remove_page_markers("-"), "-");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = remove_page_markers(&text);
        }
    }
}
