//! The PostgreSQL connection pool: connections the server closed are replaced before they fail
//! a request, after a pause long enough that the pool pings idle connections on acquire.

use std::time::Duration as StdDuration;

use sea_orm::ConnectionTrait;
use somnium_tests::{postgres_url, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_fail_no_request() {
    let application_name = format!("somnium_pool_{}", uuid::Uuid::new_v4().simple());
    let Some(base_url) = postgres_url() else {
        return;
    };
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let app_url = format!("{base_url}{separator}application_name={application_name}");
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |config| config.database_url = app_url).await else {
        return;
    };
    let user = app.signed_in_user().await;
    let list_sessions = || async {
        let response = app
            .client
            .get(app.url("/api/v1/auth/sessions"))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        response.status()
    };
    assert_eq!(list_sessions().await, 200);

    // A connection of its own, so the termination does not end the connection running it.
    let admin = sea_orm::Database::connect(base_url.as_str()).await.unwrap();
    let terminated = admin
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{application_name}'"
            ),
        ))
        .await
        .unwrap();
    assert!(!terminated.is_empty(), "the app holds at least one connection");

    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    for attempt in 0..5 {
        assert_eq!(
            list_sessions().await,
            200,
            "request {attempt} after the server closed the connections"
        );
    }
}
