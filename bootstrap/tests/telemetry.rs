//! Spans and metrics captured with in-memory exporters while a real app serves a session.

use std::collections::BTreeSet;

use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{json, Value};
use somnium::{Application, Config, Overrides};
use tracing_subscriber::layer::SubscriberExt;

// This test binary holds only this test, so it can install the global subscriber that every
// runtime thread, blocking threads included, reports to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_are_exported() {
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder().with_batch_exporter(spans.clone()).build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(somnium::telemetry::otel_layers(&tracer_provider, &meter_provider));
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber is installed");

    let directory = tempfile::tempdir().unwrap();
    let mut config = Config::from_vars(&Default::default()).unwrap();
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.set_data_dir(directory.path().join("data"));
    config.database_url = format!("sqlite://{}?mode=rwc", config.data_dir.join("somnium.db").display());
    let application = Application::build(&config, Overrides::default()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until(std::future::pending()));

    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let email = "tia.ray@example.test";
    let password = "Traced-Ward-7#Lumen";
    assert_eq!(
        post(
            "/api/v1/auth/register",
            json!({ "email": email, "password": password, "full_name": "Tia Ray" })
        )
        .await
        .unwrap()
        .status(),
        201
    );
    assert_eq!(
        post(
            "/api/v1/auth/login",
            json!({ "email": email, "password": "Wrong-Ward-7#Zq" })
        )
        .await
        .unwrap()
        .status(),
        401
    );
    let login: Value = post("/api/v1/auth/login", json!({ "email": email, "password": password }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed = post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": login["refresh_token"] }),
    )
    .await
    .unwrap();
    assert_eq!(refreshed.status(), 200);

    // The last request's spans close just after its response is sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tracer_provider.force_flush().unwrap();
    meter_provider.force_flush().unwrap();

    let finished = spans.get_finished_spans().unwrap();
    let names: BTreeSet<String> = finished.iter().map(|span| span.name.to_string()).collect();
    for expected in [
        "request",
        "register",
        "login",
        "refresh",
        "db.users.insert",
        "db.sessions.rotate",
        "db.audit.record",
    ] {
        assert!(names.contains(expected), "no span named {expected} in {names:?}");
    }
    let request = finished.iter().find(|span| span.name == "request").unwrap();
    let attributes: Vec<String> = request
        .attributes
        .iter()
        .map(|attribute| attribute.key.to_string())
        .collect();
    for key in [
        "http.request.method",
        "url.path",
        "http.response.status_code",
        "request_id",
    ] {
        assert!(
            attributes.iter().any(|name| name == key),
            "request span lacks {key}: {attributes:?}"
        );
    }

    let exported = metrics.get_finished_metrics().unwrap();
    let metric_names: BTreeSet<String> = exported
        .iter()
        .flat_map(|resource| resource.scope_metrics())
        .flat_map(|scope| scope.metrics())
        .map(|metric| metric.name().to_owned())
        .collect();
    for expected in [
        "somnium_http_requests",
        "somnium_http_request_duration_ms",
        "somnium_logins",
        "somnium_refreshes",
        "somnium_audit_appends",
    ] {
        assert!(
            metric_names.contains(expected),
            "no metric named {expected} in {metric_names:?}"
        );
    }
}
