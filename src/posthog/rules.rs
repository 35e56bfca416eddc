//! PostHog's fixed lists and id rules (docs/behaviour.md §3, 4.1 and 7.4), as pure
//! functions over strings. Policy lives here; the graph below never re-checks it.

/// Person properties whose changes alone are not written by ordinary events (PostHog's
/// `FILTERED_PERSON_UPDATE_PROPERTIES`): they churn on every page view.
#[must_use]
pub fn is_churn_filtered(key: &str) -> bool {
    matches!(
        key,
        "$current_url"
            | "$pathname"
            | "$referring_domain"
            | "$referrer"
            | "$screen_height"
            | "$screen_width"
            | "$viewport_height"
            | "$viewport_width"
            | "$browser"
            | "$browser_version"
            | "$device_type"
            | "$raw_user_agent"
            | "$os"
            | "$os_name"
            | "$os_version"
            | "$geoip_postal_code"
            | "$geoip_time_zone"
            | "$geoip_latitude"
            | "$geoip_longitude"
            | "$geoip_accuracy_radius"
            | "$geoip_subdivision_1_code"
            | "$geoip_subdivision_1_name"
            | "$geoip_subdivision_2_code"
            | "$geoip_subdivision_2_name"
            | "$geoip_subdivision_3_code"
            | "$geoip_subdivision_3_name"
            | "$geoip_city_confidence"
            | "$geoip_country_confidence"
            | "$geoip_postal_code_confidence"
            | "$geoip_subdivision_1_confidence"
            | "$geoip_subdivision_2_confidence"
    )
}

/// Ids refused case-insensitively (compared after lower-casing).
const ILLEGAL_ANY_CASE: [&str; 10] = [
    "anonymous",
    "guest",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "undefined",
    "true",
    "false",
];

/// Ids refused only when they match exactly.
const ILLEGAL_EXACT: [&str; 7] = [
    "[object Object]",
    "NaN",
    "None",
    "none",
    "null",
    "0",
    "undefined",
];

/// Whether `id` equals `entry`, bare or wrapped in single or double quotes.
fn is_listed(id: &str, entry: &str) -> bool {
    if id == entry {
        return true;
    }
    let bytes = id.as_bytes();
    bytes.len() == entry.len() + 2
        && matches!(
            (bytes[0], bytes[bytes.len() - 1]),
            (b'\'', b'\'') | (b'"', b'"')
        )
        && &id[1..id.len() - 1] == entry
}

/// What JavaScript's `trim()` removes: Rust's white space, less U+0085 (NEXT LINE, not
/// ECMAScript white space), plus U+FEFF (the byte-order mark, which ECMAScript counts).
fn is_js_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// PostHog's illegal distinct ids: the two lists with their quoted forms, and ids that are
/// empty or only white space.
#[must_use]
pub fn is_illegal_id(id: &str) -> bool {
    if id.trim_matches(is_js_whitespace).is_empty() {
        return true;
    }
    if ILLEGAL_EXACT.iter().any(|entry| is_listed(id, entry)) {
        return true;
    }
    // The longest entry is 17 bytes plus quotes; lower-casing never shrinks a string by more
    // than a factor of three (the Kelvin sign becomes `k`), so longer ids cannot match.
    if id.len() > 3 * 19 {
        return false;
    }
    let lower = id.to_lowercase();
    ILLEGAL_ANY_CASE
        .iter()
        .any(|entry| is_listed(&lower, entry))
}

/// Ids that PostHog's capture v1 endpoint rejects, whole events and all, compared after
/// trimming and lower-casing (`rust/capture/src/v1/analytics/constants.rs`).
const CAPTURE_REJECTED: [&str; 20] = [
    "0",
    "00000000-0000-0000-0000-000000000000",
    "[object object]",
    "anonymous",
    "anonymous-user",
    "backend",
    "distinct_id",
    "distinctid",
    "email",
    "false",
    "guest",
    "id",
    "nan",
    "none",
    "not_authenticated",
    "null",
    "system",
    "true",
    "undefined",
    "user",
];

/// Whether PostHog's capture v1 endpoint would reject an event with this `distinct_id`
/// (docs/behaviour.md §4.1). Ingestion does not apply this wider list, so neither does
/// [`Engine::apply`](crate::Engine::apply); it is an option for callers that want capture's
/// behaviour, and `idgraph replay --capture-validation` rejects such lines.
#[must_use]
pub fn is_rejected_by_capture(id: &str) -> bool {
    let trimmed = id.trim_matches(is_js_whitespace);
    trimmed.len() <= 36 && CAPTURE_REJECTED.contains(&trimmed.to_lowercase().as_str())
}

/// The longest id, in Unicode code points, that may take part in a merge or be an event's
/// distinct id.
pub const MAX_ID_CHARS: usize = 400;

/// Whether `text` has more than [`MAX_ID_CHARS`] code points.
pub(crate) fn is_too_long(text: &str) -> bool {
    text.len() > MAX_ID_CHARS && text.chars().count() > MAX_ID_CHARS
}

/// PostHog's "unmergeable" ids: illegal, holding U+0000, or longer than 400 code points.
#[must_use]
pub fn is_unmergeable_id(id: &str) -> bool {
    is_illegal_id(id) || id.contains('\0') || is_too_long(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_illegal(id: &str, expected: bool) {
        assert_eq!(is_illegal_id(id), expected, "is_illegal_id({id:?})");
    }

    #[test]
    fn exact_list_is_case_sensitive() {
        for id in ["NaN", "None", "none", "null", "0", "[object Object]"] {
            check_illegal(id, true);
        }
        for id in [
            "Nan",
            "nan",
            "NULL",
            "Null",
            "NONE",
            "00",
            "[object object]",
        ] {
            check_illegal(id, false);
        }
    }

    #[test]
    fn any_case_list_ignores_case() {
        for id in [
            "UNDEFINED",
            "TRUE",
            "Guest",
            "anonymous",
            "DistinctId",
            "Email",
            "ID",
            "False",
        ] {
            check_illegal(id, true);
        }
    }

    #[test]
    fn quoted_forms_are_illegal() {
        for id in [
            "'guest'",
            "\"undefined\"",
            "\"Guest\"",
            "'null'",
            "\"[object Object]\"",
        ] {
            check_illegal(id, true);
        }
        for id in ["'guest\"", "\"null'", "''null''"] {
            check_illegal(id, false);
        }
    }

    #[test]
    fn blank_ids_are_illegal_but_padded_ones_are_not() {
        for id in ["", "  ", "\t\n", "\u{feff}"] {
            check_illegal(id, true);
        }
        check_illegal(" null", false);
        check_illegal("\u{85}", false);
        check_illegal("\u{a0}\u{2028}\u{3000}", true);
        check_illegal("null ", false);
    }

    #[test]
    fn capture_rejects_its_wider_list_trimmed_and_in_any_case() {
        for id in [
            " User ",
            "SYSTEM",
            "anonymous-user",
            "00000000-0000-0000-0000-000000000000",
            "NaN",
        ] {
            assert!(is_rejected_by_capture(id), "{id}");
        }
        for id in ["user_1", "'null'", "systems"] {
            assert!(!is_rejected_by_capture(id), "{id}");
        }
    }

    #[test]
    fn unmergeable_adds_nul_and_length() {
        assert!(is_unmergeable_id("a\0b"));
        assert!(!is_unmergeable_id(&"é".repeat(400)));
        assert!(is_unmergeable_id(&"é".repeat(401)));
    }
}
