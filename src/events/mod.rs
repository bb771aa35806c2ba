//! Events: every stage end, and an import's completion, is stored in
//! `etl.events` and sent with `NOTIFY etl_events` (delivered at commit).
//! Events that applications publish are validated first, as the original
//! design's event handler decorator did: known type, supported version,
//! required fields. An invalid event is stored with `accepted = false`.

use pgrx::Uuid;
use serde_json::{json, Value};

use crate::error::{Error, EventError};
use crate::pipeline::StageReport;
use crate::services::spi::Sql;
use crate::stage::Stage;

pub const EVENT_VERSION: &str = "1.0";
pub const CHANNEL: &str = "etl_events";
/// NOTIFY refuses a payload of 8000 bytes or more.
pub const MAX_PAYLOAD_BYTES: usize = 7999;
/// The longest event type an application may send: the known ones have at
/// most 23 bytes; anything longer is refused before it is stored or echoed.
pub const MAX_EVENT_TYPE_BYTES: usize = 64;

/// At most `max` characters of `text`, for messages that echo user input.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Reads an application's payload (the text of a jsonb value) and validates
/// it. What JSON-in-Rust cannot hold (nesting deeper than 128 levels, a
/// number beyond a double such as 1e400) and what NOTIFY cannot carry
/// (`MAX_PAYLOAD_BYTES`) is refused, never a panic.
/// A refusal is [`Error::Refused`] (stored with its reason); any other
/// error is the database failing while checking it.
pub fn parse_and_validate(event_type: &str, payload_text: &str) -> Result<ValidEvent, Error> {
    if payload_text.len() > MAX_PAYLOAD_BYTES {
        return Err(EventError::TooLarge { bytes: payload_text.len(), max: MAX_PAYLOAD_BYTES }.into());
    }
    let payload: Value = serde_json::from_str(payload_text).map_err(|e| EventError::Unreadable(e.to_string()))?;
    Ok(validate(event_type, &payload)?)
}

/// The event types of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    DataImportCompleted,
    StageCompleted(Stage),
    /// The quality gate held an import after its orders stage
    /// (`queue::gate`); published by etl_ext only.
    ImportHeld,
    /// An operator released a held import (`etl_release`); published by
    /// etl_ext only.
    ImportReleased,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::DataImportCompleted,
        EventType::StageCompleted(Stage::Orders),
        EventType::StageCompleted(Stage::Customers),
        EventType::StageCompleted(Stage::Leads),
        EventType::ImportHeld,
        EventType::ImportReleased,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::DataImportCompleted => "DATA_IMPORT_COMPLETED",
            EventType::StageCompleted(Stage::Orders) => "ORDERS_ETL_COMPLETED",
            EventType::StageCompleted(Stage::Customers) => "CUSTOMERS_ETL_COMPLETED",
            EventType::StageCompleted(Stage::Leads) => "LEADS_ETL_COMPLETED",
            EventType::ImportHeld => "IMPORT_HELD",
            EventType::ImportReleased => "IMPORT_RELEASED",
        }
    }

    /// Whether an application may publish it with `etl_emit_event`: the
    /// gate's events say what etl_ext decided, so an application's would
    /// only mislead whoever listens (and release nothing).
    pub fn published_by_applications(self) -> bool {
        !matches!(self, EventType::ImportHeld | EventType::ImportReleased)
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// An event that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub event_type: EventType,
    pub import_id: Uuid,
    pub status: String,
}

/// Validates an application's event. Pure: no database.
pub fn validate(event_type: &str, payload: &Value) -> Result<ValidEvent, EventError> {
    let object = payload.as_object().ok_or(EventError::NotAnObject)?;
    let kind = EventType::from_name(event_type).ok_or_else(|| EventError::UnknownType(event_type.to_string()))?;
    if !kind.published_by_applications() {
        return Err(EventError::NotForApplications(event_type.to_string()));
    }
    if let Some(inner) = object.get("event_type") {
        if inner.as_str() != Some(event_type) {
            return Err(EventError::TypeMismatch(inner.to_string()));
        }
    }
    match object.get("event_version") {
        None | Some(Value::Null) => return Err(EventError::MissingField("event_version")),
        Some(Value::String(v)) if v == EVENT_VERSION => {}
        Some(Value::String(v)) => return Err(EventError::UnsupportedVersion(v.clone())),
        Some(other) => return Err(EventError::UnsupportedVersion(other.to_string())),
    }
    let import_id = match object.get("import_id") {
        None | Some(Value::Null) => return Err(EventError::MissingField("import_id")),
        Some(Value::String(s)) => uuid::Uuid::parse_str(s)
            .map(|u| Uuid::from_bytes(*u.as_bytes()))
            .map_err(|e| EventError::InvalidField { field: "import_id", why: e.to_string() })?,
        Some(_) => return Err(EventError::InvalidField { field: "import_id", why: "must be a UUID string".into() }),
    };
    let status = match object.get("status") {
        None | Some(Value::Null) => return Err(EventError::MissingField("status")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(EventError::InvalidField { field: "status", why: "must be a non-empty string".into() }),
    };
    for field in ["success_count", "error_count"] {
        if let Some(v) = object.get(field) {
            if !(v.is_null() || v.as_u64().is_some()) {
                return Err(EventError::InvalidField {
                    field: if field == "success_count" { "success_count" } else { "error_count" },
                    why: "must be a non-negative integer".into(),
                });
            }
        }
    }
    if let Some(v) = object.get("duration_ms") {
        if !(v.is_null() || v.as_f64().is_some_and(|d| d >= 0.0)) {
            return Err(EventError::InvalidField { field: "duration_ms", why: "must be a non-negative number".into() });
        }
    }
    Ok(ValidEvent { event_type: kind, import_id, status })
}

/// The contract's payload of a stage's completion event.
pub fn stage_payload(report: &StageReport) -> Value {
    json!({
        "event_type": EventType::StageCompleted(report.stage).name(),
        "event_version": EVENT_VERSION,
        "import_id": report.import_id.to_string(),
        "status": report.status.name(),
        "success_count": report.counts.rows_ok,
        "error_count": report.counts.rows_rejected + report.counts.rows_failed,
        "duration_ms": report.duration_ms,
    })
}

/// The payload of an import's completion event.
pub fn import_completed_payload(import_id: Uuid, raw_lines: i64) -> Value {
    json!({
        "event_type": EventType::DataImportCompleted.name(),
        "event_version": EVENT_VERSION,
        "import_id": import_id.to_string(),
        "status": "completed",
        "success_count": raw_lines,
        "error_count": 0,
        "duration_ms": 0.0,
    })
}

/// The payload of the quality gate's events: the contract's fields (status
/// `held` or `released`; success_count the lines not rejected, error_count
/// the rejected ones) and what the gate measured.
pub fn gate_payload(event_type: EventType, import_id: Uuid, status: &str, detail: &GateDetail) -> Value {
    json!({
        "event_type": event_type.name(),
        "event_version": EVENT_VERSION,
        "import_id": import_id.to_string(),
        "status": status,
        "success_count": detail.lines - detail.rejected,
        "error_count": detail.rejected,
        "duration_ms": 0.0,
        "reject_ratio": detail.reject_ratio,
        "threshold": detail.threshold,
        "reason": detail.reason,
        "released_by": detail.released_by,
    })
}

/// What the quality gate measured of an import, for its events.
#[derive(Debug, Clone, PartialEq)]
pub struct GateDetail {
    pub lines: i64,
    pub rejected: i64,
    pub reject_ratio: f64,
    pub threshold: f64,
    pub reason: String,
    /// The operator who released it (IMPORT_RELEASED only).
    pub released_by: Option<String>,
}

/// Stores an accepted event and notifies `etl_events`; returns its id.
pub fn publish(event_type: EventType, payload: &Value) -> Result<i64, Error> {
    publish_text(event_type, &payload.to_string())
}

/// [`publish`] for a payload given as JSON text (checked by the caller).
pub fn publish_text(event_type: EventType, payload_text: &str) -> Result<i64, Error> {
    Sql::new().query(
        include_str!("../../sql/queries/publish_event.sql"),
        &[event_type.name().into(), EVENT_VERSION.into(), payload_text.into(), CHANNEL.into()],
        |rows| rows.first().get_one::<i64>()?.ok_or_else(|| Error::Unexpected("no event_id".into())),
    )
}

/// Stores a refused event with its error; nothing is notified or queued.
/// A payload too large to carry is stored as its size only, so that what an
/// application sends never costs more than an event's room.
pub fn store_refused(event_type: &str, payload_text: &str, error: &EventError) -> Result<i64, Error> {
    let stored_payload = if payload_text.len() > MAX_PAYLOAD_BYTES {
        json!({ "refused_payload_bytes": payload_text.len() }).to_string()
    } else {
        payload_text.to_string()
    };
    Sql::new().query(
        include_str!("../../sql/queries/store_refused_event.sql"),
        &[event_type.into(), error.to_string().into(), stored_payload.into()],
        |rows| rows.first().get_one::<i64>()?.ok_or_else(|| Error::Unexpected("no event_id".into())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "event_type": "DATA_IMPORT_COMPLETED",
            "event_version": "1.0",
            "import_id": "0190b4c2-6f1e-7cc0-8a3e-1f2d3c4b5a69",
            "status": "completed",
            "success_count": 10,
            "error_count": 0,
            "duration_ms": 1.5
        })
    }

    fn without(field: &str) -> Value {
        let mut v = good();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = good();
        v.as_object_mut().unwrap().insert(field.into(), value);
        v
    }

    #[test]
    fn a_complete_event_is_valid() {
        let e = validate("DATA_IMPORT_COMPLETED", &good()).unwrap();
        assert_eq!(e.event_type, EventType::DataImportCompleted);
        assert_eq!(e.status, "completed");
        assert_eq!(e.import_id.to_string(), "0190b4c2-6f1e-7cc0-8a3e-1f2d3c4b5a69");
    }

    #[test]
    fn every_type_is_known_by_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
        assert_eq!(EventType::from_name("ORDERS_ETL_STARTED"), None);
    }

    #[test]
    fn refusals_say_why() {
        let d = "DATA_IMPORT_COMPLETED";
        assert_eq!(validate(d, &json!([1])), Err(EventError::NotAnObject));
        assert_eq!(validate("NOPE", &good()), Err(EventError::UnknownType("NOPE".into())));
        assert_eq!(
            validate(d, &with("event_version", json!("2.0"))),
            Err(EventError::UnsupportedVersion("2.0".into()))
        );
        assert_eq!(validate(d, &with("event_version", json!(1.0))), Err(EventError::UnsupportedVersion("1.0".into())));
        assert_eq!(validate(d, &without("event_version")), Err(EventError::MissingField("event_version")));
        assert_eq!(validate(d, &without("import_id")), Err(EventError::MissingField("import_id")));
        assert_eq!(validate(d, &without("status")), Err(EventError::MissingField("status")));
        assert!(matches!(
            validate(d, &with("import_id", json!("not-a-uuid"))),
            Err(EventError::InvalidField { field: "import_id", .. })
        ));
        assert!(matches!(
            validate(d, &with("success_count", json!(-1))),
            Err(EventError::InvalidField { field: "success_count", .. })
        ));
        assert!(matches!(
            validate(d, &with("duration_ms", json!("fast"))),
            Err(EventError::InvalidField { field: "duration_ms", .. })
        ));
        assert!(matches!(validate("ORDERS_ETL_COMPLETED", &good()), Err(EventError::TypeMismatch(_))));
    }

    #[test]
    fn what_json_in_rust_or_notify_cannot_carry_is_refused() {
        let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
        assert!(matches!(
            parse_and_validate("DATA_IMPORT_COMPLETED", &deep),
            Err(Error::Refused(EventError::Unreadable(_)))
        ));
        // jsonb prints 1e400 with all its digits; both forms are refused.
        for number in ["1e400".to_string(), format!("1{}", "0".repeat(400))] {
            let huge_number = format!(
                r#"{{"event_type": "DATA_IMPORT_COMPLETED", "event_version": "1.0", "import_id": "0190b4c2-6f1e-7cc0-8a3e-1f2d3c4b5a69", "status": "completed", "success_count": {number}}}"#
            );
            assert!(matches!(
                parse_and_validate("DATA_IMPORT_COMPLETED", &huge_number),
                Err(Error::Refused(EventError::Unreadable(_)))
            ));
        }
        let mut big = good();
        big.as_object_mut().unwrap().insert("note".into(), json!("x".repeat(MAX_PAYLOAD_BYTES)));
        assert!(matches!(
            parse_and_validate("DATA_IMPORT_COMPLETED", &big.to_string()),
            Err(Error::Refused(EventError::TooLarge { .. }))
        ));
        assert!(parse_and_validate("DATA_IMPORT_COMPLETED", &good().to_string()).is_ok());
    }

    #[test]
    fn applications_cannot_publish_the_gates_events() {
        for kind in ["IMPORT_HELD", "IMPORT_RELEASED"] {
            let payload = with("event_type", json!(kind));
            assert_eq!(validate(kind, &payload), Err(EventError::NotForApplications(kind.into())));
        }
        let published: Vec<_> = EventType::ALL.into_iter().filter(|t| t.published_by_applications()).collect();
        assert_eq!(published.len(), 4, "the contract's four event types stay open to applications");
    }

    #[test]
    fn echoes_are_bounded() {
        assert_eq!(bounded("abc", 5), "abc");
        assert_eq!(bounded(&"é".repeat(300), 200).chars().count(), 203);
    }

    #[test]
    fn the_payload_type_may_be_left_out() {
        let e = validate("LEADS_ETL_COMPLETED", &without("event_type")).unwrap();
        assert_eq!(e.event_type, EventType::StageCompleted(Stage::Leads));
    }
}
