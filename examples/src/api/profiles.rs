//! Handler of `GET /v1/profiles`: every delivery profile, built in and configured,
//! with all its fields (profiles.md §3).

use axum::extract::State;
use axum::response::Response;
use herald::views::profile_object;
use herald::Page;

use super::{list, schemas, AppState};

/// `GET /v1/profiles` → 200, the profile objects (one page: profiles are few).
#[utoipa::path(
    get,
    path = "/v1/profiles",
    operation_id = "listProfiles",
    tag = "profiles",
    summary = "List delivery profiles",
    description = "Every delivery profile, the three built in first, then the configured ones, \
        with all their fields, in one page. Any valid key may call it.",
    responses((status = 200, description = "The profiles", body = schemas::ProfileList))
)]
pub(crate) async fn list_profiles(State(state): State<AppState>) -> Response {
    let page = Page {
        items: state.engine.profiles().collect::<Vec<_>>(),
        next_cursor: None,
    };
    list(&page, |profile| profile_object(profile))
}
