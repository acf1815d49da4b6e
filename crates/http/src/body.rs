//! Request bodies: JSON and form bodies read within the size limit with their media type
//! checked, and JSON parsed with every invalid field named (400, 413, 415, 422).

use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, mime};
use futures::StreamExt;
use futures::future::{LocalBoxFuture, ready};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn body_limit(req: &HttpRequest) -> usize {
    crate::state::of(req)
        .map(|s| s.config.json_limit_bytes)
        .unwrap_or(crate::state::HttpConfig::DEFAULT_JSON_LIMIT_BYTES)
}

/// The body's media type, if it is there and parses.
fn media_type(headers: &HeaderMap) -> Option<mime::Mime> {
    headers.get(header::CONTENT_TYPE)?.to_str().ok()?.parse().ok()
}

/// `application/json` or any `application/*+json`, with any parameters.
fn is_json(mime: &mime::Mime) -> bool {
    mime.type_() == mime::APPLICATION && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

fn is_form(mime: &mime::Mime) -> bool {
    mime.type_() == mime::APPLICATION && mime.subtype() == mime::WWW_FORM_URLENCODED
}

/// Refuses a declared `Content-Length` over the limit before a byte is read.
fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Reads the body, never holding more than `limit` bytes.
async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::MalformedBody(format!("the body could not be read ({e})")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Checks the media type and the declared length, then reads the body within the limit.
fn limited_body(
    req: &HttpRequest,
    payload: &mut Payload,
    accepts: fn(&mime::Mime) -> bool,
    expected: &'static str,
) -> LocalBoxFuture<'static, Result<Bytes, ApiError>> {
    if !media_type(req.headers()).is_some_and(|m| accepts(&m)) {
        return Box::pin(ready(Err(ApiError::UnsupportedMediaType(expected))));
    }
    let limit = body_limit(req);
    if let Err(e) = check_declared_length(req.headers(), limit) {
        return Box::pin(ready(Err(e)));
    }
    Box::pin(read_body(payload.take(), limit))
}

/// A JSON request body. Unlike actix's `Json`: 415 unless the media type is JSON, 413 over
/// the configured limit, 400 only when the body is not JSON at all, and 422 naming every
/// field path when it is JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = limited_body(req, payload, is_json, "application/json");
        Box::pin(async move { parse_json(&body.await?).map(ApiJson) })
    }
}

/// A JSON request body as it was sent, media type and size checked (415, 413) but not yet
/// parsed: for endpoints that must see the exact bytes (an idempotency fingerprint) before
/// `parse_json`.
pub struct JsonBytes(pub Bytes);

impl FromRequest for JsonBytes {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = limited_body(req, payload, is_json, "application/json");
        Box::pin(async move { body.await.map(JsonBytes) })
    }
}

/// Parses a JSON object body: syntax first (400), then shape (422 naming every field path
/// that is missing, unknown or of the wrong type). A valid body is read once; only a body
/// that fails is read again, to tell syntax from shape and to look for further errors.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody("the body is empty".into()));
    }
    // Every request body is an object; serde would also take a struct's fields from an array.
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
            // Trailing bytes after the object are a syntax error, found below.
            Ok(value) if deserializer.end().is_ok() => return Ok(value),
            Ok(_) => {}
            Err(first) if first.inner().classify() == serde_json::error::Category::Data => {
                // A shape error, unless the body is not JSON further on.
                check_syntax(body)?;
                return Err(ApiError::Validation(every_shape_error::<T>(body, ShapeError::from(first))));
            }
            Err(_) => {}
        }
    }
    check_syntax(body)?;
    Err(ApiError::Validation(vec![FieldError::new("body", "must be a JSON object")]))
}

/// 400 unless `body` is one JSON value.
fn check_syntax(body: &[u8]) -> Result<(), ApiError> {
    serde_json::from_slice::<IgnoredAny>(body)
        .map(drop)
        .map_err(|e| ApiError::MalformedBody(without_position(&e.to_string())))
}

/// serde_json appends " at line L column C"; a field path says more to a client.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A body of the wrong shape: which field, why, and how to look past it.
struct ShapeError {
    field: String,
    message: String,
    /// The path of the field in the body, if it can be followed.
    steps: Option<Vec<Step>>,
    /// An unknown field (removed to look further) rather than a missing or mistyped one
    /// (replaced by a stand-in).
    unknown: bool,
}

impl From<serde_path_to_error::Error<serde_json::Error>> for ShapeError {
    fn from(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let message = without_position(&e.inner().to_string());
        let mut steps = Some(Vec::new());
        for segment in e.path() {
            let step = match segment {
                serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
                serde_path_to_error::Segment::Map { key } => Step::Key(key.clone()),
                _ => {
                    steps = None;
                    break;
                }
            };
            if let Some(steps) = steps.as_mut() {
                steps.push(step);
            }
        }
        let named =
            |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned);
        // serde_path_to_error has stepped into an unknown field, not into a missing one.
        if let (Some(name), Some(steps)) = (named("missing field `"), steps.as_mut()) {
            steps.push(Step::Key(name));
        }
        let field = match &steps {
            Some(steps) => display_path(steps),
            None => e.path().to_string(),
        };
        let unknown = named("unknown field `").is_some();
        Self { field, message, steps, unknown }
    }
}

/// `items[0].product_id`; the whole body is `body`.
fn display_path(steps: &[Step]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) if path.is_empty() => path.push_str(key),
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    if path.is_empty() { "body".to_owned() } else { path }
}

/// How many deserializations of the parsed body are spent looking for shape errors after
/// the first. Each walks the body once in memory; a stand-in fitting the expected type is
/// usually right the first time, so this finds about as many errors, and a hostile body
/// cannot make one request cost more than this many walks.
const SHAPE_SEARCH_BUDGET: usize = 16;

/// Values tried in place of a missing or mistyped field, to find the errors behind it.
fn stand_ins() -> [Value; 9] {
    [
        Value::String(String::new()),
        Value::from(0),
        Value::Bool(false),
        Value::Array(Vec::new()),
        Value::Object(serde_json::Map::new()),
        Value::String("00000000-0000-0000-0000-000000000000".into()),
        Value::String("1970-01-01T00:00:00Z".into()),
        Value::from(0.0),
        Value::Null,
    ]
}

/// The stand-ins in the order worth trying for an error: the one serde's message says is
/// expected first (`expected u32`, `expected UUID`…), then the others.
fn stand_ins_for(message: &str) -> Vec<Value> {
    let expected = message.rsplit("expected ").next().unwrap_or("").to_ascii_lowercase();
    let first = if expected.contains("uuid") {
        5
    } else if expected.contains("date") || expected.contains("rfc 3339") {
        6
    } else if ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "integer"].iter().any(|t| expected.contains(t)) {
        1
    } else if expected.contains("f32") || expected.contains("f64") {
        7
    } else if expected.contains("bool") {
        2
    } else if expected.contains("sequence") || expected.contains("array") {
        3
    } else if expected.contains("struct") || expected.contains("map") {
        4
    } else {
        0
    };
    let mut all = stand_ins().to_vec();
    all.swap(0, first);
    all
}

/// One deserialization of the parsed body, if the budget allows it; `Some(None)` when it
/// deserialized.
fn attempt<T: DeserializeOwned>(value: &Value, budget: &mut usize) -> Option<Option<ShapeError>> {
    *budget = budget.checked_sub(1)?;
    Some(serde_path_to_error::deserialize::<_, T>(value).err().map(ShapeError::from))
}

/// serde stops at the first error; to name every field, the error is taken out of the way
/// (an unknown field removed, a missing or mistyped one given a stand-in, in place) and the
/// parsed body deserialized again, within [`SHAPE_SEARCH_BUDGET`].
fn every_shape_error<T: DeserializeOwned>(body: &[u8], first: ShapeError) -> Vec<FieldError> {
    let mut errors = vec![FieldError::new(first.field.clone(), first.message.clone())];
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return errors;
    };
    let mut budget = SHAPE_SEARCH_BUDGET;
    let mut current = first;
    while let Some(steps) = current.steps.take() {
        let next = if current.unknown {
            if !remove_at(&mut value, &steps) {
                break;
            }
            attempt::<T>(&value, &mut budget)
        } else {
            repair::<T>(&mut value, &steps, &current, &mut budget)
        };
        // Out of budget, no stand-in got past it, or no error left.
        let Some(Some(error)) = next else { break };
        if !errors.iter().any(|e| e.field == error.field) {
            errors.push(FieldError::new(error.field.clone(), error.message.clone()));
        }
        current = error;
    }
    errors
}

/// Puts a stand-in at `steps` that gets deserialization past `error`; `None` when none
/// does (the body is left as it was) or the budget ran out; else the next error, if any.
fn repair<T: DeserializeOwned>(
    value: &mut Value,
    steps: &[Step],
    error: &ShapeError,
    budget: &mut usize,
) -> Option<Option<ShapeError>> {
    for stand_in in stand_ins_for(&error.message) {
        let previous = replace_at(value, steps, stand_in)?;
        let next = attempt::<T>(value, budget);
        match next {
            Some(next) if next.as_ref().is_none_or(|n| n.field != error.field) => return Some(next),
            _ => {
                restore_at(value, steps, previous);
                if *budget == 0 {
                    return None;
                }
            }
        }
    }
    None
}

fn parent_mut<'v>(value: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    steps.iter().try_fold(value, |current, step| match step {
        Step::Key(key) => current.as_object_mut()?.get_mut(key),
        Step::Index(index) => current.as_array_mut()?.get_mut(*index),
    })
}

fn remove_at(value: &mut Value, steps: &[Step]) -> bool {
    let Some((Step::Key(key), parent)) = steps.split_last() else { return false };
    parent_mut(value, parent).and_then(Value::as_object_mut).and_then(|object| object.remove(key)).is_some()
}

/// Puts `new` at `steps` (a missing object key is added); the value it replaced, `None` if
/// the key was absent. `None` overall when the path cannot be followed.
fn replace_at(value: &mut Value, steps: &[Step], new: Value) -> Option<Option<Value>> {
    let (last, parent) = steps.split_last()?;
    match (parent_mut(value, parent)?, last) {
        (Value::Object(object), Step::Key(key)) => Some(object.insert(key.clone(), new)),
        (Value::Array(array), Step::Index(index)) => {
            array.get_mut(*index).map(|slot| Some(std::mem::replace(slot, new)))
        }
        _ => None,
    }
}

/// Undoes `replace_at`.
fn restore_at(value: &mut Value, steps: &[Step], previous: Option<Value>) {
    let Some((last, parent)) = steps.split_last() else { return };
    match (parent_mut(value, parent), last, previous) {
        (Some(Value::Object(object)), Step::Key(key), None) => {
            object.remove(key);
        }
        (Some(Value::Object(object)), Step::Key(key), Some(old)) => {
            object.insert(key.clone(), old);
        }
        (Some(Value::Array(array)), Step::Index(index), Some(old)) => {
            if let Some(slot) = array.get_mut(*index) {
                *slot = old;
            }
        }
        _ => {}
    }
}

/// For optional fields of a partial update: absent is `None`, but an explicit `null` is an
/// error rather than being silently ignored. Use with `#[serde(default, deserialize_with)]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An integer field that, like JSON Schema's `integer`, also takes a number with a zero
/// fraction (`5.0` is 5); `5.5`, a string or anything else is refused (422 naming the
/// field). Use with `#[serde(deserialize_with = "integer")]`.
pub fn integer<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(IntegerVisitor)
}

/// `present` for an optional `integer`: absent is `None`, `null` is refused.
pub fn present_integer<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    integer(deserializer).map(Some)
}

struct IntegerVisitor;

impl serde::de::Visitor<'_> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
        // 2^63: every whole float in [-2^63, 2^63) is an i64, exactly.
        const BOUND: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && (-BOUND..BOUND).contains(&v) {
            #[allow(clippy::cast_possible_truncation)]
            Ok(v as i64)
        } else {
            Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
        }
    }
}

/// An `application/x-www-form-urlencoded` body, read within the configured limit (415
/// for another media type, 413 over the limit). Parsing is left to the endpoint.
pub struct FormBody(pub Bytes);

impl FromRequest for FormBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = limited_body(req, payload, is_form, "application/x-www-form-urlencoded");
        Box::pin(async move { body.await.map(FormBody) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        product_id: uuid::Uuid,
        quantity: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        email: String,
        items: Vec<Line>,
        #[serde(default, deserialize_with = "present")]
        note: Option<String>,
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_malformed() {
        for body in ["", "   ", "{", "{\"email\": }", "nope", "{} trailing", "{\"email\": \"a\",}"] {
            assert!(matches!(parse_json::<Order>(body.as_bytes()), Err(ApiError::MalformedBody(_))), "{body:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_field_path() {
        let missing = parse_json::<Order>(br#"{"items": []}"#).unwrap_err();
        assert_eq!(fields(missing), ["email"]);
        let unknown = parse_json::<Order>(br#"{"email": "a", "items": [], "role": "admin"}"#).unwrap_err();
        assert_eq!(fields(unknown), ["role"]);
        let wrong_type =
            parse_json::<Order>(br#"{"email": "a", "items": [{"product_id": 5, "quantity": 1}]}"#).unwrap_err();
        assert_eq!(fields(wrong_type), ["items[0].product_id"]);
        let nested_missing = parse_json::<Order>(br#"{"email": "a", "items": [{"quantity": 1}]}"#).unwrap_err();
        assert_eq!(fields(nested_missing), ["items[0].product_id"]);
        let null = parse_json::<Order>(br#"{"email": "a", "items": [], "note": null}"#).unwrap_err();
        assert_eq!(fields(null), ["note"]);
        let not_an_object = parse_json::<Order>(b"[1, 2]").unwrap_err();
        assert_eq!(fields(not_an_object), ["body"]);
    }

    #[test]
    fn every_offending_field_is_named_not_only_the_first() {
        let mut all = fields(parse_json::<Order>(b"{}").unwrap_err());
        all.sort();
        assert_eq!(all, ["email", "items"]);
        let body = br#"{"email": 1, "items": [{"product_id": 5}, {"product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "quantity": -1}], "role": "x", "note": null}"#;
        let mut all = fields(parse_json::<Order>(body).unwrap_err());
        all.sort();
        assert_eq!(all, ["email", "items[0].product_id", "items[0].quantity", "items[1].quantity", "note", "role"]);
    }

    thread_local! {
        static WALKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Counts how often the body is deserialized (each walk reaches it once).
    #[derive(Debug)]
    struct Counted<T>(#[allow(dead_code)] T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Counted<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            WALKS.set(WALKS.get() + 1);
            T::deserialize(deserializer).map(Counted)
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        lines: Counted<Vec<Line>>,
    }

    #[test]
    fn a_body_full_of_errors_costs_a_bounded_number_of_walks() {
        let line = r#"{"product_id": 1, "quantity": "many", "extra": true}"#;
        let body = format!(r#"{{"lines": [{}]}}"#, vec![line; 500].join(","));
        WALKS.set(0);
        let named = fields(parse_json::<Probe>(body.as_bytes()).unwrap_err());
        let walks = WALKS.get();
        // The typed read of the bytes, then at most the budget over the parsed body.
        assert!(walks <= 1 + SHAPE_SEARCH_BUDGET, "{walks} walks");
        let mut first_line: Vec<&str> = named.iter().take(3).map(String::as_str).collect();
        first_line.sort_unstable();
        assert_eq!(first_line, ["lines[0].extra", "lines[0].product_id", "lines[0].quantity"], "{named:?}");
    }

    #[test]
    fn a_valid_body_is_read_once() {
        WALKS.set(0);
        let body = br#"{"lines": [{"product_id": "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4a59", "quantity": 2}]}"#;
        parse_json::<Probe>(body).unwrap();
        assert_eq!(WALKS.get(), 1);
    }

    #[test]
    fn an_absent_optional_field_is_none() {
        let order = parse_json::<Order>(br#"{"email": "a", "items": []}"#).unwrap();
        assert!(order.note.is_none());
    }

    #[test]
    fn deeply_nested_json_is_refused_without_panicking() {
        let deep = "[".repeat(100_000);
        assert!(parse_json::<Order>(deep.as_bytes()).is_err());
    }

    #[test]
    fn json_media_types_are_recognised() {
        for ok in
            ["application/json", "application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"]
        {
            assert!(is_json(&ok.parse().unwrap()), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonp"] {
            assert!(!is_json(&bad.parse().unwrap()), "{bad}");
        }
    }
}
