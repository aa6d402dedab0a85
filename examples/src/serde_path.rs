//! Names the field a deserialization error is about, for messages that must name it
//! (API bodies, config keys).

/// The field of a `serde_path_to_error` error: its path, or for a missing field that
/// field's name under the path; `whole` when the error is about the document itself.
///
/// An unknown field is already the path's last segment, and is taken from there: its
/// name is the caller's text, which may hold the backticks that delimit it in serde's
/// message. Only a missing field, one of our own names, is read from the message. An
/// empty name is shown as `""`, as TOML and JSON write it.
pub(crate) fn field_of(path: &str, message: &str, whole: &str) -> String {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
    };
    let parent = if path == "." { "" } else { path };
    let field = match (named("missing field `"), named("unknown field `")) {
        (Some(missing), _) if parent.is_empty() => missing.to_owned(),
        (Some(missing), _) => format!("{parent}.{missing}"),
        // The path did not keep the unknown key: its name as the message gives it.
        (None, Some(unknown)) if parent.is_empty() => unknown.to_owned(),
        _ if parent.is_empty() => whole.to_owned(),
        _ => parent.to_owned(),
    };
    if field.is_empty() {
        "\"\"".to_owned()
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn an_unknown_field_is_named_by_the_path_even_with_backticks() {
        let message = "unknown field `a``, expected one of `url`";
        assert_eq!(field_of("a`", message, "body"), "a`");
        assert_eq!(field_of("delivery.a`", message, "config"), "delivery.a`");
        assert_eq!(
            field_of("colour", "unknown field `colour`, expected `url`", "body"),
            "colour"
        );
    }

    #[test]
    fn a_missing_field_is_named_under_its_parent_even_of_the_same_name() {
        let message = "missing field `signature`";
        assert_eq!(
            field_of("profiles.signature", message, "config"),
            "profiles.signature.signature"
        );
        assert_eq!(field_of(".", message, "config"), "signature");
    }

    #[test]
    fn an_empty_name_is_shown_quoted_and_the_document_by_its_name() {
        let message = "unknown field ``, expected one of `listen`";
        assert_eq!(field_of("", message, "config"), "\"\"");
        assert_eq!(field_of(".", message, "config"), "\"\"");
        assert_eq!(field_of(".", "invalid type: integer", "config"), "config");
    }
}
