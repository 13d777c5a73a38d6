//! Logs, traces and metrics.
//!
//! Logs are text in development and JSON in production. When `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, spans and metrics also go to that OTLP/HTTP collector. The other crates only emit
//! `tracing` spans and events: a span becomes an OpenTelemetry span, and an event with a
//! `monotonic_counter.*` or `histogram.*` field becomes a metric data point.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// The installed exporters, flushed and stopped at exit.
#[must_use = "call shutdown at exit so buffered spans and metrics are sent"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Flushes buffered spans and metrics and stops the exporters.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            if let Err(error) = provider.shutdown() {
                tracing::warn!(%error, "could not flush spans");
            }
        }
        if let Some(provider) = self.meter_provider {
            if let Err(error) = provider.shutdown() {
                tracing::warn!(%error, "could not flush metrics");
            }
        }
    }
}

/// Builds the resource every span and metric carries: the service name and the configured attributes.
pub fn resource(config: &Config) -> Resource {
    let attributes = config
        .otel_resource_attributes
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    Resource::builder()
        .with_service_name(config.otel_service_name.clone())
        .with_attributes(attributes)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Builds the layers that turn spans and metric events into OpenTelemetry data. Spans and events
/// below INFO are left out.
pub fn otel_layers<S>(tracer_provider: &SdkTracerProvider, meter_provider: &SdkMeterProvider) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let tracer = tracer_provider.tracer("somnium");
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .and_then(tracing_opentelemetry::MetricsLayer::new(meter_provider.clone()))
        .with_filter(LevelFilter::INFO)
}

/// Installs logging, and tracing and metrics export when an OTLP endpoint is configured.
///
/// # Errors
/// Fails when the OTLP exporters cannot be built.
pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(format!("{},sqlx=warn,sea_orm=warn", config.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
    };

    // Metric events feed the OTLP exporter. As log lines they would add a second JSON line to
    // every request, beside the request line that already records its status and duration.
    let logs = logs.with_filter(EnvFilter::new("trace,somnium::metrics=off"));
    let Some(endpoint) = &config.otlp_endpoint else {
        tracing_subscriber::registry().with(filter).with(logs).init();
        return Ok(Telemetry {
            tracer_provider: None,
            meter_provider: None,
        });
    };

    // The exporters read OTEL_EXPORTER_OTLP_ENDPOINT and the other standard variables.
    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("OTEL_EXPORTER_OTLP_ENDPOINT: could not build the span exporter")?;
    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .context("OTEL_EXPORTER_OTLP_ENDPOINT: could not build the metric exporter")?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource(config))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metrics)
        .with_resource(resource(config))
        .build();

    // The filter applies to every layer, so spans of libraries below the level, such as the
    // database driver's, are never created: a driver that keeps such a span alive would
    // otherwise keep its parent request span open and unexported.
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel_layers(&tracer_provider, &meter_provider))
        .init();
    tracing::info!(endpoint = %endpoint, service = %config.otel_service_name, "exporting traces and metrics over OTLP");
    Ok(Telemetry {
        tracer_provider: Some(tracer_provider),
        meter_provider: Some(meter_provider),
    })
}
