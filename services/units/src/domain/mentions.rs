//! Resolving unit mentions as plans print them (市司法局, 政府办, 各乡镇、街道, 旗县市区) to units or
//! groups, relative to the issuing unit.
//!
//! Layered: normalise the text (width, white space, page-number noise), index every name a unit
//! or group goes by including the forms an issuer uses for its own units (宁国市司法局 → 市司法局
//! → 司法局), look the mention up, then fall back to weaker rules (`X等…`, a group named at the
//! end, character-bigram similarity). A weak or ambiguous match is reported with its candidates,
//! never silently guessed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::{Unit, UnitGroup, UnitGroupId, UnitId, UnitKind};

/// What a mention resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    Unit(UnitId),
    Group(UnitGroupId),
}

/// A ranked candidate for a mention that did not resolve with confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub unit: UnitId,
    pub display_name: String,
    pub score: f64,
}

/// The outcome for one mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub mention: String,
    pub normalized: String,
    pub target: Option<Target>,
    pub confidence: f64,
    pub candidates: Vec<Candidate>,
    /// `name`, `issuer_relative`, `group`, `before_etc`, `group_suffix`, `fuzzy`, `ambiguous`,
    /// `unresolved`.
    pub method: &'static str,
}

/// A unit in the resolution scope and its distance below the issuer's government
/// (1 for its departments; 0 for the government itself; negative for its ancestors).
#[derive(Debug, Clone)]
pub struct ScopedUnit {
    pub unit: Unit,
    pub depth: i32,
}

/// The registry as seen from one issuer on one day.
pub struct Scope<'a> {
    /// The issuer's government (the nearest government at or above the context unit).
    pub government: &'a Unit,
    pub units: &'a [ScopedUnit],
    pub groups: &'a [UnitGroup],
}

/// Below this, a fuzzy match is only a candidate.
const FUZZY_THRESHOLD: f64 = 0.72;
/// How far the best fuzzy match must lead the next different target.
const FUZZY_MARGIN: f64 = 0.08;

#[derive(Debug, Clone)]
struct Entry {
    target: Target,
    display_name: String,
    confidence: f64,
    depth: i32,
    method: &'static str,
}

/// Every name in scope, by matching key.
pub struct MentionIndex {
    by_key: HashMap<String, Vec<Entry>>,
}

impl MentionIndex {
    pub fn new(scope: &Scope<'_>) -> Self {
        let mut index = Self {
            by_key: HashMap::new(),
        };
        let place = place_name(&scope.government.display_name);
        let level_char: String = place.chars().last().map(String::from).unwrap_or_default();
        for scoped in scope.units {
            let unit = &scoped.unit;
            let target = Target::Unit(unit.id.clone());
            let add = |index: &mut Self, name: &str, confidence: f64, method: &'static str| {
                index.add(
                    name,
                    &target,
                    &unit.display_name,
                    confidence,
                    scoped.depth,
                    method,
                );
            };
            for name in unit.names() {
                add(&mut index, name, 1.0, "name");
                if scoped.depth < 1 || place.is_empty() {
                    continue;
                }
                // The issuer names its own units without its place name: 宁国市司法局 → 市司法局.
                let party_place = format!("中共{place}");
                if let Some(rest) = name.strip_prefix(party_place.as_str()) {
                    add(
                        &mut index,
                        &format!("{level_char}{rest}"),
                        0.97,
                        "issuer_relative",
                    );
                    if let Some(bare) = rest.strip_prefix('委') {
                        add(&mut index, bare, 0.9, "issuer_relative");
                    }
                } else if let Some(rest) = name.strip_prefix(place.as_str()) {
                    add(
                        &mut index,
                        &format!("{level_char}{rest}"),
                        0.97,
                        "issuer_relative",
                    );
                    add(&mut index, rest, 0.93, "issuer_relative");
                } else if let Some(rest) = name.strip_prefix(level_char.as_str()) {
                    add(&mut index, rest, 0.93, "issuer_relative");
                }
            }
        }
        for group in scope.groups {
            let target = Target::Group(group.id.clone());
            for name in group.names() {
                index.add(name, &target, &group.display_name, 1.0, 0, "group");
                let bare = name.strip_prefix('各').unwrap_or(name);
                index.add(bare, &target, &group.display_name, 0.98, 0, "group");
                index.add(
                    &format!("各{bare}"),
                    &target,
                    &group.display_name,
                    0.98,
                    0,
                    "group",
                );
                if !level_char.is_empty() && !name.starts_with(level_char.as_str()) {
                    index.add(
                        &format!("{level_char}{name}"),
                        &target,
                        &group.display_name,
                        0.97,
                        0,
                        "group",
                    );
                }
            }
        }
        index
    }

    fn add(
        &mut self,
        name: &str,
        target: &Target,
        display_name: &str,
        confidence: f64,
        depth: i32,
        method: &'static str,
    ) {
        let key = matching_key(&normalize(name));
        if key.chars().count() < 2 {
            return;
        }
        let entries = self.by_key.entry(key).or_default();
        match entries.iter_mut().find(|entry| entry.target == *target) {
            Some(existing) if existing.confidence >= confidence => {}
            Some(existing) => {
                existing.confidence = confidence;
                existing.method = method;
            }
            None => entries.push(Entry {
                target: target.clone(),
                display_name: display_name.to_owned(),
                confidence,
                depth,
                method,
            }),
        }
    }

    /// Resolves one mention.
    pub fn resolve(&self, mention: &str) -> Resolution {
        let normalized = normalize(mention);
        let key = matching_key(&normalized);
        let mut resolution = Resolution {
            mention: mention.to_owned(),
            normalized: normalized.clone(),
            target: None,
            confidence: 0.0,
            candidates: Vec::new(),
            method: "unresolved",
        };
        if key.is_empty() {
            return resolution;
        }
        if let Some(found) = self.exact(&key, 1.0, &mut resolution) {
            return found;
        }
        // 市人社局等有职业资格…的各相关部门: the unit named before 等.
        if let Some((before, _)) = key.split_once('等')
            && let Some(found) = self.exact(before, 0.9, &mut resolution)
        {
            return Resolution {
                method: "before_etc",
                ..found
            };
        }
        // …涉及赋权相关部门: a group named at the end.
        if let Some(found) = self.group_suffix(&key, &resolution) {
            return found;
        }
        self.fuzzy(&key, resolution)
    }

    fn exact(&self, key: &str, factor: f64, resolution: &mut Resolution) -> Option<Resolution> {
        let entries = self.by_key.get(key)?;
        let best = best_entries(entries);
        if best.len() == 1 {
            let entry = best[0];
            return Some(Resolution {
                target: Some(entry.target.clone()),
                confidence: entry.confidence * factor,
                method: entry.method,
                candidates: Vec::new(),
                ..resolution.clone()
            });
        }
        resolution.method = "ambiguous";
        resolution.candidates = best
            .iter()
            .filter_map(|entry| candidate(entry, entry.confidence))
            .collect();
        None
    }

    fn group_suffix(&self, key: &str, resolution: &Resolution) -> Option<Resolution> {
        let (group_key, entry) = self
            .by_key
            .iter()
            .filter(|(group_key, _)| {
                group_key.chars().count() >= 3 && key.ends_with(group_key.as_str())
            })
            .filter_map(|(group_key, entries)| {
                let groups: Vec<&Entry> = entries
                    .iter()
                    .filter(|entry| matches!(entry.target, Target::Group(_)))
                    .collect();
                (groups.len() == 1).then(|| (group_key, groups[0]))
            })
            .max_by_key(|(group_key, _)| group_key.chars().count())?;
        let coverage = group_key.chars().count() as f64 / key.chars().count() as f64;
        Some(Resolution {
            target: Some(entry.target.clone()),
            confidence: (0.6 + 0.3 * coverage).min(0.9),
            method: "group_suffix",
            candidates: Vec::new(),
            ..resolution.clone()
        })
    }

    fn fuzzy(&self, key: &str, mut resolution: Resolution) -> Resolution {
        let mut scored: Vec<(f64, &Entry)> = self
            .by_key
            .iter()
            .flat_map(|(name, entries)| {
                let score = similarity(key, name);
                entries
                    .iter()
                    .map(move |entry| (score * entry.confidence, entry))
            })
            .filter(|(score, _)| *score > 0.2)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.depth.cmp(&b.1.depth)));
        let mut seen = Vec::new();
        scored.retain(|(_, entry)| {
            let fresh = !seen.contains(&&entry.target);
            if fresh {
                seen.push(&entry.target);
            }
            fresh
        });
        if let Some((best_score, best)) = scored.first() {
            let runner_up = scored.get(1).map_or(0.0, |(score, _)| *score);
            if *best_score >= FUZZY_THRESHOLD && best_score - runner_up >= FUZZY_MARGIN {
                resolution.target = Some(best.target.clone());
                resolution.confidence = best_score * 0.9;
                resolution.method = "fuzzy";
                return resolution;
            }
        }
        if resolution.candidates.is_empty() {
            resolution.candidates = scored
                .iter()
                .filter_map(|(score, entry)| candidate(entry, *score))
                .take(5)
                .collect();
        }
        resolution
    }
}

/// The entries with the highest confidence, then the smallest depth below the issuer.
fn best_entries(entries: &[Entry]) -> Vec<&Entry> {
    let top = entries
        .iter()
        .map(|entry| entry.confidence)
        .fold(f64::MIN, f64::max);
    let confident: Vec<&Entry> = entries
        .iter()
        .filter(|entry| entry.confidence >= top - f64::EPSILON)
        .collect();
    let nearest = confident
        .iter()
        .map(|entry| entry.depth.abs())
        .min()
        .unwrap_or(0);
    confident
        .into_iter()
        .filter(|entry| entry.depth.abs() == nearest)
        .collect()
}

fn candidate(entry: &Entry, score: f64) -> Option<Candidate> {
    match &entry.target {
        Target::Unit(unit) => Some(Candidate {
            unit: unit.clone(),
            display_name: entry.display_name.clone(),
            score,
        }),
        Target::Group(_) => None,
    }
}

/// The place an issuer's government stands for: 宁国市人民政府 → 宁国市.
pub fn place_name(government_name: &str) -> String {
    let name = normalize(government_name);
    name.strip_suffix("人民政府")
        .or_else(|| name.strip_suffix("政府"))
        .unwrap_or(&name)
        .to_owned()
}

/// Cleans a mention: full-width forms folded (NFKC), white space and page-number noise such as
/// `-10-` removed, stray digits and punctuation trimmed from the ends.
pub fn normalize(text: &str) -> String {
    let folded: String = text.nfkc().filter(|c| !c.is_whitespace()).collect();
    let without_page_numbers = fazhi_platform::text::remove_page_markers(&folded);
    let is_edge_noise = |c: char| {
        c.is_ascii_digit()
            || c.is_ascii_punctuation() && c != '(' && c != ')'
            || matches!(
                c,
                '、' | '。' | ',' | ';' | ':' | '·' | '—' | '…' | '“' | '”' | '《' | '》'
            )
    };
    let trimmed = without_page_numbers.trim_matches(is_edge_noise);
    // An unbalanced bracket left at the end, e.g. 市司法局(.
    trimmed
        .trim_end_matches('(')
        .trim_start_matches(')')
        .to_owned()
}

/// The form names are compared in: 人民政府 and 政府 are the same word in plans.
fn matching_key(normalized: &str) -> String {
    normalized.replace("人民政府", "政府")
}

/// The mean of the Dice coefficients over characters and over character bigrams: bigrams keep
/// word order, characters still rank candidates that share only 市 and 局.
fn similarity(left: &str, right: &str) -> f64 {
    let characters = |text: &str| -> Vec<(char, char)> { text.chars().map(|c| (c, c)).collect() };
    let bigrams = |text: &str| -> Vec<(char, char)> {
        let chars: Vec<char> = text.chars().collect();
        chars.windows(2).map(|pair| (pair[0], pair[1])).collect()
    };
    (dice(characters(left), characters(right)) + dice(bigrams(left), bigrams(right))) / 2.0
}

fn dice(left: Vec<(char, char)>, mut right: Vec<(char, char)>) -> f64 {
    if left.is_empty() || right.is_empty() {
        return 0.0;
    }
    let total = (left.len() + right.len()) as f64;
    let mut shared = 0;
    for item in left {
        if let Some(position) = right.iter().position(|other| *other == item) {
            right.swap_remove(position);
            shared += 1;
        }
    }
    2.0 * f64::from(shared) / total
}

/// Whether a unit can issue plans for a place (the root of issuer-relative names).
pub fn is_government(unit: &Unit) -> bool {
    unit.kind == UnitKind::Government
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::domain::{AdministrativeLevel, GroupDefinition, GroupRule, GroupScope};

    fn unit(id: &str, name: &str, short: &str, kind: UnitKind) -> Unit {
        Unit {
            id: UnitId::from_trusted(id.to_owned()),
            display_name: name.to_owned(),
            short_name: short.to_owned(),
            aliases: vec![],
            kind,
            level: AdministrativeLevel::County,
            parent: None,
            region_code: None,
            credit_code: None,
            tags: vec![],
            contacts: vec![],
            valid_from: NaiveDate::from_ymd_opt(2000, 1, 1).expect("date"),
            valid_until: None,
            successors: vec![],
            create_time: Utc::now(),
            update_time: Utc::now(),
            delete_time: None,
            revision: 1,
        }
    }

    fn fixture() -> (Unit, Vec<ScopedUnit>, Vec<UnitGroup>) {
        let government = unit("ningguo", "宁国市人民政府", "", UnitKind::Government);
        let units = vec![
            ScopedUnit {
                unit: government.clone(),
                depth: 0,
            },
            ScopedUnit {
                unit: unit("ng-sfj", "宁国市司法局", "", UnitKind::GovernmentDepartment),
                depth: 1,
            },
            ScopedUnit {
                unit: unit(
                    "ng-zfb",
                    "宁国市人民政府办公室",
                    "",
                    UnitKind::GovernmentDepartment,
                ),
                depth: 1,
            },
            ScopedUnit {
                unit: unit("ng-zzb", "中共宁国市委组织部", "", UnitKind::PartyOrgan),
                depth: 1,
            },
            ScopedUnit {
                unit: unit(
                    "ng-rsj",
                    "宁国市人力资源和社会保障局",
                    "市人社局",
                    UnitKind::GovernmentDepartment,
                ),
                depth: 1,
            },
            ScopedUnit {
                unit: unit(
                    "ng-sjzy",
                    "宁国市数据资源管理局",
                    "市数据资源局",
                    UnitKind::GovernmentDepartment,
                ),
                depth: 1,
            },
        ];
        let groups = vec![
            UnitGroup {
                id: UnitGroupId::from_trusted("townships".to_owned()),
                display_name: "乡(镇、街道)".to_owned(),
                aliases: vec![
                    "各乡镇、街道".to_owned(),
                    "乡镇".to_owned(),
                    "街道".to_owned(),
                ],
                definition: GroupDefinition::Rule(GroupRule {
                    scope: GroupScope::Children,
                    kinds: vec![UnitKind::Township],
                    levels: vec![],
                    required_tags: vec![],
                }),
                owner: None,
                create_time: Utc::now(),
                update_time: Utc::now(),
                revision: 1,
            },
            UnitGroup {
                id: UnitGroupId::from_trusted("departments".to_owned()),
                display_name: "政府各部门".to_owned(),
                aliases: vec!["政府相关部门".to_owned(), "各相关部门".to_owned()],
                definition: GroupDefinition::Static(vec![]),
                owner: None,
                create_time: Utc::now(),
                update_time: Utc::now(),
                revision: 1,
            },
        ];
        (government, units, groups)
    }

    fn resolve(mention: &str) -> Resolution {
        let (government, units, groups) = fixture();
        let index = MentionIndex::new(&Scope {
            government: &government,
            units: &units,
            groups: &groups,
        });
        index.resolve(mention)
    }

    fn unit_target(id: &str) -> Option<Target> {
        Some(Target::Unit(UnitId::from_trusted(id.to_owned())))
    }

    #[test]
    fn issuer_relative_and_short_names() {
        assert_eq!(resolve("市司法局").target, unit_target("ng-sfj"));
        assert_eq!(resolve("司法局").target, unit_target("ng-sfj"));
        assert_eq!(resolve("市政府办公室").target, unit_target("ng-zfb"));
        assert_eq!(resolve("市委组织部").target, unit_target("ng-zzb"));
        assert_eq!(resolve("组织部").target, unit_target("ng-zzb"));
        assert_eq!(resolve("人社局").target, unit_target("ng-rsj"));
        assert_eq!(resolve("宁国市司法局").confidence, 1.0);
    }

    #[test]
    fn groups_and_enumerations() {
        let group = Some(Target::Group(UnitGroupId::from_trusted(
            "townships".to_owned(),
        )));
        assert_eq!(resolve("各乡镇、街道").target, group);
        assert_eq!(resolve("各乡镇").target, group);
        assert_eq!(resolve("市政府相关部门").method, "group");
        assert_eq!(resolve("市政府涉及赋权相关部门").method, "group_suffix");
        assert_eq!(
            resolve("市人社局等有职业资格").target,
            unit_target("ng-rsj")
        );
    }

    #[test]
    fn extraction_noise() {
        assert_eq!(resolve(" 市司法局、").target, unit_target("ng-sfj"));
        assert_eq!(resolve("市司-12-法局").target, unit_target("ng-sfj"));
        assert_eq!(resolve("市数据资源").target, unit_target("ng-sjzy"));
        assert_eq!(resolve("市司法").method, "fuzzy");
    }

    #[test]
    fn unknown_names_are_not_guessed() {
        let resolution = resolve("市气象局");
        assert_eq!(resolution.target, None);
        assert_eq!(resolve("").method, "unresolved");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = resolve(&text);
        }
    }
}
