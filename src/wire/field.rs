//! The fields of a decoded envelope: each key and value either still in the received frame (as
//! the range of its bytes, validated) or set since (owned).
//!
//! A routed frame's envelope is read for a few strings and gets three or four fields stamped;
//! the rest passes through. Owning every key and value on decode (a `String` each, through
//! `rmpv`'s borrowed values) was a third of what routing one frame cost, so fields stay bytes of
//! the frame until they are changed or asked for as a [`Value`].

use crate::hashing::HashMap;
use std::ops::Range;

use rmpv::Value;

use super::{
    read_head, read_validated, scan_value, take, write_value_into, Head, WireError, MAX_MAIN_DEPTH,
};

/// Above this many envelope keys, duplicate detection uses a hash map instead of a linear search.
const LINEAR_DEDUP_MAX: usize = 16;
/// Fields the Router may add to a routed envelope (`from`, `ws`, `user`): room for them up front
/// spares a reallocation of the field list on every frame.
const STAMPS: usize = 3;

/// One envelope field.
#[derive(Clone, Debug)]
pub(super) struct Field {
    key: Key,
    pub(super) value: FieldValue,
}

/// A field's key: its UTF-8 text in the frame, a name the Router stamps, or owned.
#[derive(Clone, Debug)]
enum Key {
    InFrame(Range<usize>),
    Static(&'static str),
    Owned(String),
}

/// A field's value.
#[derive(Clone, Debug)]
pub(super) enum FieldValue {
    /// A UTF-8 string in the frame: its whole encoding, and its text.
    Text {
        encoded: Range<usize>,
        text: Range<usize>,
    },
    /// Any other value in the frame: its whole encoding (validated).
    InFrame(Range<usize>),
    /// Set since.
    Owned(Value),
}

impl Field {
    pub(super) fn owned(key: String, value: Value) -> Self {
        Self {
            key: Key::Owned(key),
            value: FieldValue::Owned(value),
        }
    }

    /// A field set under a fixed name (no allocation for the key).
    pub(super) fn stamped(key: &'static str, value: Value) -> Self {
        Self {
            key: Key::Static(key),
            value: FieldValue::Owned(value),
        }
    }

    /// The key's text (`frame`: the envelope's frame).
    pub(super) fn key<'a>(&'a self, frame: &'a [u8]) -> &'a [u8] {
        match &self.key {
            Key::InFrame(range) => &frame[range.clone()],
            Key::Static(key) => key.as_bytes(),
            Key::Owned(key) => key.as_bytes(),
        }
    }

    /// The key as a `String` (checked UTF-8 when indexed).
    pub(super) fn key_string(&self, frame: &[u8]) -> String {
        String::from_utf8_lossy(self.key(frame)).into_owned()
    }

    /// The value, owned.
    pub(super) fn value(&self, frame: &[u8]) -> Value {
        match &self.value {
            FieldValue::Text { text, .. } => {
                Value::from(std::str::from_utf8(&frame[text.clone()]).unwrap_or_default())
            }
            // Validated when indexed: cannot fail.
            FieldValue::InFrame(range) => {
                read_validated(&frame[range.clone()]).unwrap_or(Value::Nil)
            }
            FieldValue::Owned(value) => value.clone(),
        }
    }

    /// At least as many bytes as writing this field (key and value) takes.
    pub(super) fn encoded_len_bound(&self, frame: &[u8]) -> usize {
        let value = match &self.value {
            FieldValue::Text { encoded, .. } | FieldValue::InFrame(encoded) => encoded.len(),
            FieldValue::Owned(value) => value_len_bound(value),
        };
        MAX_HEADER + self.key(frame).len() + value
    }

    /// Append the value's encoding: the bytes it came with, if it was not set since.
    pub(super) fn write_value(&self, frame: &[u8], out: &mut Vec<u8>) {
        match &self.value {
            FieldValue::Text { encoded, .. } | FieldValue::InFrame(encoded) => {
                out.extend_from_slice(&frame[encoded.clone()]);
            }
            FieldValue::Owned(value) => write_value_into(out, value),
        }
    }

    /// The value if it is a UTF-8 string, without copying it.
    pub(super) fn str<'a>(&'a self, frame: &'a [u8]) -> Option<&'a str> {
        match &self.value {
            FieldValue::Text { text, .. } => std::str::from_utf8(&frame[text.clone()]).ok(),
            FieldValue::InFrame(_) => None,
            FieldValue::Owned(value) => value.as_str(),
        }
    }
}

/// The longest msgpack header (a 32-bit length), and the longest scalar (a marker and 8 bytes).
pub(super) const MAX_HEADER: usize = 5;
const MAX_SCALAR: usize = 9;

/// At least as many bytes as `write_value_into` writes for `value`.
fn value_len_bound(value: &Value) -> usize {
    match value {
        Value::String(text) => MAX_HEADER + text.as_bytes().len(),
        Value::Binary(bytes) | Value::Ext(_, bytes) => MAX_HEADER + 1 + bytes.len(),
        Value::Array(items) => MAX_HEADER + items.iter().map(value_len_bound).sum::<usize>(),
        Value::Map(pairs) => {
            MAX_HEADER
                + pairs
                    .iter()
                    .map(|(k, v)| value_len_bound(k) + value_len_bound(v))
                    .sum::<usize>()
        }
        _ => MAX_SCALAR,
    }
}

/// The fields of the envelope map at the start of `frame`, in order, and where the map ends; a
/// repeated key keeps its first position and takes the last value.
///
/// Validates as it goes, as [`scan_value`] does (every length against the bytes present, the
/// nesting within [`MAX_MAIN_DEPTH`]), so nothing is read twice: the envelope map is level 1, a
/// container under one of its keys level 2.
pub(super) fn index_envelope(frame: &[u8]) -> Result<(Vec<Field>, usize), WireError> {
    let mut pos = 0;
    let Head::Map(len) = read_head(frame, &mut pos)? else {
        return Err(WireError::NotAMap);
    };
    // Every pair takes at least two bytes.
    let remaining = (frame.len() - pos) as u64;
    if 2 * u64::from(len) > remaining {
        return Err(WireError::Malformed(format!(
            "envelope declares {len} pairs but only {remaining} bytes remain"
        )));
    }
    let len = len as usize;
    let mut fields: Vec<Field> = Vec::with_capacity(len.min(LINEAR_DEDUP_MAX) + STAMPS);
    let mut index: Option<HashMap<&[u8], usize>> = (len > LINEAR_DEDUP_MAX)
        .then(|| HashMap::with_capacity_and_hasher(len, Default::default()));
    for _ in 0..len {
        let key_start = pos;
        let key = match read_head(frame, &mut pos)? {
            Head::Str(key_len) => take(frame, &mut pos, key_len)?,
            _ => {
                // Not a key; still a value to validate, so a malformed frame says so first.
                scan_value(frame, key_start, MAX_MAIN_DEPTH - 1)?;
                return Err(WireError::NonStringKey);
            }
        };
        let key_range = pos - key.len()..pos;
        let value_start = pos;
        let value = match read_head(frame, &mut pos)? {
            Head::Str(len) => {
                let text = take(frame, &mut pos, len)?;
                let text_range = pos - len..pos;
                match std::str::from_utf8(text) {
                    Ok(_) => FieldValue::Text {
                        encoded: value_start..pos,
                        text: text_range,
                    },
                    Err(_) => FieldValue::InFrame(value_start..pos),
                }
            }
            Head::Skip(len) => {
                take(frame, &mut pos, len)?;
                FieldValue::InFrame(value_start..pos)
            }
            Head::Array(_) | Head::Map(_) => {
                pos = scan_value(frame, value_start, MAX_MAIN_DEPTH - 1)?;
                FieldValue::InFrame(value_start..pos)
            }
        };
        if std::str::from_utf8(key).is_err() {
            return Err(WireError::NonStringKey);
        }
        let existing = match &mut index {
            Some(index) => match index.get(key) {
                Some(&i) => Some(i),
                None => {
                    index.insert(key, fields.len());
                    None
                }
            },
            None => fields.iter().position(|f| f.key(frame) == key),
        };
        match existing {
            Some(i) => fields[i].value = value,
            None => fields.push(Field {
                key: Key::InFrame(key_range),
                value,
            }),
        }
    }
    Ok((fields, pos))
}
