//! The service answers in more than one envelope (docs/protocol.md#http-api): the useful
//! object may sit under `.mission`, `.data`, or at the top level, and ids may
//! be called `id` or `mission_id`. These helpers find it.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The reply's `.data` when it holds an object or a list (the protocol's
/// "`.data`" rows: plans are a list of steps, most others an object), else
/// the reply itself (a top-level reply, `null` for an empty body).
pub fn data(reply: Value) -> Value {
    match reply {
        Value::Object(mut map) if map.get("data").is_some_and(|d| d.is_object() || d.is_array()) => {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// The object under the first of `keys` that holds an object, else the top
/// level. For a single record decoded into a model; a reply that may be a
/// list under `.data` goes through [`data`].
pub fn one(reply: Value, keys: &[&str]) -> Value {
    if let Value::Object(map) = &reply {
        for k in keys {
            if let Some(v @ Value::Object(_)) = map.get(*k) {
                return v.clone();
            }
        }
    }
    reply
}

/// The list under the first of `keys` that holds an array, or the reply itself
/// when it is an array; otherwise an empty list.
pub fn list(reply: &Value, keys: &[&str]) -> Vec<Value> {
    match reply {
        Value::Array(a) => a.clone(),
        Value::Object(map) => keys
            .iter()
            .find_map(|k| match map.get(*k) {
                Some(Value::Array(a)) => Some(a.clone()),
                // `.data` sometimes wraps the list one level deeper.
                Some(Value::Object(inner)) => {
                    keys.iter().find_map(|k2| inner.get(*k2).and_then(Value::as_array).cloned())
                }
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The first non-empty id among `keys` (strings, or numbers rendered as text).
pub fn id(obj: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match obj.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Make sure `obj.id` is set, copying it from the first of `aliases` present.
pub fn normalize_id(obj: &mut Value, aliases: &[&str]) {
    if obj.get("id").is_some_and(|v| !v.is_null()) {
        return;
    }
    if let Some(found) = id(obj, aliases) {
        if let Value::Object(map) = obj {
            map.insert("id".to_string(), Value::String(found));
        }
    }
}

/// Deserialize a reply object into a typed model, with an error that names what was expected.
pub fn decode<T: DeserializeOwned>(v: Value, what: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| {
        let shown: String = v.to_string().chars().take(300).collect();
        Error::failed(format!("unexpected {what} in the service's reply ({e}): {shown}"))
    })
}

/// The object under the first of `keys` (else the top level), with `id`
/// filled from the first of `aliases`, decoded as `T`.
pub fn object<T: DeserializeOwned>(reply: Value, keys: &[&str], aliases: &[&str], what: &str) -> Result<T> {
    let mut obj = one(reply, keys);
    normalize_id(&mut obj, aliases);
    decode(obj, what)
}

/// The list under the first of `keys`, each item with `id` filled from the
/// first of `aliases`, decoded as `T`.
pub fn objects<T: DeserializeOwned>(reply: &Value, keys: &[&str], aliases: &[&str], what: &str) -> Result<Vec<T>> {
    list(reply, keys)
        .into_iter()
        .map(|mut item| {
            normalize_id(&mut item, aliases);
            decode(item, what)
        })
        .collect()
}

/// Python's truthiness of a JSON value: `null`, `false`, `0`, `""`, `[]`
/// and `{}` are false. telnyx_api.py left optional fields out of a body
/// (and sent no body at all) when they were falsy; the client does the same.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_prefers_named_keys_then_top_level() {
        assert_eq!(one(json!({"mission":{"id":"m1"}}), &["mission", "data"]), json!({"id":"m1"}));
        assert_eq!(one(json!({"data":{"id":"m2"}}), &["mission", "data"]), json!({"id":"m2"}));
        assert_eq!(one(json!({"id":"m3"}), &["mission", "data"]), json!({"id":"m3"}));
    }

    #[test]
    fn data_unwraps_objects_and_lists_under_data() {
        assert_eq!(data(json!({"data": [{"step_id": "a"}]})), json!([{"step_id": "a"}]));
        assert_eq!(data(json!({"data": []})), json!([]));
        assert_eq!(data(json!({"data": {"id": "r"}, "meta": 1})), json!({"id": "r"}));
        assert_eq!(data(json!({"steps": [1]})), json!({"steps": [1]}));
        assert_eq!(data(json!({"data": null, "ok": true})), json!({"data": null, "ok": true}));
        assert_eq!(data(json!([1])), json!([1]));
        assert_eq!(data(Value::Null), Value::Null);
    }

    #[test]
    fn list_finds_arrays_in_each_envelope() {
        assert_eq!(list(&json!({"missions":[1]}), &["missions", "data"]), vec![json!(1)]);
        assert_eq!(list(&json!({"data":[2]}), &["missions", "data"]), vec![json!(2)]);
        assert_eq!(list(&json!([3]), &["data"]), vec![json!(3)]);
        assert_eq!(list(&json!({"data":{"missions":[4]}}), &["missions", "data"]), vec![json!(4)]);
        assert!(list(&json!({"other":1}), &["data"]).is_empty());
    }

    #[test]
    fn truthiness_follows_python() {
        for v in [json!(null), json!(false), json!(0), json!(0.0), json!(""), json!([]), json!({})] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!(true), json!(1), json!("x"), json!([0]), json!({"a": null})] {
            assert!(truthy(&v), "{v}");
        }
    }

    #[test]
    fn ids_and_normalisation() {
        let mut v = json!({"mission_id":"m9"});
        normalize_id(&mut v, &["mission_id"]);
        assert_eq!(v["id"], "m9");
        assert_eq!(id(&json!({"run_id":7}), &["run_id", "id"]).as_deref(), Some("7"));
    }
}
