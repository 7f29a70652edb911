//! What a unit reorganisation (机构改革) does to open assignments.

/// The kinds of reorganisation that move work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reorganization {
    /// Several units become one: their open work goes to the successor.
    Merge,
    /// One unit becomes several: its open work goes to the first successor, which the units
    /// registry lists as the continuing unit; the coordinator reassigns what belongs elsewhere.
    Split,
    /// Renames and moves keep the unit's id; an abolished unit's work waits for the
    /// coordinator, since no successor is named.
    KeepsWork,
}

/// (from, to) unit ids: where each source unit's open assignments go.
pub fn successor_moves(
    kind: Reorganization,
    sources: &[String],
    successors: &[String],
) -> Vec<(String, String)> {
    let Some(first) = successors.first() else {
        return Vec::new();
    };
    match kind {
        Reorganization::Merge | Reorganization::Split => sources
            .iter()
            .filter(|source| *source != first)
            .map(|source| (source.clone(), first.clone()))
            .collect(),
        Reorganization::KeepsWork => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn merges_and_splits_move_work_to_the_successor() {
        assert_eq!(
            successor_moves(Reorganization::Merge, &ids(&["a", "b", "c"]), &ids(&["c"])),
            [
                ("a".to_owned(), "c".to_owned()),
                ("b".to_owned(), "c".to_owned())
            ]
        );
        assert_eq!(
            successor_moves(Reorganization::Split, &ids(&["a"]), &ids(&["a1", "a2"])),
            [("a".to_owned(), "a1".to_owned())]
        );
        assert!(successor_moves(Reorganization::KeepsWork, &ids(&["a"]), &ids(&["b"])).is_empty());
        assert!(successor_moves(Reorganization::Merge, &ids(&["a"]), &[]).is_empty());
    }
}
