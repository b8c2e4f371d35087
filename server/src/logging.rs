//! Logging as distribution configures it: `log.level`, `log.formatter`
//! (text or json) and `log.fields`, static fields added to every line.

use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::sections::LogSettings;

/// Adds `log.fields` to each line the inner format writes.
struct WithFields<F> {
    inner: F,
    fields: Map<String, Value>,
    json: bool,
}

impl<F> WithFields<F> {
    fn new(inner: F, fields: Map<String, Value>, json: bool) -> Self {
        WithFields {
            inner,
            fields,
            json,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if self.fields.is_empty() {
            return writer.write_str(&line);
        }
        let body = line.trim_end_matches('\n');
        if self.json
            && let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(body)
        {
            for (k, v) in &self.fields {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
            return writeln!(writer, "{}", Value::Object(obj));
        }
        let extra: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        writeln!(writer, "{body} {}", extra.join(" "))
    }
}

/// Installs the global subscriber. `LABREG_LOG` (an env-filter directive)
/// overrides the level for debugging.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_env("LABREG_LOG").unwrap_or_else(|_| EnvFilter::new(settings.level));
    let fields: Map<String, Value> = settings.fields.clone().into_iter().collect();
    let ansi = std::io::stderr().is_terminal();
    let json = settings.json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi && fields.is_empty())
        .with_writer(std::io::stderr);
    if json {
        let inner = tracing_subscriber::fmt::format().json().flatten_event(true);
        builder
            .event_format(WithFields::new(inner, fields, json))
            .init();
    } else {
        let inner = tracing_subscriber::fmt::format().with_ansi(ansi && fields.is_empty());
        builder
            .event_format(WithFields::new(inner, fields, json))
            .init();
    }
}
