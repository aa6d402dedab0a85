//! Handler of `GET /v1/cluster` (admin): the nodes sharing this daemon's PostgreSQL
//! database, their heartbeats and the partitions each owns (cluster.md).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::ApiError;
use super::{json, schemas, AppState};

/// `GET /v1/cluster` → 200, the cluster as the database sees it now; 404 when the
/// daemon runs alone (its storage is not PostgreSQL).
#[utoipa::path(
    get,
    path = "/v1/cluster",
    operation_id = "getCluster",
    tag = "cluster",
    summary = "The nodes of the cluster",
    description = "Every node on this daemon's PostgreSQL database: its heartbeat, whether \
        it is alive, and the partitions of endpoints it owns. Admin key only. 404 when \
        the daemon's storage is not PostgreSQL (it runs alone).",
    responses(
        (status = 200, description = "The cluster", body = schemas::ClusterStatus),
        (status = 404, description = "The daemon runs alone", body = schemas::ErrorBody)
    )
)]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(cluster) = &state.cluster else {
        return Err(ApiError::not_found(
            "this daemon runs alone: only nodes on storage = \"postgres\" form a cluster",
        ));
    };
    let status = cluster.status().await.map_err(|error| {
        tracing::error!(%error, "reading the cluster's state failed");
        ApiError::internal()
    })?;
    Ok(json(StatusCode::OK, &status))
}
