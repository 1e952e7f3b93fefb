//! Formula escaping, shared by the export (which adds the `'`) and the reader (which takes
//! it away again).
//!
//! An export writes a cell that a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, tab or CR) with a leading `'` (OWASP "CSV injection"),
//! and reading removes that `'` again: a cell that starts with `'` followed by one of those
//! characters loses its first `'`. More precisely, both sides apply the rule to any run of `'`
//! before such a character (`'=x` is written `''=x` and read back as `'=x`), so every value
//! survives export and import unchanged.

/// The characters that make a spreadsheet run a cell as a formula (OWASP "CSV injection").
fn is_formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// Whether a value is written with a leading `'`: it starts with a formula character, after
/// any number of `'` (so that a value that itself starts with `'=` survives the round trip).
fn needs_formula_escape(value: &str) -> bool {
    value
        .trim_start_matches('\'')
        .chars()
        .next()
        .is_some_and(is_formula_start)
}

/// A cell as read: trimmed, and without the `'` that an export put before a formula character
/// (the exact inverse of [`escape_formula`]).
pub(super) fn unescape_cell(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.strip_prefix('\'') {
        Some(rest) if needs_formula_escape(rest) => rest.to_string(),
        _ => trimmed.to_string(),
    }
}

/// A cell as written: with a leading `'` when [`needs_formula_escape`].
pub(super) fn escape_formula(value: &str) -> String {
    if needs_formula_escape(value) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}
