//! 统一社会信用代码 (GB 32100-2015): 18 characters, the last a check character.

use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code whose check character is right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses a code, upper-casing it; `None` when malformed or the check character is wrong.
    pub fn parse(text: &str) -> Option<Self> {
        let code = text.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        if bytes.len() != 18 {
            return None;
        }
        let mut sum = 0;
        for (byte, weight) in bytes[..17].iter().zip(WEIGHTS) {
            let value = ALPHABET.iter().position(|c| c == byte)? as u32;
            sum += value * weight;
        }
        let check = (31 - sum % 31) % 31;
        (bytes[17] == ALPHABET[check as usize]).then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CreditCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or_else(|| format!("invalid unified social credit code {text}"))
    }
}

impl From<CreditCode> for String {
    fn from(code: CreditCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        // Published codes of real organisations.
        assert!(CreditCode::parse("91350100M000100Y43").is_some());
        assert!(CreditCode::parse("91110000802100433B").is_some());
        assert!(CreditCode::parse("91350100M000100Y44").is_none());
        assert!(CreditCode::parse("9135010").is_none());
        assert!(CreditCode::parse("I1350100M000100Y43").is_none());
    }

    proptest::proptest! {
        #[test]
        fn exactly_one_check_character_fits(body in "[0-9A-HJ-NP-RTUWXY]{17}") {
            let fitting = ALPHABET
                .iter()
                .filter(|check| CreditCode::parse(&format!("{body}{}", **check as char)).is_some())
                .count();
            proptest::prop_assert_eq!(fitting, 1);
        }

        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = CreditCode::parse(&text);
        }
    }
}
