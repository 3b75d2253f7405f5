//! Turning sqlx errors into the domain's `StoreError`.

use enuchat_domain::StoreError;

/// SQLSTATE for unique_violation.
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE for foreign_key_violation.
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// Maps a database error: broken unique rules become `Conflict`, broken
/// references `MissingReference`, everything else `Database`.
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        let constraint = db.constraint().unwrap_or_default();
        match db.code().as_deref() {
            Some(UNIQUE_VIOLATION) => return StoreError::Conflict(conflict_message(constraint)),
            Some(FOREIGN_KEY_VIOLATION) => {
                return StoreError::MissingReference(referenced_thing(constraint))
            }
            _ => {}
        }
    }
    StoreError::Database(err.to_string())
}

/// A caller-safe description of which uniqueness rule was broken.
fn conflict_message(constraint: &str) -> String {
    match constraint {
        "operators_email_key" => "an operator with this email already exists".into(),
        "api_keys_key_hash_key" => "an API key with this hash already exists".into(),
        "visitors_pkey" => "a visitor with this id already exists".into(),
        "visitors_token_hash_key" => "a visitor with this token already exists".into(),
        "conversations_visitor_id_key" => "this visitor already has a conversation".into(),
        "" => "a uniqueness rule was broken".into(),
        other => format!("uniqueness rule {other} was broken"),
    }
}

/// What a foreign key points at, from PostgreSQL's default constraint names
/// (`<table>_<column>_fkey`), which the migrations rely on.
fn referenced_thing(constraint: &str) -> &'static str {
    const BY_COLUMN: &[(&str, &str)] = &[
        ("_tenant_id_fkey", "tenant"),
        ("_widget_id_fkey", "widget"),
        ("_visitor_id_fkey", "visitor"),
        ("_conversation_id_fkey", "conversation"),
        ("_assigned_to_fkey", "operator"),
    ];
    BY_COLUMN
        .iter()
        .find(|(suffix, _)| constraint.ends_with(suffix))
        .map_or("referenced row", |(_, thing)| thing)
}

/// A value read from the database that does not fit the domain type: the data
/// is wrong, not the request.
pub(crate) fn bad_data(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("unexpected {what} in the database: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_name_what_is_missing() {
        assert_eq!(referenced_thing("conversations_widget_id_fkey"), "widget");
        assert_eq!(
            referenced_thing("conversations_assigned_to_fkey"),
            "operator"
        );
        assert_eq!(referenced_thing("operators_tenant_id_fkey"), "tenant");
        assert_eq!(referenced_thing("something_else"), "referenced row");
    }
}
