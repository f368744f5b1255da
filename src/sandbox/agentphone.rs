//! AgentPhone (contract §5) served under `/agentphone/api/v1`.
//! Routes are added by the AgentPhone work; the shared state is
//! [`super::Shared`] (clock, data, request log).

use axum::Router;

use super::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
}
