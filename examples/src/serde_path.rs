//! Names the field a deserialization error is about, for messages that must name it
//! (API bodies, config keys).

/// The field of a `serde_path_to_error` error: its path, or for an unknown or missing
/// field that field's name under the path; `whole` when the error is about the
/// document itself.
pub(crate) fn field_of(path: &str, message: &str, whole: &str) -> String {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    match named {
        Some(field) if parent.is_empty() => field.to_owned(),
        Some(field) if !parent.ends_with(field) => format!("{parent}.{field}"),
        _ if parent.is_empty() => whole.to_owned(),
        _ => parent.to_owned(),
    }
}
