//! Name helpers: the snake_case rule for parent data keys, and "did you mean" suggestions.

/// The snake_case form of a GraphQL name, as the field-name rule reads it from parent data
/// (`categoryId` → `category_id`).
///
/// Acronyms stay one word (`userID` → `user_id`, `HTTPServer` → `http_server`) and a plural
/// `s` after an acronym stays with it (`userIDs` → `user_ids`), because that is how such
/// columns are usually named. Names that are already snake_case come back unchanged.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let boundary = if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
                true
            } else if prev.is_ascii_uppercase() {
                // End of an acronym: `HTTPServer` splits before `S` because `erver` follows.
                let lower_run = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase())
                    .count();
                lower_run >= 2
            } else {
                false
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Edit distance between two strings (insertions, deletions, substitutions and swaps of two
/// neighbours, so `mian` is one edit from `main`), for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `wrong`, if it is close enough to be a plausible typo: within a
/// third of the length (at least 1, at most 3 edits), or equal ignoring case.
pub fn closest<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (wrong.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != wrong)
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(wrong) {
                0
            } else {
                edit_distance(wrong, c)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean "x"?` for the closest candidate, if any.
pub fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(wrong, candidates).map(|c| format!("did you mean \"{c}\"?"))
}

/// `a, b, c` for hints listing the valid options (or `none` when there are none).
pub fn list<'a, I>(items: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let items: Vec<&str> = items.into_iter().collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_camel_case_words_and_keeps_acronyms_together() {
        assert_eq!(snake_case("categoryId"), "category_id");
        assert_eq!(snake_case("createdAt"), "created_at");
        assert_eq!(snake_case("id"), "id");
        assert_eq!(snake_case("ID"), "id");
        assert_eq!(snake_case("userID"), "user_id");
        assert_eq!(snake_case("userIDs"), "user_ids");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("address2Line"), "address2_line");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("Name"), "name");
        assert_eq!(snake_case("my_Field"), "my_field");
    }

    #[test]
    fn closest_suggests_only_plausible_typos() {
        assert_eq!(closest("mian", ["main", "other"]), Some("main"));
        assert_eq!(
            closest("sqll", ["sql", "source", "value", "map"]),
            Some("sql")
        );
        assert_eq!(closest("xyz", ["main"]), None);
        assert_eq!(closest("Main", ["main"]), Some("main"));
    }
}
