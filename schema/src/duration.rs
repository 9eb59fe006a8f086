//! Durations as written in `schema.graphql` and the server settings: `"500ms"`, `"5s"`, `"1m"`,
//! `"2h"`. One parser for both, so the two places accept exactly the same forms.

use std::time::Duration;

/// A whole number and a unit (`ms`, `s`, `m` or `h`); `None` for anything else, including
/// fractions (`"1.5s"`) and a missing unit (`"5"`), which would be ambiguous.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = text[..digits].parse().ok()?;
    match text[digits..].trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration(""), None);
    }
}
