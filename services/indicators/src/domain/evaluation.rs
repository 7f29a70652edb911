//! Evaluating targets on figures read beforehand: what a set of targets needs read for a period
//! ([`needs`]), the values read ([`Figures`]), and the verdict of a target for a set of units
//! ([`evaluate`]) — one unit, or a region as a ratio of sums. No I/O: the service reads, this
//! decides, for one unit or for every unit of a province alike.

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use super::catalogue::{Catalogue, DataElement, Indicator};
use super::formula::{Formula, Reference};
use super::period::Period;
use super::target::{
    Basis, Figure, IndicatorValue, RelativeBasis, Target, TargetId, TargetKind, TargetStatus,
    Verdict, combine, compare, indicator_value, indicator_value_of, judge, not_applicable,
    without_value,
};
use super::value::{StateSet, ValueState};

/// A figure to read: an element (by code) and category option (`""`: the total) over a window.
pub type FigureNeed = (String, String, Period);

/// Per unit (by its number in [`Figures`]), the values read in period order — one or two
/// without allocating — and the states they were in.
type UnitValues = HashMap<u32, (smallvec::SmallVec<[f64; 2]>, StateSet)>;

/// What one element's figure came to over a set of units.
#[derive(Default)]
struct Read {
    value: Option<f64>,
    value_count: usize,
    unit_count: usize,
    states: StateSet,
}

/// An indicator's formula for one option (`None`: as written), parsed, with what it reads.
type ParsedFormula = (Option<String>, Formula, Vec<Arc<Reference>>);

/// A target's verdict, with the indicator values read and a composite's or quota's parts.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub target: TargetId,
    /// The category option a quota's part is about.
    pub category_option: Option<String>,
    pub verdict: Verdict,
    pub values: Vec<IndicatorValue>,
    pub parts: Vec<Evaluation>,
}

/// The values read, per element (code), option and window, per unit (`""`: central), in period
/// order; and the formulas of the indicators to evaluate, parsed once.
#[derive(Debug, Default)]
pub struct Figures {
    elements: HashMap<String, DataElement>,
    values: HashMap<String, HashMap<String, HashMap<Period, UnitValues>>>,
    /// Each unit read, numbered: a unit's id is kept once, not once per figure.
    unit_numbers: HashMap<String, u32>,
    /// Whether verdicts carry their explanation (a batch that sends only statuses skips it).
    pub detailed: bool,
    /// Per indicator id, per option (`None`: as written).
    formulas: HashMap<String, Vec<ParsedFormula>>,
    /// The members of each unit group a formula counts (`count(…)`), by group id.
    groups: HashMap<String, std::collections::HashSet<String>>,
}

impl Figures {
    /// Ready for `catalogue`'s indicators (and its quota targets' options).
    pub fn new(catalogue: &Catalogue) -> Self {
        let mut formulas = HashMap::new();
        let mut parse = |indicator: &Indicator, option: Option<&str>| {
            let formula = formula_of(indicator, option);
            let references = formula.references().into_iter().map(Arc::new).collect();
            formulas
                .entry(indicator.id.as_str().to_owned())
                .or_insert_with(Vec::new)
                .push((option.map(str::to_owned), formula, references));
        };
        for indicator in &catalogue.indicators {
            parse(indicator, None);
        }
        for target in &catalogue.targets {
            if let (TargetKind::Quota { thresholds, .. }, Some(indicator)) = (
                &target.kind,
                target
                    .indicator
                    .as_ref()
                    .and_then(|id| catalogue.indicator(id)),
            ) {
                for option in thresholds.keys() {
                    parse(indicator, Some(option));
                }
            }
        }
        Self {
            elements: catalogue
                .elements
                .iter()
                .map(|element| (element.code.clone(), element.clone()))
                .collect(),
            values: HashMap::new(),
            unit_numbers: HashMap::new(),
            detailed: true,
            formulas,
            groups: HashMap::new(),
        }
    }

    /// The members of a unit group a formula counts.
    pub fn add_group(&mut self, group: &str, members: std::collections::HashSet<String>) {
        self.groups.insert(group.to_owned(), members);
    }

    pub fn element(&self, code: &str) -> Option<&DataElement> {
        self.elements.get(code)
    }

    /// Records a value read for `need` (values of one unit arrive in period order).
    pub fn add(
        &mut self,
        (code, option, window): &FigureNeed,
        unit: &str,
        value: f64,
        state: ValueState,
    ) {
        let number = match self.unit_numbers.get(unit) {
            Some(number) => *number,
            None => {
                let number = u32::try_from(self.unit_numbers.len()).unwrap_or(u32::MAX);
                self.unit_numbers.insert(unit.to_owned(), number);
                number
            }
        };
        // Looked up before inserted: a value read for a known element, option and window (the
        // usual case) costs no allocation.
        if !self.values.contains_key(code) {
            self.values.insert(code.clone(), HashMap::new());
        }
        let Some(options) = self.values.get_mut(code) else {
            return;
        };
        if !options.contains_key(option) {
            options.insert(option.clone(), HashMap::new());
        }
        let Some(windows) = options.get_mut(option) else {
            return;
        };
        let (values, states) = windows
            .entry(*window)
            .or_default()
            .entry(number)
            .or_default();
        values.push(value);
        states.insert(state);
    }

    /// An element's figure over `units`: per unit over the periods in the window, then over the
    /// units, as the element says (a central element's own value, whatever the units).
    pub fn figure(&self, reference: &Arc<Reference>, window: &Period, units: &[String]) -> Figure {
        let read = self.read(reference, window, units);
        Figure {
            reference: Arc::clone(reference),
            period: *window,
            value: read.value,
            value_count: read.value_count,
            unit_count: read.unit_count,
            states: read.states,
        }
    }

    /// A figure's values looked up once, for many units read one at a time.
    fn bind(&self, reference: &Reference, window: &Period) -> Bound<'_> {
        if let Some(group) = reference.group() {
            return Bound::Group(self.groups.get(group));
        }
        let Some(element) = self.elements.get(&reference.code) else {
            return Bound::Nothing;
        };
        Bound::Element {
            element,
            found: self
                .values
                .get(&reference.code)
                .and_then(|options| options.get(reference.option.as_deref().unwrap_or_default()))
                .and_then(|windows| windows.get(window)),
            central: self.unit_numbers.get("").copied(),
        }
    }

    /// The formula of an indicator (for one option) and what it reads, parsed when the figures
    /// were made ready for the catalogue.
    fn parsed(&self, indicator: &Indicator, option: Option<&str>) -> Option<&ParsedFormula> {
        self.formulas.get(indicator.id.as_str()).and_then(|parsed| {
            parsed
                .iter()
                .find(|(cached_option, _, _)| cached_option.as_deref() == option)
        })
    }

    /// What [`Self::figure`] reads, without the record of it.
    fn read(&self, reference: &Reference, window: &Period, units: &[String]) -> Read {
        if let Some(group) = reference.group() {
            let mut read = Read::default();
            if let Some(members) = self.groups.get(group) {
                let count = units.iter().filter(|unit| members.contains(*unit)).count();
                read.value = Some(count as f64);
                read.unit_count = count;
            }
            return read;
        }
        let element = self.elements.get(&reference.code);
        let found = self
            .values
            .get(&reference.code)
            .and_then(|options| options.get(reference.option.as_deref().unwrap_or_default()))
            .and_then(|windows| windows.get(window));
        let central = [String::new()];
        let units = if element.is_some_and(|element| element.central) {
            &central[..]
        } else {
            units
        };
        let mut read = Read::default();
        let (Some(element), Some(found)) = (element, found) else {
            return read;
        };
        let mut per_unit = units
            .iter()
            .filter_map(|unit| self.unit_numbers.get(unit))
            .filter_map(|number| found.get(number))
            .filter_map(|(values, states)| {
                read.value_count += values.len();
                read.states = read.states.union(*states);
                element.period_aggregation.combine(values)
            });
        let over_units = element.aggregation.over_units();
        // One unit (a region's units judged one by one) needs no list of the units' values.
        if let [_] = units {
            let value = per_unit.next();
            drop(per_unit);
            read.unit_count = usize::from(value.is_some());
            read.value = value.and_then(|value| over_units.combine(&[value]));
        } else {
            let values: Vec<f64> = per_unit.collect();
            read.unit_count = values.len();
            read.value = over_units.combine(&values);
        }
        read
    }

    /// An indicator's value over `units` for `period` (for one category option, for a quota).
    pub fn indicator(
        &self,
        indicator: &Indicator,
        option: Option<&str>,
        units: &[String],
        period: &Period,
    ) -> IndicatorValue {
        let cached = self.parsed(indicator, option);
        let parsed;
        let (formula, references) = match cached {
            Some((_, formula, references)) => (formula, references),
            None => {
                let formula = formula_of(indicator, option);
                let references = formula.references().into_iter().map(Arc::new).collect();
                parsed = (formula, references);
                (&parsed.0, &parsed.1)
            }
        };
        if !self.detailed {
            // The value alone: no record of each figure for an explanation no one reads.
            let value_of = |reference: &Reference| {
                window(period, reference.periods_back)
                    .and_then(|window| self.read(reference, &window, units).value)
            };
            return indicator_value_of(indicator, formula, period, &value_of);
        }
        let figures = references
            .iter()
            .filter_map(|reference| {
                window(period, reference.periods_back)
                    .map(|window| self.figure(reference, &window, units))
            })
            .collect();
        indicator_value(indicator, formula, period, figures)
    }
}

/// A figure's values for a batch of units read one at a time.
#[derive(Clone, Copy)]
enum Bound<'a> {
    Element {
        element: &'a DataElement,
        found: Option<&'a UnitValues>,
        /// The number of the central values (`""`), when there are any.
        central: Option<u32>,
    },
    /// A unit group's members (`count(…)`), when expanded.
    Group(Option<&'a std::collections::HashSet<String>>),
    Nothing,
}

impl Bound<'_> {
    /// The figure for one unit alone (by id and number), as [`Figures::read`] reads it.
    fn one(&self, unit: &str, number: Option<u32>) -> Option<f64> {
        match self {
            Self::Group(members) => {
                members.map(|members| f64::from(u8::from(members.contains(unit))))
            }
            Self::Element {
                element,
                found,
                central,
            } => {
                let number = if element.central { *central } else { number };
                let (values, _) = (*found)?.get(&number?)?;
                let value = element.period_aggregation.combine(values)?;
                element.aggregation.over_units().combine(&[value])
            }
            Self::Nothing => None,
        }
    }
}

/// One target's verdicts for each of `units` alone, without explanations (a region's batch of
/// statuses): the figures the indicator reads are looked up once for all of them, and each
/// unit's number once, instead of per unit and figure. What needs more (explanations, a
/// composite, a quota, a reference) is judged unit by unit by [`evaluate`], with the same result.
pub fn evaluate_each(
    target: &Target,
    catalogue: &Catalogue,
    figures: &Figures,
    units: &[String],
    period: &Period,
    bases: &Bases,
) -> Vec<Evaluation> {
    let one_by_one = || {
        units
            .iter()
            .map(|unit| {
                evaluate(
                    target,
                    catalogue,
                    figures,
                    std::slice::from_ref(unit),
                    period,
                    bases,
                )
            })
            .collect()
    };
    let simple = matches!(
        target.kind,
        TargetKind::Absolute { .. } | TargetKind::Trend | TargetKind::Relative { .. }
    );
    let indicator = target
        .indicator
        .as_ref()
        .and_then(|id| catalogue.indicator(id));
    let (Some(indicator), true, false, true) =
        (indicator, simple, figures.detailed, target.in_force(period))
    else {
        return one_by_one();
    };
    let Some((_, formula, references)) = figures.parsed(indicator, None) else {
        return one_by_one();
    };
    let bind = |at: &Period| -> Vec<(&Reference, Bound<'_>)> {
        references
            .iter()
            .filter_map(|reference| {
                window(at, reference.periods_back)
                    .map(|window| (reference.as_ref(), figures.bind(reference, &window)))
            })
            .collect()
    };
    let previous = match target.kind {
        TargetKind::Trend => period.previous(),
        _ => None,
    };
    let now = bind(period);
    let before = previous.map(|previous| (previous, bind(&previous)));
    units
        .iter()
        .map(|unit| {
            let number = figures.unit_numbers.get(unit.as_str()).copied();
            let value_of = |bound: &[(&Reference, Bound<'_>)], at: &Period| {
                indicator_value_of(indicator, formula, at, &|reference: &Reference| {
                    bound
                        .iter()
                        .find(|(candidate, _)| *candidate == reference)
                        .and_then(|(_, bound)| bound.one(unit, number))
                })
            };
            let current = value_of(&now, period);
            let earlier = before
                .as_ref()
                .map(|(previous, bound)| value_of(bound, previous));
            Evaluation {
                target: target.id.clone(),
                category_option: None,
                verdict: judge(
                    target,
                    indicator,
                    &current,
                    earlier.as_ref(),
                    None,
                    bases.0.get(&target.id),
                    false,
                ),
                values: Vec::new(),
                parts: Vec::new(),
            }
        })
        .collect()
}

/// The period `back` periods before `period`.
fn window(period: &Period, back: u32) -> Option<Period> {
    (0..back).try_fold(*period, |window, _| window.previous())
}

fn formula_of(indicator: &Indicator, option: Option<&str>) -> Formula {
    // Formulas were checked when saved; one that no longer reads reads as nothing.
    let formula = Formula::parse(&indicator.formula).unwrap_or(Formula::Number(f64::NAN));
    match option {
        Some(option) => formula.for_option(option),
        None => formula,
    }
}

/// The unit groups that `needs` count (`count(…)` in a formula), each once.
pub fn groups_counted(needs: &BTreeSet<FigureNeed>) -> BTreeSet<String> {
    needs
        .iter()
        .filter_map(|(code, _, _)| {
            Reference {
                code: code.clone(),
                option: None,
                periods_back: 0,
            }
            .group()
            .map(str::to_owned)
        })
        .collect()
}

/// What reading `indicator` (for one category option, for a quota) for `period` needs.
pub fn indicator_needs(
    indicator: &Indicator,
    option: Option<&str>,
    period: &Period,
) -> BTreeSet<FigureNeed> {
    formula_of(indicator, option)
        .references()
        .into_iter()
        .filter_map(|reference| {
            window(period, reference.periods_back)
                .map(|window| (reference.code, reference.option.unwrap_or_default(), window))
        })
        .collect()
}

/// Everything evaluating `targets` (with their parts) for `period` reads.
pub fn needs(targets: &[&Target], catalogue: &Catalogue, period: &Period) -> BTreeSet<FigureNeed> {
    let mut found = BTreeSet::new();
    let mut pending: Vec<&Target> = targets.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(target) = pending.pop() {
        if !seen.insert(target.id.clone()) {
            continue;
        }
        let indicator = target
            .indicator
            .as_ref()
            .and_then(|id| catalogue.indicator(id));
        let mut read = |indicator: &Indicator, option: Option<&str>, period: &Period| {
            found.extend(indicator_needs(indicator, option, period));
        };
        match (&target.kind, indicator) {
            (TargetKind::AllOf(parts) | TargetKind::AnyOf(parts), _) => {
                pending.extend(
                    catalogue
                        .targets
                        .iter()
                        .filter(|candidate| parts.contains(&candidate.id)),
                );
            }
            (TargetKind::Quota { thresholds, .. }, Some(indicator)) => {
                for option in thresholds.keys() {
                    read(indicator, Some(option), period);
                }
            }
            (TargetKind::Trend, Some(indicator)) => {
                read(indicator, None, period);
                if let Some(previous) = period.previous() {
                    read(indicator, None, &previous);
                }
            }
            (TargetKind::Reference { reference_code, .. }, Some(indicator)) => {
                read(indicator, None, period);
                found.insert((reference_code.clone(), String::new(), *period));
            }
            (_, Some(indicator)) => read(indicator, None, period),
            (_, None) => {}
        }
    }
    found
}

/// What the relative targets among a target and its parts compare with, by target.
#[derive(Debug, Clone, Default)]
pub struct Bases(HashMap<TargetId, Basis>);

impl Bases {
    /// The basis of every relative target among `target` and its parts over `peers` (the units
    /// the target applies to; their figures read), computed once for all the units judged.
    pub fn over(
        target: &Target,
        catalogue: &Catalogue,
        figures: &Figures,
        peers: &[String],
        period: &Period,
    ) -> Self {
        let mut found = HashMap::new();
        let mut pending = vec![target];
        while let Some(target) = pending.pop() {
            match &target.kind {
                TargetKind::AllOf(parts) | TargetKind::AnyOf(parts) => pending.extend(
                    catalogue
                        .targets
                        .iter()
                        .filter(|candidate| parts.contains(&candidate.id)),
                ),
                TargetKind::Relative { basis, .. } => {
                    let Some(indicator) = target
                        .indicator
                        .as_ref()
                        .and_then(|id| catalogue.indicator(id))
                    else {
                        continue;
                    };
                    let own: Vec<f64> = peers
                        .iter()
                        .filter_map(|peer| {
                            figures
                                .indicator(indicator, None, std::slice::from_ref(peer), period)
                                .value
                        })
                        .collect();
                    let value = match basis {
                        RelativeBasis::Region => {
                            figures.indicator(indicator, None, peers, period).value
                        }
                        RelativeBasis::PeerAverage => {
                            (!own.is_empty()).then(|| own.iter().sum::<f64>() / own.len() as f64)
                        }
                    };
                    found.insert(
                        target.id.clone(),
                        Basis {
                            value,
                            unit_count: own.len(),
                        },
                    );
                }
                _ => {}
            }
        }
        Self(found)
    }

    /// Whether `target` or a part of it is relative: its peers must be read too.
    pub fn needed(target: &Target, catalogue: &Catalogue) -> bool {
        match &target.kind {
            TargetKind::Relative { .. } => true,
            TargetKind::AllOf(parts) | TargetKind::AnyOf(parts) => catalogue
                .targets
                .iter()
                .filter(|candidate| parts.contains(&candidate.id))
                .any(|part| part.id != target.id && Self::needed(part, catalogue)),
            _ => false,
        }
    }
}

/// A target's verdict over `units` for `period`, on the figures read. A composite's parts are
/// judged over the same units; relative targets against `bases`.
pub fn evaluate(
    target: &Target,
    catalogue: &Catalogue,
    figures: &Figures,
    units: &[String],
    period: &Period,
    bases: &Bases,
) -> Evaluation {
    let answer = |verdict, values, parts| Evaluation {
        target: target.id.clone(),
        category_option: None,
        verdict,
        values,
        parts,
    };
    if !target.in_force(period) {
        let (first, last) = (
            target.first_period.as_deref().unwrap_or("—"),
            target.last_period.as_deref().unwrap_or("—"),
        );
        return answer(
            not_applicable(
                format!("目标适用于 {first} 至 {last}"),
                format!("the target applies from {first} to {last}"),
            ),
            vec![],
            vec![],
        );
    }
    if let TargetKind::AllOf(parts) | TargetKind::AnyOf(parts) = &target.kind {
        let evaluations: Vec<Evaluation> = catalogue
            .targets
            .iter()
            .filter(|candidate| parts.contains(&candidate.id))
            .map(|part| evaluate(part, catalogue, figures, units, period, bases))
            .collect();
        let statuses: Vec<TargetStatus> =
            evaluations.iter().map(|part| part.verdict.status).collect();
        return answer(
            combine(
                matches!(target.kind, TargetKind::AllOf(_)),
                &statuses,
                figures.detailed,
            ),
            vec![],
            evaluations,
        );
    }
    let Some(indicator) = target
        .indicator
        .as_ref()
        .and_then(|id| catalogue.indicator(id))
    else {
        return answer(
            not_applicable("目标的指标不存在", "the target's indicator is gone"),
            vec![],
            vec![],
        );
    };
    match &target.kind {
        TargetKind::Quota {
            comparator,
            thresholds,
        } => {
            let parts: Vec<Evaluation> = thresholds
                .iter()
                .map(|(option, threshold)| {
                    let value = figures.indicator(indicator, Some(option), units, period);
                    let verdict = without_value(&value).unwrap_or_else(|| {
                        compare(
                            indicator,
                            value.value.unwrap_or_default(),
                            (*comparator, *threshold),
                            figures.detailed,
                        )
                    });
                    Evaluation {
                        target: target.id.clone(),
                        category_option: Some(option.clone()),
                        verdict,
                        values: vec![value],
                        parts: vec![],
                    }
                })
                .collect();
            let statuses: Vec<TargetStatus> =
                parts.iter().map(|part| part.verdict.status).collect();
            answer(combine(true, &statuses, figures.detailed), vec![], parts)
        }
        kind => {
            let current = figures.indicator(indicator, None, units, period);
            let previous = match kind {
                TargetKind::Trend => period
                    .previous()
                    .map(|previous| figures.indicator(indicator, None, units, &previous)),
                _ => None,
            };
            let reference = match kind {
                TargetKind::Reference { reference_code, .. } => Some(figures.figure(
                    &Arc::new(Reference {
                        code: reference_code.clone(),
                        option: None,
                        periods_back: 0,
                    }),
                    period,
                    units,
                )),
                _ => None,
            };
            let verdict = judge(
                target,
                indicator,
                &current,
                previous.as_ref(),
                reference.as_ref(),
                bases.0.get(&target.id),
                figures.detailed,
            );
            // The values read go with a detailed verdict only: a batch of statuses drops them.
            let values = if figures.detailed {
                std::iter::once(current).chain(previous).collect()
            } else {
                Vec::new()
            };
            answer(verdict, values, vec![])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = r#"
data_elements:
  - {id: e0, code: e0, display_name: e0, value_type: count, period_type: year}
  - {id: e1, code: e1, display_name: e1, value_type: count, period_type: year}
  - {id: avg, code: avg, display_name: avg, value_type: percentage, aggregation: average, period_type: year, central: true}
indicators:
  - {id: rate, code: rate, display_name: rate, formula: e1 / e0, factor: 100, unit_of_measure: "%", direction: higher_is_better}
  - {id: share, code: share, display_name: share, formula: e0 / count(g), direction: lower_is_better}
targets:
  - {id: at-least, display_name: a, indicator: rate, owner_unit: p, kind: {absolute: {comparator: greater_or_equal, value: 50}}}
  - {id: rising, display_name: t, indicator: rate, owner_unit: p, kind: trend}
  - {id: falling, display_name: f, indicator: share, owner_unit: p, kind: trend}
  - {id: above-peers, display_name: r, indicator: rate, owner_unit: p, kind: {relative: {comparator: greater, basis: peer_average}}}
  - {id: below-average, display_name: b, indicator: rate, owner_unit: p, kind: {reference: {comparator: less, reference_code: avg}}}
"#;

    #[test]
    fn a_batch_judges_each_unit_as_one_by_one() {
        let catalogue = crate::catalogue_file::read(CATALOGUE.as_bytes()).expect("a catalogue");
        let mut figures = Figures::new(&catalogue);
        figures.detailed = false;
        let (year, before) = (
            Period::parse("2024").expect("year"),
            Period::parse("2023").expect("year"),
        );
        let units: Vec<String> = ["u0", "u1", "u2", "u3"].map(str::to_owned).to_vec();
        for (index, unit) in units.iter().enumerate().take(3) {
            let at = index as f64;
            for (code, window, value) in [
                ("e0", year, 10.0),
                ("e1", year, 2.0 + 3.0 * at),
                ("e0", before, 12.0 - at),
                ("e1", before, 5.0),
            ] {
                figures.add(
                    &(code.to_owned(), String::new(), window),
                    unit,
                    value,
                    ValueState::Approved,
                );
            }
        }
        figures.add(
            &("avg".to_owned(), String::new(), year),
            "",
            30.0,
            ValueState::Approved,
        );
        figures.add_group("g", ["u0", "u2"].map(str::to_owned).into());
        for target in &catalogue.targets {
            let bases = Bases::over(target, &catalogue, &figures, &units, &year);
            let batch = evaluate_each(target, &catalogue, &figures, &units, &year, &bases);
            for (unit, judged) in units.iter().zip(&batch) {
                let alone = evaluate(
                    target,
                    &catalogue,
                    &figures,
                    std::slice::from_ref(unit),
                    &year,
                    &bases,
                );
                assert_eq!(
                    (judged.verdict.status, judged.verdict.value),
                    (alone.verdict.status, alone.verdict.value),
                    "{} for {unit}",
                    target.id.as_str()
                );
            }
        }
    }
}
