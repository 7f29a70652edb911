//! Unit groups: the sets plans name (乡(镇、街道), 市政府各部门, 各行政执法单位).

use chrono::{DateTime, Utc};
use fazhi_platform::error::FieldViolation;
use serde::{Deserialize, Serialize};

use super::unit::{MAX_LIST_ITEMS, MAX_NAME_CHARS, clean_names, clean_text};

/// Members of one static group.
const MAX_GROUP_MEMBERS: usize = 10_000;
use super::{AdministrativeLevel, Unit, UnitId, UnitKind, Violations};
use fazhi_platform::string_enum;

fazhi_platform::resource_id!(
    /// A group's id, the `{unit_group}` of `unitGroups/{unit_group}`.
    UnitGroupId,
    "unitGroups",
    "g"
);

string_enum! {
    /// How far below the context unit a rule looks.
    GroupScope {
        Children = "children",
        Descendants = "descendants",
    }
}

/// Members: units below the context unit matching every non-empty criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRule {
    pub scope: GroupScope,
    #[serde(default)]
    pub kinds: Vec<UnitKind>,
    #[serde(default)]
    pub levels: Vec<AdministrativeLevel>,
    #[serde(default)]
    pub required_tags: Vec<String>,
}

impl GroupRule {
    /// Whether a unit found `depth` levels below the context unit belongs.
    pub fn admits(&self, unit: &Unit, depth: u32) -> bool {
        let in_scope = match self.scope {
            GroupScope::Children => depth == 1,
            GroupScope::Descendants => depth >= 1,
        };
        in_scope
            && (self.kinds.is_empty() || self.kinds.contains(&unit.kind))
            && (self.levels.is_empty() || self.levels.contains(&unit.level))
            && self.required_tags.iter().all(|tag| unit.has_tag(tag))
    }
}

/// A fixed list or a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupDefinition {
    Static(Vec<UnitId>),
    Rule(GroupRule),
}

/// A named set of units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitGroup {
    pub id: UnitGroupId,
    pub display_name: String,
    pub aliases: Vec<String>,
    pub definition: GroupDefinition,
    /// The region that defines the group for its own plans; it resolves and expands only at or
    /// below that unit. `None`: shared by every region, maintained by admins.
    pub owner: Option<UnitId>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub revision: i64,
}

impl UnitGroup {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.display_name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Whether the group applies in the region whose ancestry (the context unit, then its
    /// ancestors) is given.
    pub fn applies_in(&self, ancestry: &[UnitId]) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|owner| ancestry.contains(owner))
    }
}

/// The groups a context sees: shared ones and those its region defines, where a region's own
/// group replaces a shared one it shares a name with (许昌's 各有关部门 is not the shared one).
pub fn groups_in_scope(groups: Vec<UnitGroup>, ancestry: &[UnitId]) -> Vec<UnitGroup> {
    let (regional, shared): (Vec<UnitGroup>, Vec<UnitGroup>) = groups
        .into_iter()
        .filter(|group| group.applies_in(ancestry))
        .partition(|group| group.owner.is_some());
    let regional_names: std::collections::HashSet<String> = regional
        .iter()
        .flat_map(UnitGroup::names)
        .map(str::to_owned)
        .collect();
    let shared = shared
        .into_iter()
        .filter(|group| !group.names().any(|name| regional_names.contains(name)));
    let mut in_scope: Vec<UnitGroup> = shared.collect();
    in_scope.extend(regional);
    in_scope
}

/// Checks a group's caller-written fields; returns them cleaned.
pub fn validate_group(
    display_name: &str,
    aliases: &[String],
    definition: Option<&GroupDefinition>,
) -> Result<(String, Vec<String>, GroupDefinition), Violations> {
    let mut violations = Violations::new();
    let display_name = clean_text(display_name);
    if display_name.is_empty() {
        violations.push(FieldViolation::required("unit_group.display_name"));
    }
    let aliases = clean_names(aliases);
    violations.extend(FieldViolation::check_texts(
        "unit_group.aliases",
        &aliases,
        (MAX_LIST_ITEMS, MAX_NAME_CHARS),
    ));
    if display_name.chars().count() > MAX_NAME_CHARS {
        violations.push(FieldViolation::too_long(
            "unit_group.display_name",
            MAX_NAME_CHARS,
        ));
    }
    if let Some(GroupDefinition::Static(members)) = definition
        && members.len() > MAX_GROUP_MEMBERS
    {
        violations.push(FieldViolation::too_many(
            "unit_group.static_members.units",
            MAX_GROUP_MEMBERS,
        ));
    }
    let Some(definition) = definition else {
        violations.push(FieldViolation::new(
            "unit_group.definition",
            "REQUIRED",
            "unit_group needs static_members or a rule",
            "单位组须指定固定成员或规则",
        ));
        return Err(violations);
    };
    if let GroupDefinition::Rule(rule) = definition
        && rule.kinds.is_empty()
        && rule.levels.is_empty()
        && rule.required_tags.is_empty()
    {
        violations.push(FieldViolation::new(
            "unit_group.rule",
            "EMPTY_RULE",
            "a rule needs at least one kind, level or tag",
            "规则须至少指定一种单位类型、层级或标签",
        ));
    }
    if violations.is_empty() {
        Ok((display_name, aliases, definition.clone()))
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_rule_is_refused() {
        let rule = GroupDefinition::Rule(GroupRule {
            scope: GroupScope::Children,
            kinds: vec![],
            levels: vec![],
            required_tags: vec![],
        });
        let violations = validate_group("乡镇", &[], Some(&rule)).expect_err("empty");
        assert_eq!(violations[0].field, "unit_group.rule");
        assert!(validate_group("", &[], None).is_err());
    }

    fn group(id: &str, alias: &str, owner: Option<&str>) -> UnitGroup {
        UnitGroup {
            id: UnitGroupId::from_trusted(id.to_owned()),
            display_name: id.to_owned(),
            aliases: vec![alias.to_owned()],
            definition: GroupDefinition::Static(vec![]),
            owner: owner.map(|owner| UnitId::from_trusted(owner.to_owned())),
            create_time: DateTime::default(),
            update_time: DateTime::default(),
            revision: 1,
        }
    }

    #[test]
    fn a_region_sees_shared_groups_and_its_own_and_its_own_wins_a_name() {
        let groups = vec![
            group("departments", "各有关部门", None),
            group("townships", "各乡镇", None),
            group("xuchang-departments", "各有关部门", Some("xuchang")),
            group("ningguo-core", "核心部门", Some("ningguo")),
        ];
        let ids = |ancestry: &[&str]| -> Vec<String> {
            let ancestry: Vec<UnitId> = ancestry
                .iter()
                .map(|unit| UnitId::from_trusted((*unit).to_owned()))
                .collect();
            let mut ids: Vec<String> = groups_in_scope(groups.clone(), &ancestry)
                .into_iter()
                .map(|group| group.id.as_str().to_owned())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids(&["xc-sfj", "xuchang", "henan"]),
            vec!["townships", "xuchang-departments"]
        );
        assert_eq!(
            ids(&["ningguo"]),
            vec!["departments", "ningguo-core", "townships"]
        );
        assert_eq!(ids(&["tongliao"]), vec!["departments", "townships"]);
    }
}
