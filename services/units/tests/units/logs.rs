//! A failed call's log line, as an operator reads it in JSON: it names the trace the caller
//! sent, the caller and the request id, though it is written deep inside the handler.

use std::io::Write;
use std::sync::{Arc, Mutex};

use fazhi_platform::settings::LogFormat;
use fazhi_proto::units::v1 as pb;
use fazhi_testkit::with_token;
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::App;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_refused_call_logs_its_trace_caller_and_request_id() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(fazhi_platform::telemetry::log_layer(
            LogFormat::Json,
            captured.clone(),
        ));
    // The process's subscriber, as `telemetry::init` installs it (a thread's own default would
    // miss events while other tests run): this is the only test that sets it, and it looks for
    // its own request id among whatever the others log.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let mut app = App::with_demo_registry().await;
    let mut request = with_token(
        pb::DeleteUnitRequest {
            name: "units/ng-sfj".to_owned(),
            etag: "\"999\"".to_owned(),
            request_id: "log-line-test".to_owned(),
        },
        &app.admin,
    );
    request.metadata_mut().insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    let refused = app.client.delete_unit(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Aborted);

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            line["fields"]["reason"] == "ETAG_MISMATCH"
                && line["spans"].to_string().contains("log-line-test")
        })
        .unwrap_or_else(|| panic!("no log line of the refusal in:\n{output}"));
    assert_eq!(line["level"], "WARN");
    let root = line["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|span| span["name"] == "grpc.server"))
        .unwrap_or_else(|| panic!("no grpc.server span on {line}"));
    assert_eq!(root["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(root["subject"], "admin");
    assert_eq!(root["request_id"], "log-line-test");
    assert_eq!(
        root["rpc.method"],
        "/fazhi.units.v1.UnitsService/DeleteUnit"
    );
}
