//! The formula language of indicators: arithmetic over data element codes, parsed once into a
//! typed tree ([`Formula`]) and evaluated over figures looked up by the caller, never by
//! substituting text.
//!
//! ```text
//! formula   = sum
//! sum       = product (("+" | "-") product)*
//! product   = unary (("*" | "/") unary)*
//! unary     = "-" unary | atom
//! atom      = number | "previous(" sum ")" | "count(" group ")" | element | "(" sum ")"
//! element   = code ("[" option "]")?       code: letters (汉字 too), digits, "_"; not a digit first
//! group     = a unit group id: letters, digits, "_", "-"
//! ```
//!
//! `previous(...)` reads every element inside it for the period before the one evaluated.
//! `count(townships)` is how many of the units evaluated belong to the unit group (expanded
//! relative to the unit or region evaluated, as of the period's end): 覆盖率 =
//! 有法律顾问的乡镇数 / count(townships).

use std::collections::BTreeSet;

use super::catalogue::DataElement;

use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{alt, delimited, opt, preceded, repeat};
use winnow::prelude::*;
use winnow::token::{one_of, take_till, take_while};

/// Longest formula text accepted (characters), so a formula cannot make parsing expensive.
pub const MAX_FORMULA_CHARS: usize = 500;
/// Deepest nesting of parentheses accepted.
const MAX_DEPTH: usize = 16;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Add,
    Subtract,
    Multiply,
    Divide,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    Number(f64),
    /// A figure read (for the period evaluated; `previous(…)` shifts it): a data element's
    /// total or one category option's, or a unit group's count (`count(townships)`). Kept as
    /// the reference it is read by, so evaluating allocates nothing for it.
    Figure(Reference),
    /// The inner formula for the previous period.
    Previous(Box<Formula>),
    Negate(Box<Formula>),
    Binary(Operator, Box<Formula>, Box<Formula>),
}

/// A figure a formula reads: an element (and option) `periods_back` periods before the one
/// evaluated.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Reference {
    pub code: String,
    pub option: Option<String>,
    pub periods_back: u32,
}

/// The code a group count is read under: `count(townships)`, as the formula writes it.
fn group_code(group: &str) -> String {
    format!("count({group})")
}

impl Reference {
    /// The unit group a `count(…)` reads, when this is one rather than an element.
    pub fn group(&self) -> Option<&str> {
        self.code.strip_prefix("count(")?.strip_suffix(')')
    }
}

/// Where and why a formula does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormulaError {
    /// Character position (from 0) of the trouble.
    pub position: usize,
    pub reason: &'static str,
    pub message_en: String,
    pub message_zh: String,
}

/// What a formula came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Value(f64),
    /// Figures that were not reported.
    Missing(Vec<Reference>),
    /// A division by zero: the value is undefined (e.g. no case to appear in court for).
    Undefined,
}

fn syntax_error(position: usize) -> FormulaError {
    FormulaError {
        position,
        reason: "FORMULA_SYNTAX",
        message_en: format!("the formula cannot be read at character {}", position + 1),
        message_zh: format!("公式第 {} 个字符处无法解析", position + 1),
    }
}

fn is_code_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_code_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn code(input: &mut &str) -> winnow::Result<String> {
    (one_of(is_code_start), take_while(0.., is_code_char))
        .take()
        .map(str::to_owned)
        .parse_next(input)
}

/// A plain decimal (`12`, `0.5`, `1e3`); not `inf` or `nan`, which would shadow codes.
fn number(input: &mut &str) -> winnow::Result<f64> {
    (
        digit1,
        opt(('.', digit1)),
        opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
    )
        .take()
        .try_map(str::parse::<f64>)
        .parse_next(input)
}

fn element(input: &mut &str) -> winnow::Result<Formula> {
    let code = code.parse_next(input)?;
    let option: Option<&str> = opt(delimited('[', take_till(1.., ']'), ']')).parse_next(input)?;
    Ok(Formula::Figure(Reference {
        code,
        option: option.map(|option| option.trim().to_owned()),
        periods_back: 0,
    }))
}

fn atom(input: &mut &str) -> winnow::Result<Formula> {
    delimited(
        multispace0,
        alt((
            number.map(Formula::Number),
            preceded(("previous", multispace0, '('), (sum, ')'))
                .map(|(inner, _)| Formula::Previous(Box::new(inner))),
            delimited(
                ("count", multispace0, '(', multispace0),
                take_while(1.., |c: char| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '-'
                }),
                (multispace0, ')'),
            )
            .map(|group: &str| {
                Formula::Figure(Reference {
                    code: group_code(group),
                    option: None,
                    periods_back: 0,
                })
            }),
            element,
            delimited('(', sum, ')'),
        )),
        multispace0,
    )
    .parse_next(input)
}

fn unary(input: &mut &str) -> winnow::Result<Formula> {
    alt((
        preceded((multispace0, '-'), unary).map(|inner| Formula::Negate(Box::new(inner))),
        atom,
    ))
    .parse_next(input)
}

fn fold_binary(
    operand: fn(&mut &str) -> winnow::Result<Formula>,
    operators: [char; 2],
    input: &mut &str,
) -> winnow::Result<Formula> {
    let first = operand(input)?;
    repeat(0.., (one_of(operators), operand))
        .fold(
            move || first.clone(),
            |left, (symbol, right): (char, Formula)| {
                let operator = match symbol {
                    '+' => Operator::Add,
                    '-' => Operator::Subtract,
                    '*' => Operator::Multiply,
                    _ => Operator::Divide,
                };
                Formula::Binary(operator, Box::new(left), Box::new(right))
            },
        )
        .parse_next(input)
}

fn product(input: &mut &str) -> winnow::Result<Formula> {
    fold_binary(unary, ['*', '/'], input)
}

fn sum(input: &mut &str) -> winnow::Result<Formula> {
    fold_binary(product, ['+', '-'], input)
}

impl Formula {
    /// Parses a formula's text (syntax only; [`Formula::check`] checks it against the catalogue).
    pub fn parse(text: &str) -> Result<Self, FormulaError> {
        let length = text.chars().count();
        if length > MAX_FORMULA_CHARS {
            return Err(FormulaError {
                position: MAX_FORMULA_CHARS,
                reason: "FORMULA_TOO_LONG",
                message_en: format!("a formula is at most {MAX_FORMULA_CHARS} characters"),
                message_zh: format!("公式不能超过 {MAX_FORMULA_CHARS} 个字符"),
            });
        }
        let mut depth = 0usize;
        for (position, c) in text.chars().enumerate() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_DEPTH {
                return Err(FormulaError {
                    position,
                    reason: "FORMULA_TOO_DEEP",
                    message_en: format!("parentheses nest at most {MAX_DEPTH} deep"),
                    message_zh: format!("括号最多嵌套 {MAX_DEPTH} 层"),
                });
            }
        }
        if text.trim().is_empty() {
            return Err(FormulaError {
                position: 0,
                reason: "FORMULA_EMPTY",
                message_en: "the formula is empty".to_owned(),
                message_zh: "公式为空".to_owned(),
            });
        }
        sum.parse(text).map_err(|error| {
            let position = text
                .get(..error.offset())
                .map_or(0, |before| before.chars().count());
            syntax_error(position)
        })
    }

    /// The formula with every element read without an option read for `option` instead: the
    /// indicator for one category (a quota target's 领导干部).
    pub fn for_option(&self, option: &str) -> Self {
        match self {
            Self::Number(_) => self.clone(),
            Self::Figure(reference)
                if reference.option.is_none() && reference.group().is_none() =>
            {
                Self::Figure(Reference {
                    option: Some(option.to_owned()),
                    ..reference.clone()
                })
            }
            Self::Figure(_) => self.clone(),
            Self::Previous(inner) => Self::Previous(Box::new(inner.for_option(option))),
            Self::Negate(inner) => Self::Negate(Box::new(inner.for_option(option))),
            Self::Binary(operator, left, right) => Self::Binary(
                *operator,
                Box::new(left.for_option(option)),
                Box::new(right.for_option(option)),
            ),
        }
    }

    /// The codes of the data elements the formula reads, each once, in order.
    pub fn element_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .references()
            .into_iter()
            .filter(|reference| reference.group().is_none())
            .map(|reference| reference.code)
            .collect();
        // References come sorted by code first, so equal codes stand together.
        codes.dedup();
        codes
    }

    /// Every figure the formula reads, each once, in a stable order.
    pub fn references(&self) -> Vec<Reference> {
        let mut found = BTreeSet::new();
        self.collect(0, &mut found);
        found.into_iter().collect()
    }

    fn collect(&self, periods_back: u32, found: &mut BTreeSet<Reference>) {
        match self {
            Self::Number(_) => {}
            Self::Figure(reference) => {
                found.insert(Reference {
                    periods_back,
                    ..reference.clone()
                });
            }
            Self::Previous(inner) => inner.collect(periods_back + 1, found),
            Self::Negate(inner) => inner.collect(periods_back, found),
            Self::Binary(_, left, right) => {
                left.collect(periods_back, found);
                right.collect(periods_back, found);
            }
        }
    }

    /// Checks the formula against the catalogue: every code names a numeric element
    /// (`element_of` answers `None` for an unknown code), every option is one of the element's,
    /// and no division is by a constant zero. Positions point into `text`.
    pub fn check<'a>(
        &self,
        text: &str,
        element_of: impl Fn(&str) -> Option<&'a DataElement>,
    ) -> Vec<FormulaError> {
        let position_of = |needle: &str| {
            text.find(needle)
                .map_or(0, |offset| text[..offset].chars().count())
        };
        let mut errors = Vec::new();
        // A group's members are the units service's to say, when the formula is evaluated.
        for reference in self
            .references()
            .into_iter()
            .filter(|reference| reference.group().is_none())
        {
            let Some(element) = element_of(&reference.code) else {
                errors.push(FormulaError {
                    position: position_of(&reference.code),
                    reason: "UNKNOWN_DATA_ELEMENT",
                    message_en: format!("no data element has the code {}", reference.code),
                    message_zh: format!("没有编码为 {} 的数据项", reference.code),
                });
                continue;
            };
            if !element.value_type.is_numeric() {
                errors.push(FormulaError {
                    position: position_of(&reference.code),
                    reason: "NOT_NUMERIC",
                    message_en: format!(
                        "{} holds {} values, which a formula cannot compute with",
                        reference.code,
                        element.value_type.as_str()
                    ),
                    message_zh: format!("数据项 {} 不是数值,不能用于公式", reference.code),
                });
            }
            if let Some(option) = &reference.option
                && !element.category_options.contains(option)
            {
                errors.push(FormulaError {
                    position: position_of(option),
                    reason: "UNKNOWN_CATEGORY_OPTION",
                    message_en: format!("{} has no category option {option}", reference.code),
                    message_zh: format!("数据项 {} 没有分类选项 {option}", reference.code),
                });
            }
        }
        if self.divides_by_constant_zero() {
            errors.push(FormulaError {
                position: position_of("/"),
                reason: "DIVISION_BY_ZERO",
                message_en: "the formula divides by a constant zero".to_owned(),
                message_zh: "公式中存在除以常数 0".to_owned(),
            });
        }
        errors
    }

    fn constant(&self) -> Option<f64> {
        match self {
            Self::Number(number) => Some(*number),
            Self::Negate(inner) => inner.constant().map(|value| -value),
            Self::Previous(inner) => inner.constant(),
            Self::Figure(_) => None,
            Self::Binary(operator, left, right) => {
                let (left, right) = (left.constant()?, right.constant()?);
                Some(match operator {
                    Operator::Add => left + right,
                    Operator::Subtract => left - right,
                    Operator::Multiply => left * right,
                    Operator::Divide => left / right,
                })
            }
        }
    }

    fn divides_by_constant_zero(&self) -> bool {
        match self {
            Self::Number(_) | Self::Figure(_) => false,
            Self::Previous(inner) | Self::Negate(inner) => inner.divides_by_constant_zero(),
            Self::Binary(operator, left, right) => {
                (*operator == Operator::Divide && right.constant() == Some(0.0))
                    || left.divides_by_constant_zero()
                    || right.divides_by_constant_zero()
            }
        }
    }

    /// Evaluates the formula with `figure` answering each reference (`None`: not reported).
    pub fn evaluate(&self, figure: &impl Fn(&Reference) -> Option<f64>) -> Outcome {
        self.evaluate_at(0, figure)
    }

    fn evaluate_at(
        &self,
        periods_back: u32,
        figure: &impl Fn(&Reference) -> Option<f64>,
    ) -> Outcome {
        match self {
            Self::Number(number) => Outcome::Value(*number),
            Self::Figure(reference) => {
                let shifted;
                let reference = if periods_back == 0 {
                    reference
                } else {
                    shifted = Reference {
                        periods_back,
                        ..reference.clone()
                    };
                    &shifted
                };
                match figure(reference) {
                    Some(value) => Outcome::Value(value),
                    None => Outcome::Missing(vec![reference.clone()]),
                }
            }
            Self::Previous(inner) => inner.evaluate_at(periods_back + 1, figure),
            Self::Negate(inner) => match inner.evaluate_at(periods_back, figure) {
                Outcome::Value(value) => Outcome::Value(-value),
                other => other,
            },
            Self::Binary(operator, left, right) => {
                let (left, right) = (
                    left.evaluate_at(periods_back, figure),
                    right.evaluate_at(periods_back, figure),
                );
                match (left, right) {
                    (Outcome::Missing(mut missing), Outcome::Missing(more)) => {
                        missing.extend(more);
                        Outcome::Missing(missing)
                    }
                    (Outcome::Missing(missing), _) | (_, Outcome::Missing(missing)) => {
                        Outcome::Missing(missing)
                    }
                    (Outcome::Undefined, _) | (_, Outcome::Undefined) => Outcome::Undefined,
                    (Outcome::Value(left), Outcome::Value(right)) => match operator {
                        Operator::Add => Outcome::Value(left + right),
                        Operator::Subtract => Outcome::Value(left - right),
                        Operator::Multiply => Outcome::Value(left * right),
                        Operator::Divide if right == 0.0 => Outcome::Undefined,
                        Operator::Divide => Outcome::Value(left / right),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::ValueType;
    use proptest::prelude::*;

    fn figures(reference: &Reference) -> Option<f64> {
        match (
            reference.code.as_str(),
            reference.option.as_deref(),
            reference.periods_back,
        ) {
            ("出庭数", None, 0) => Some(6.0),
            ("出庭数", Some("涉及重大公共利益"), 0) => Some(2.0),
            ("应出庭数", None, 0) => Some(10.0),
            ("应出庭数", Some("涉及重大公共利益"), 0) => Some(2.0),
            ("L1", None, 1) => Some(40.0),
            ("L1", None, 0) => Some(30.0),
            ("zero", None, 0) => Some(0.0),
            _ => None,
        }
    }

    #[test]
    fn a_group_count_is_a_figure_of_its_own_and_no_element() {
        let formula = Formula::parse("有顾问乡镇数 / count( townships )").expect("parses");
        assert_eq!(formula.element_codes(), ["有顾问乡镇数"]);
        let group = formula
            .references()
            .into_iter()
            .find_map(|reference| reference.group().map(str::to_owned));
        assert_eq!(group.as_deref(), Some("townships"));
        let outcome = formula.evaluate(&|reference: &Reference| match reference.group() {
            Some("townships") => Some(8.0),
            _ => Some(6.0),
        });
        assert_eq!(outcome, Outcome::Value(0.75));
        let element = DataElement::for_test("有顾问乡镇数", ValueType::Count);
        assert!(formula.check("", |_| Some(&element)).is_empty());
        assert!(Formula::parse("count()").is_err());
    }

    fn value(text: &str) -> Outcome {
        Formula::parse(text).expect(text).evaluate(&figures)
    }

    #[test]
    fn ratios_subsets_previous_periods_and_precedence() {
        assert_eq!(value("出庭数 / 应出庭数 * 100"), Outcome::Value(60.0));
        assert_eq!(
            value("出庭数[涉及重大公共利益] / 应出庭数[ 涉及重大公共利益 ]"),
            Outcome::Value(1.0)
        );
        assert_eq!(value("L1 - previous(L1)"), Outcome::Value(-10.0));
        assert_eq!(value("1 + 2 * 3 - -4 / 2"), Outcome::Value(9.0));
        assert_eq!(value("(1 + 2) * 3"), Outcome::Value(9.0));
        assert_eq!(value("2.5e1"), Outcome::Value(25.0));
    }

    #[test]
    fn missing_figures_are_named_and_a_zero_denominator_is_undefined() {
        assert_eq!(
            value("出庭数 / 未报数"),
            Outcome::Missing(vec![Reference {
                code: "未报数".into(),
                option: None,
                periods_back: 0
            }])
        );
        assert_eq!(value("出庭数 / zero"), Outcome::Undefined);
        assert_eq!(
            Formula::parse("a / b + previous(a)")
                .expect("parses")
                .references(),
            vec![
                Reference {
                    code: "a".into(),
                    option: None,
                    periods_back: 0
                },
                Reference {
                    code: "a".into(),
                    option: None,
                    periods_back: 1
                },
                Reference {
                    code: "b".into(),
                    option: None,
                    periods_back: 0
                },
            ]
        );
    }

    #[test]
    fn a_formula_for_one_option_reads_that_option_where_none_was_named() {
        let formula = Formula::parse("学时 / 人数[领导干部] + previous(学时)").expect("parses");
        let options: Vec<_> = formula
            .for_option("工作人员")
            .references()
            .into_iter()
            .map(|reference| {
                (
                    reference.code,
                    reference.option.unwrap_or_default(),
                    reference.periods_back,
                )
            })
            .collect();
        assert_eq!(
            options,
            [
                ("人数".to_owned(), "领导干部".to_owned(), 0),
                ("学时".to_owned(), "工作人员".to_owned(), 0),
                ("学时".to_owned(), "工作人员".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        for (text, position) in [
            ("出庭数 / ", 4),
            ("(a + b", 6),
            ("a + * b", 2),
            ("a b", 2),
            ("1a", 1),
        ] {
            let error = Formula::parse(text).expect_err(text);
            assert_eq!(
                (error.reason, error.position),
                ("FORMULA_SYNTAX", position),
                "{text}"
            );
        }
        assert_eq!(
            Formula::parse("  ").expect_err("empty").reason,
            "FORMULA_EMPTY"
        );
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(
            Formula::parse(&deep).expect_err("deep").reason,
            "FORMULA_TOO_DEEP"
        );
        let long = "a+".repeat(300) + "a";
        assert_eq!(
            Formula::parse(&long).expect_err("long").reason,
            "FORMULA_TOO_LONG"
        );
    }

    #[test]
    fn the_catalogue_check_names_unknown_codes_options_and_constant_zero_divisions() {
        let text = "出庭数[其他] / 未知数 + a / (1 - 1) + 原因";
        let formula = Formula::parse(text).expect("parses");
        let known = [
            DataElement {
                category_options: vec!["涉及重大公共利益".to_owned()],
                ..DataElement::for_test("出庭数", ValueType::Count)
            },
            DataElement::for_test("a", ValueType::Count),
            DataElement::for_test("原因", ValueType::Text),
        ];
        let errors = formula.check(text, |code| {
            known.iter().find(|element| element.code == code)
        });
        let reasons: Vec<_> = errors
            .iter()
            .map(|error| (error.reason, error.position))
            .collect();
        assert_eq!(
            reasons,
            [
                ("UNKNOWN_CATEGORY_OPTION", 4),
                ("NOT_NUMERIC", 30),
                ("UNKNOWN_DATA_ELEMENT", 10),
                ("DIVISION_BY_ZERO", 8)
            ]
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,80}") {
            let _ = Formula::parse(&text);
        }

        #[test]
        fn sums_of_numbers_evaluate_to_their_sum(numbers in proptest::collection::vec(0u32..1000, 1..20)) {
            let text = numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(" + ");
            let expected: f64 = numbers.iter().map(|&number| f64::from(number)).sum();
            prop_assert_eq!(value(&text), Outcome::Value(expected));
        }
    }
}
