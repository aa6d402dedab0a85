//! Handler of `GET /v1/profiles`: every delivery profile, built in and configured,
//! with all its fields (profiles.md §3).

use axum::extract::State;
use axum::response::Response;
use herald::views::profile_object;
use herald::Page;

use super::{list, AppState};

/// `GET /v1/profiles` → 200, the profile objects (one page: profiles are few).
pub(crate) async fn list_profiles(State(state): State<AppState>) -> Response {
    let page = Page {
        items: state.engine.profiles().collect::<Vec<_>>(),
        next_cursor: None,
    };
    list(&page, |profile| profile_object(profile))
}
