//! The event properties PostHog lifts into person properties (docs/behaviour.md §3): the
//! event keeps them, and the property rules (`posthog/ops.rs`) lift them.

/// Event properties lifted into person properties (PostHog's event-to-person keys and
/// campaign keys), each with the `$initial_` key it also fills with `$set_once`
/// (docs/behaviour.md §3).
pub const LIFTED_KEYS: [(&str, &str); 44] = [
    ("$app_build", "$initial_app_build"),
    ("$app_name", "$initial_app_name"),
    ("$app_namespace", "$initial_app_namespace"),
    ("$app_version", "$initial_app_version"),
    ("$browser", "$initial_browser"),
    ("$browser_version", "$initial_browser_version"),
    ("$device_type", "$initial_device_type"),
    ("$current_url", "$initial_current_url"),
    ("$pathname", "$initial_pathname"),
    ("$os", "$initial_os"),
    ("$os_name", "$initial_os_name"),
    ("$os_version", "$initial_os_version"),
    ("$referring_domain", "$initial_referring_domain"),
    ("$referrer", "$initial_referrer"),
    ("$screen_height", "$initial_screen_height"),
    ("$screen_width", "$initial_screen_width"),
    ("$viewport_height", "$initial_viewport_height"),
    ("$viewport_width", "$initial_viewport_width"),
    ("$raw_user_agent", "$initial_raw_user_agent"),
    ("utm_source", "$initial_utm_source"),
    ("utm_medium", "$initial_utm_medium"),
    ("utm_campaign", "$initial_utm_campaign"),
    ("utm_content", "$initial_utm_content"),
    ("utm_name", "$initial_utm_name"),
    ("utm_term", "$initial_utm_term"),
    ("gclid", "$initial_gclid"),
    ("gad_source", "$initial_gad_source"),
    ("gclsrc", "$initial_gclsrc"),
    ("dclid", "$initial_dclid"),
    ("gbraid", "$initial_gbraid"),
    ("wbraid", "$initial_wbraid"),
    ("fbclid", "$initial_fbclid"),
    ("msclkid", "$initial_msclkid"),
    ("twclid", "$initial_twclid"),
    ("li_fat_id", "$initial_li_fat_id"),
    ("mc_cid", "$initial_mc_cid"),
    ("igshid", "$initial_igshid"),
    ("ttclid", "$initial_ttclid"),
    ("rdt_cid", "$initial_rdt_cid"),
    ("irclid", "$initial_irclid"),
    ("_kx", "$initial__kx"),
    ("epik", "$initial_epik"),
    ("qclid", "$initial_qclid"),
    ("sccid", "$initial_sccid"),
];

/// Index of `$os`, `$os_name` and `$os_version` in [`LIFTED_KEYS`].
pub(crate) const OS: u8 = 9;
pub(crate) const OS_NAME: u8 = 10;
pub(crate) const OS_VERSION: u8 = 11;

/// The index of a lifted event property in [`LIFTED_KEYS`]. Every property name of every
/// parsed event passes here, so it is a `match` (compiled to a length and byte dispatch)
/// rather than a scan; a unit test keeps it in step with the table.
pub(crate) fn lifted_key_index(key: &str) -> Option<u8> {
    Some(match key {
        "$app_build" => 0,
        "$app_name" => 1,
        "$app_namespace" => 2,
        "$app_version" => 3,
        "$browser" => 4,
        "$browser_version" => 5,
        "$device_type" => 6,
        "$current_url" => 7,
        "$pathname" => 8,
        "$os" => 9,
        "$os_name" => 10,
        "$os_version" => 11,
        "$referring_domain" => 12,
        "$referrer" => 13,
        "$screen_height" => 14,
        "$screen_width" => 15,
        "$viewport_height" => 16,
        "$viewport_width" => 17,
        "$raw_user_agent" => 18,
        "utm_source" => 19,
        "utm_medium" => 20,
        "utm_campaign" => 21,
        "utm_content" => 22,
        "utm_name" => 23,
        "utm_term" => 24,
        "gclid" => 25,
        "gad_source" => 26,
        "gclsrc" => 27,
        "dclid" => 28,
        "gbraid" => 29,
        "wbraid" => 30,
        "fbclid" => 31,
        "msclkid" => 32,
        "twclid" => 33,
        "li_fat_id" => 34,
        "mc_cid" => 35,
        "igshid" => 36,
        "ttclid" => 37,
        "rdt_cid" => 38,
        "irclid" => 39,
        "_kx" => 40,
        "epik" => 41,
        "qclid" => 42,
        "sccid" => 43,
        _ => return None,
    })
}

/// The index in [`LIFTED_KEYS`] of the lifted key whose `$initial_` key is `key`. Only
/// explicit `$set` and `$set_once` keys pass here, and few of them are `$initial_` keys.
pub(crate) fn initial_key_index(key: &str) -> Option<u8> {
    if !key.starts_with("$initial_") {
        return None;
    }
    let index = LIFTED_KEYS
        .iter()
        .position(|&(_, initial)| initial == key)?;
    u8::try_from(index).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifted_keys_are_found_by_name() {
        assert_eq!(lifted_key_index("$os"), Some(OS));
        assert_eq!(lifted_key_index("$os_name"), Some(OS_NAME));
        assert_eq!(lifted_key_index("$os_version"), Some(OS_VERSION));
        assert_eq!(lifted_key_index("sccid"), Some(43));
        assert_eq!(lifted_key_index("$set"), None);
        assert_eq!(lifted_key_index(""), None);
        for (i, (key, initial)) in LIFTED_KEYS.iter().enumerate() {
            assert_eq!(lifted_key_index(key), u8::try_from(i).ok());
            assert_eq!(
                *initial,
                format!("$initial_{}", key.trim_start_matches('$'))
            );
        }
    }

    #[test]
    fn initial_keys_are_found_by_name_and_lifted_keys_are_not() {
        for (i, (key, initial)) in LIFTED_KEYS.iter().enumerate() {
            assert_eq!(initial_key_index(initial), u8::try_from(i).ok());
            assert_eq!(initial_key_index(key), None);
        }
        assert_eq!(initial_key_index("$initial_"), None);
        assert_eq!(initial_key_index("$initial_plan"), None);
        assert_eq!(initial_key_index("initial_utm_source"), None);
    }
}
