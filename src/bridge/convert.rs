//! Conversions between Rust values and JavaScript values at the boundary.

use js_sys::{Array, Object, Reflect, Uint8Array};
use rmpv::Value;
use wasm_bindgen::JsValue;

use super::error::{bridge_error, ErrorCode};
use crate::jwt::Claims;
use crate::{Event, Frame};

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

/// Read an optional string option; a present non-string is an error.
pub(crate) fn get_string(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    if !options.is_object() {
        return Ok(None);
    }
    let value = Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| bridge_error(ErrorCode::InvalidOption, &format!("{key} must be a string")))
}

/// Read an optional array of strings (absent → empty).
pub(crate) fn get_strings(options: &JsValue, key: &str) -> Result<Vec<String>, JsValue> {
    if !options.is_object() {
        return Ok(Vec::new());
    }
    let value = Reflect::get(options, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(&value) {
        return Err(bridge_error(
            ErrorCode::InvalidOption,
            &format!("{key} must be an array of strings"),
        ));
    }
    Array::from(&value)
        .iter()
        .map(|v| {
            v.as_string().ok_or_else(|| {
                bridge_error(
                    ErrorCode::InvalidOption,
                    &format!("{key} must be an array of strings"),
                )
            })
        })
        .collect()
}

/// A frame as the in-tab socket delivers it: text as a string, binary as a `Uint8Array`.
pub(crate) fn frame_to_js(frame: Frame) -> JsValue {
    match frame {
        Frame::Text(text) => text.into(),
        Frame::Binary(bytes) => Uint8Array::from(&bytes[..]).into(),
    }
}

/// A msgpack value as a plain JS value (maps become objects, bin becomes `Uint8Array`).
pub(crate) fn value_to_js(value: &Value) -> JsValue {
    match value {
        Value::Nil => JsValue::NULL,
        Value::Boolean(b) => (*b).into(),
        Value::Integer(i) => i.as_f64().unwrap_or(f64::NAN).into(),
        Value::F32(f) => f64::from(*f).into(),
        Value::F64(f) => (*f).into(),
        Value::String(s) => s.as_str().map_or(JsValue::NULL, JsValue::from),
        Value::Binary(b) => Uint8Array::from(b.as_slice()).into(),
        Value::Array(items) => items.iter().map(value_to_js).collect::<Array>().into(),
        Value::Map(entries) => {
            let object = Object::new();
            for (k, v) in entries {
                if let Some(key) = k.as_str() {
                    set(&object, key, &value_to_js(v));
                }
            }
            object.into()
        }
        Value::Ext(_, _) => JsValue::NULL,
    }
}

/// A Router event as `{type, ...}`.
pub(crate) fn event_to_js(event: &Event) -> JsValue {
    let object = Object::new();
    match event {
        Event::ClientConnected {
            client,
            user_id,
            conn,
        } => {
            set(&object, "type", &"client_connected".into());
            set(&object, "id", &client.to_string().into());
            set(&object, "workspace", &client.workspace.as_str().into());
            set(&object, "clientId", &client.client_id.as_str().into());
            set(&object, "userId", &user_id.as_str().into());
            set(&object, "conn", &(conn.0 as f64).into());
        }
        Event::ClientDisconnected { client } => {
            set(&object, "type", &"client_disconnected".into());
            set(&object, "id", &client.to_string().into());
            set(&object, "workspace", &client.workspace.as_str().into());
            set(&object, "clientId", &client.client_id.as_str().into());
        }
        Event::ServiceAdded { info } => {
            set(&object, "type", &"service_added".into());
            set(&object, "service", &value_to_js(info));
        }
        Event::ServiceRemoved { info } => {
            set(&object, "type", &"service_removed".into());
            set(&object, "service", &value_to_js(info));
        }
        Event::Close { conn, code, reason } => {
            set(&object, "type", &"close".into());
            set(&object, "conn", &(conn.0 as f64).into());
            set(&object, "code", &(*code).into());
            set(&object, "reason", &reason.as_str().into());
        }
    }
    object.into()
}

/// Verified claims as a plain object.
pub(crate) fn claims_to_js(claims: &Claims) -> JsValue {
    let json = serde_json::to_string(claims).unwrap_or_default();
    js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL)
}
