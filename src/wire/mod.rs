//! The Hypha RPC frame: decoding and re-encoding the routing envelope.
//!
//! Every RPC frame is a binary WebSocket message made of one or two concatenated msgpack objects
//! with no length prefix: `frame = msgpack(main) ‖ msgpack(extra)?`.
//!
//! * `main` is the routing envelope, a map with string keys (`type`, `from`, `to`, `method`,
//!   `session`, `parent`, `ws`, `user`, `data`, …). This module decodes it into an [`Envelope`] so
//!   the router can read and rewrite those keys; a field stays bytes of the frame until it is set
//!   or asked for as a value (`field.rs`).
//! * `extra` is the payload (`args`, `with_kwargs`, `promise`, `t`, or an end-to-end encrypted
//!   `{_enc, data}`). It belongs to the two peers: this module keeps its bytes untouched and
//!   [`Envelope::encode`] appends them byte-for-byte after the re-encoded `main`. The payload is
//!   only decoded on request ([`Envelope::decode_payload`], for frames addressed to the server
//!   itself) or scanned without allocation ([`Envelope::payload_shadows_routing`]).
//!
//! Every byte handled here comes from a peer, so decoding is hardened: a non-recursive pre-scan
//! (`scan_value`) validates each value before anything is allocated. It checks every declared
//! length and element count against the bytes actually present (a header announcing a 4-billion
//! element array followed by three bytes fails at once, without reserving memory), rejects the
//! reserved marker `0xc1`, and enforces the nesting limits [`MAX_MAIN_DEPTH`] and
//! [`MAX_PAYLOAD_DEPTH`] without recursing (so 100 000 nested arrays cannot overflow the stack).
//! The envelope map is validated the same way field by field as it is indexed. Only then does
//! `rmpv` build values from the validated bytes, so memory use is bounded by the bytes actually
//! present (at worst one `rmpv::Value` per input byte); capping the frame size is the driver's
//! job.
//!
//! This module performs no I/O, reads no clock and knows nothing about routing policy: it only
//! turns bytes into envelopes and back.

use std::fmt;

use rmpv::Value;

mod field;
use field::Field;

// Native only: proptest needs an OS random source, which wasm32-unknown-unknown lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

/// Maximum nesting of the routing envelope (`main`): the envelope map itself is level 1, a map
/// under one of its keys (such as `user`) is level 2, and so on.
pub const MAX_MAIN_DEPTH: usize = 32;

/// Maximum nesting of a payload value decoded by [`decode_value`] or
/// [`Envelope::decode_payload`]; the outermost container is level 1.
pub const MAX_PAYLOAD_DEPTH: usize = 128;

/// Depth handed to `rmpv` after the pre-scan has enforced the real limit. `rmpv` spends about two
/// units per nesting level, so this is comfortably above `2 * MAX_PAYLOAD_DEPTH + 2`.
const RMPV_DEPTH: usize = 4 * MAX_PAYLOAD_DEPTH + 8;

/// Payload keys that would shadow routing fields the server stamps into the envelope.
const ROUTING_KEYS: [&[u8]; 5] = [b"from", b"to", b"ws", b"user", b"ctx"];

/// Errors decoding a frame; every variant names the problem in a lowercase message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The frame has no bytes at all.
    #[error("empty frame")]
    Empty,
    /// The bytes are not valid msgpack (truncated, reserved marker, impossible length, …).
    #[error("malformed msgpack: {0}")]
    Malformed(String),
    /// The routing envelope is not a msgpack map.
    #[error("envelope is not a map")]
    NotAMap,
    /// A key of the routing envelope is not a UTF-8 string.
    #[error("envelope key is not a utf-8 string")]
    NonStringKey,
    /// The value nests deeper than the allowed limit.
    #[error("msgpack value nested too deeply")]
    TooDeep,
    /// Bytes remain after the value that should have ended the input.
    #[error("trailing bytes after msgpack value")]
    TrailingBytes,
}

/// A decoded routing envelope plus the untouched payload bytes of the frame.
///
/// The envelope keeps ownership of the frame it was decoded from and remembers where the payload
/// starts, so forwarding a frame never copies the payload until [`Envelope::encode`] writes it
/// once into the outgoing buffer.
///
/// Equality compares the envelope fields (in order) and the payload bytes; where the payload
/// bytes happen to live in the owned buffer does not matter.
#[derive(Clone)]
pub struct Envelope {
    /// The envelope fields in wire order, without duplicate keys.
    fields: Vec<Field>,
    /// The owned frame (or, for a built envelope, just the encoded payload).
    frame: Vec<u8>,
    /// Offset in `frame` where the payload bytes start.
    payload_start: usize,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.main() == other.main() && self.payload_bytes() == other.payload_bytes()
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("main", &self.main())
            .field("payload_len", &self.payload_bytes().len())
            .finish()
    }
}

impl Envelope {
    /// Decode the first msgpack object of `frame` as the envelope (must be a map with string
    /// keys). Takes ownership to avoid copying the payload.
    ///
    /// The payload (everything after the first object) is neither decoded nor validated here; use
    /// [`Envelope::decode_payload`] or [`Envelope::payload_shadows_routing`] for that.
    ///
    /// If the envelope repeats a key, the last value wins; it keeps the position of the first
    /// occurrence.
    ///
    /// # Errors
    ///
    /// [`WireError::Empty`] for an empty frame, [`WireError::NotAMap`] if the first object is not a
    /// map, [`WireError::NonStringKey`] for a key that is not a UTF-8 string,
    /// [`WireError::TooDeep`] beyond [`MAX_MAIN_DEPTH`] and [`WireError::Malformed`] for anything
    /// that is not valid msgpack.
    pub fn decode(frame: Vec<u8>) -> Result<Self, WireError> {
        let Some(&first) = frame.first() else {
            return Err(WireError::Empty);
        };
        if !is_map_marker(first) {
            return Err(WireError::NotAMap);
        }
        let (fields, end) = field::index_envelope(&frame)?;
        Ok(Self {
            fields,
            frame,
            payload_start: end,
        })
    }

    /// Build an outgoing envelope from fields and an optional payload value (encoded as the
    /// second object).
    ///
    /// The fields are kept as given; callers are expected not to repeat a key.
    #[must_use]
    pub fn new(main: Vec<(String, Value)>, payload: Option<&Value>) -> Self {
        Self {
            fields: main
                .into_iter()
                .map(|(key, value)| Field::owned(key, value))
                .collect(),
            frame: payload.map(encode_value).unwrap_or_default(),
            payload_start: 0,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.key(&self.frame) == key.as_bytes())
    }

    /// The value of envelope field `key`, if present (decoded from the frame, for a field not
    /// set since: [`Envelope::str`] reads a string without copying it).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Value> {
        let field = &self.fields[self.position(key)?];
        Some(field.value(&self.frame))
    }

    /// The value of envelope field `key` if it is present and a UTF-8 string.
    #[must_use]
    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields[self.position(key)?].str(&self.frame)
    }

    /// Set envelope field `key`: replace its value in place, or append it if absent.
    pub fn set(&mut self, key: &'static str, value: Value) {
        match self.position(key) {
            Some(i) => self.fields[i].value = field::FieldValue::Owned(value),
            None => self.fields.push(Field::stamped(key, value)),
        }
    }

    /// Remove envelope field `key`, returning its value if it was present.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.position(key)?;
        Some(self.fields.remove(index).value(&self.frame))
    }

    /// All envelope fields in order, decoded.
    #[must_use]
    pub fn main(&self) -> Vec<(String, Value)> {
        self.fields
            .iter()
            .map(|f| (f.key_string(&self.frame), f.value(&self.frame)))
            .collect()
    }

    /// The raw payload bytes that follow the envelope, possibly empty. They are exactly the bytes
    /// received and are written back unchanged by [`Envelope::encode`].
    #[must_use]
    pub fn payload_bytes(&self) -> &[u8] {
        self.frame.get(self.payload_start..).unwrap_or_default()
    }

    /// Decode the payload (second object) if present, with the [`MAX_PAYLOAD_DEPTH`] limit.
    ///
    /// # Errors
    ///
    /// [`WireError::Malformed`] or [`WireError::TooDeep`] for an invalid payload and
    /// [`WireError::TrailingBytes`] if bytes remain after it.
    pub fn decode_payload(&self) -> Result<Option<Value>, WireError> {
        let bytes = self.payload_bytes();
        if bytes.is_empty() {
            return Ok(None);
        }
        decode_value(bytes).map(Some)
    }

    /// True if the payload is a map whose top-level keys include any of `from`, `to`, `ws`,
    /// `user`, `ctx`.
    ///
    /// Clients merge the payload over the envelope after the server stamped it, so such keys
    /// would let a sender shadow trusted routing fields; the router drops those frames. An
    /// encrypted payload `{_enc: …, data: …}` is an ordinary map and passes; a non-map payload or
    /// an absent payload is `false`.
    ///
    /// The payload is validated but never decoded into values: keys are compared in place and
    /// values are skipped by their declared lengths, so a 1 MiB binary costs O(1).
    ///
    /// # Errors
    ///
    /// The same as [`Envelope::decode_payload`] for a payload that is not one valid msgpack value.
    pub fn payload_shadows_routing(&self) -> Result<bool, WireError> {
        let buf = self.payload_bytes();
        if buf.is_empty() {
            return Ok(false);
        }
        let mut pos = 0;
        let shadows = match read_head(buf, &mut pos)? {
            Head::Map(n) => {
                let mut shadows = false;
                for _ in 0..n {
                    let key_start = pos;
                    if let Head::Str(len) = read_head(buf, &mut pos)? {
                        let key = take(buf, &mut pos, len)?;
                        shadows |= ROUTING_KEYS.contains(&key);
                    } else {
                        pos = scan_value(buf, key_start, MAX_PAYLOAD_DEPTH - 1)?;
                    }
                    pos = scan_value(buf, pos, MAX_PAYLOAD_DEPTH - 1)?;
                }
                shadows
            }
            _ => {
                pos = scan_value(buf, 0, MAX_PAYLOAD_DEPTH)?;
                false
            }
        };
        if pos != buf.len() {
            return Err(WireError::TrailingBytes);
        }
        Ok(shadows)
    }

    /// Encode: msgpack(main) followed by the untouched payload bytes. A field not set since
    /// decoding keeps the bytes it came with.
    ///
    /// The buffer is sized once, for the largest encoding the fields can have: routing stamps
    /// fields on every frame, and a buffer sized for the frame as received had to grow (a
    /// reallocation and a copy) for each.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let payload = self.payload_bytes();
        let bound = field::MAX_HEADER
            + self
                .fields
                .iter()
                .map(|f| f.encoded_len_bound(&self.frame))
                .sum::<usize>()
            + payload.len();
        let mut out = Vec::with_capacity(bound);
        write_len(
            &mut out,
            self.fields.len(),
            Some((0x80, 16)),
            [0, 0xde, 0xdf],
        );
        for field in &self.fields {
            write_str_bytes(&mut out, field.key(&self.frame));
            field.write_value(&self.frame, &mut out);
        }
        out.extend_from_slice(payload);
        debug_assert!(out.len() <= bound, "encode's bound {bound} < {}", out.len());
        out
    }
}

/// How a promise is settled on the wire: the method suffix and its argument, `resolve` with the
/// value, or `reject` with hypha-rpc's error object (`{_rtype: "error", _rvalue, _rtrace}`).
pub fn settlement(outcome: Result<Value, String>) -> (&'static str, Value) {
    match outcome {
        Ok(value) => ("resolve", value),
        Err(message) => (
            "reject",
            Value::Map(vec![
                ("_rtype".into(), "error".into()),
                ("_rvalue".into(), message.into()),
                ("_rtrace".into(), "".into()),
            ]),
        ),
    }
}

/// Decode one msgpack value from bytes with the [`MAX_PAYLOAD_DEPTH`] limit (for manager
/// arguments).
///
/// # Errors
///
/// [`WireError::Empty`] for no bytes, [`WireError::Malformed`] or [`WireError::TooDeep`] for an
/// invalid value and [`WireError::TrailingBytes`] if bytes remain after it.
pub fn decode_value(bytes: &[u8]) -> Result<Value, WireError> {
    if bytes.is_empty() {
        return Err(WireError::Empty);
    }
    let end = scan_value(bytes, 0, MAX_PAYLOAD_DEPTH)?;
    if end != bytes.len() {
        return Err(WireError::TrailingBytes);
    }
    read_validated(bytes)
}

/// Encode a value to msgpack bytes.
#[must_use]
pub fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value_into(&mut out, value);
    out
}

// ---------------------------------------------------------------------------------------------
// Validation pre-scan
// ---------------------------------------------------------------------------------------------

/// The header of one msgpack value, with its length fields already read.
enum Head {
    /// A UTF-8 (or not) string of this many bytes follows.
    Str(usize),
    /// Opaque bytes of this length follow (binary, extension type byte plus data, or the body of
    /// a fixed-size scalar).
    Skip(usize),
    /// An array of this many elements follows.
    Array(u32),
    /// A map of this many key/value pairs follows.
    Map(u32),
}

fn is_map_marker(byte: u8) -> bool {
    matches!(byte, 0x80..=0x8f | 0xde | 0xdf)
}

fn truncated(at: usize) -> WireError {
    WireError::Malformed(format!("truncated value at byte {at}"))
}

/// Advance over `len` bytes at `*pos`, returning them, or fail if fewer remain.
fn take<'a>(buf: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], WireError> {
    let start = *pos;
    let end = start.checked_add(len).ok_or_else(|| truncated(start))?;
    let bytes = buf.get(start..end).ok_or_else(|| truncated(start))?;
    *pos = end;
    Ok(bytes)
}

fn take_u8(buf: &[u8], pos: &mut usize) -> Result<u8, WireError> {
    Ok(take(buf, pos, 1)?[0])
}

fn take_u16(buf: &[u8], pos: &mut usize) -> Result<u16, WireError> {
    let b = take(buf, pos, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn take_u32(buf: &[u8], pos: &mut usize) -> Result<u32, WireError> {
    let b = take(buf, pos, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A 32-bit length as `usize`; on targets where it does not fit it cannot fit the buffer either.
fn len32(buf: &[u8], pos: &mut usize) -> Result<usize, WireError> {
    let at = *pos;
    usize::try_from(take_u32(buf, pos)?).map_err(|_| truncated(at))
}

/// Read the marker and length fields of the value at `*pos`.
fn read_head(buf: &[u8], pos: &mut usize) -> Result<Head, WireError> {
    let at = *pos;
    let marker = take_u8(buf, pos)?;
    let head = match marker {
        0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => Head::Skip(0),
        0x80..=0x8f => Head::Map(u32::from(marker & 0x0f)),
        0x90..=0x9f => Head::Array(u32::from(marker & 0x0f)),
        0xa0..=0xbf => Head::Str(usize::from(marker & 0x1f)),
        0xc1 => {
            return Err(WireError::Malformed(format!(
                "reserved marker 0xc1 at byte {at}"
            )))
        }
        0xc4 => Head::Skip(usize::from(take_u8(buf, pos)?)),
        0xc5 => Head::Skip(usize::from(take_u16(buf, pos)?)),
        0xc6 => Head::Skip(len32(buf, pos)?),
        // ext 8/16/32: length, then one type byte, then the data.
        0xc7 => Head::Skip(usize::from(take_u8(buf, pos)?) + 1),
        0xc8 => Head::Skip(usize::from(take_u16(buf, pos)?) + 1),
        0xc9 => Head::Skip(len32(buf, pos)?.saturating_add(1)),
        0xca => Head::Skip(4),
        0xcb => Head::Skip(8),
        0xcc | 0xd0 => Head::Skip(1),
        0xcd | 0xd1 => Head::Skip(2),
        0xce | 0xd2 => Head::Skip(4),
        0xcf | 0xd3 => Head::Skip(8),
        // fixext 1/2/4/8/16: one type byte plus the data.
        0xd4 => Head::Skip(2),
        0xd5 => Head::Skip(3),
        0xd6 => Head::Skip(5),
        0xd7 => Head::Skip(9),
        0xd8 => Head::Skip(17),
        0xd9 => Head::Str(usize::from(take_u8(buf, pos)?)),
        0xda => Head::Str(usize::from(take_u16(buf, pos)?)),
        0xdb => Head::Str(len32(buf, pos)?),
        0xdc => Head::Array(u32::from(take_u16(buf, pos)?)),
        0xdd => Head::Array(take_u32(buf, pos)?),
        0xde => Head::Map(u32::from(take_u16(buf, pos)?)),
        0xdf => Head::Map(take_u32(buf, pos)?),
    };
    Ok(head)
}

/// Validate the single msgpack value starting at `start` and return the offset just past it.
///
/// Iterative (no recursion) and allocation-free: a fixed stack of outstanding element counts
/// tracks open containers. Every container counts as one nesting level (the outermost value is
/// level 1); opening a container beyond `max_depth` fails with [`WireError::TooDeep`]. Every
/// declared element count and byte length is checked against the remaining input before moving
/// on, so lying headers fail immediately. Each iteration consumes at least one byte, so the scan
/// ends after at most `buf.len()` steps.
fn scan_value(buf: &[u8], start: usize, max_depth: usize) -> Result<usize, WireError> {
    let mut open = [0u64; MAX_PAYLOAD_DEPTH];
    let max_depth = max_depth.min(open.len());
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        let at = pos;
        let items = match read_head(buf, &mut pos)? {
            Head::Str(len) | Head::Skip(len) => {
                take(buf, &mut pos, len)?;
                None
            }
            Head::Array(n) => Some(u64::from(n)),
            Head::Map(n) => Some(2 * u64::from(n)),
        };
        // Containers, even empty ones, open a nesting level.
        if let Some(items) = items {
            if depth >= max_depth {
                return Err(WireError::TooDeep);
            }
            // Every element takes at least one byte.
            let remaining = (buf.len() - pos) as u64;
            if items > remaining {
                return Err(WireError::Malformed(format!(
                    "container at byte {at} declares {items} items but only {remaining} bytes remain"
                )));
            }
            if items > 0 {
                open[depth] = items;
                depth += 1;
                continue;
            }
        }
        // One value finished: count it against the enclosing containers, closing those that
        // are now complete.
        loop {
            if depth == 0 {
                return Ok(pos);
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

/// Build a value from bytes that [`scan_value`] has validated as exactly one value.
///
/// Decoded as a borrowed `ValueRef` and then owned: rmpv's slice decoder is smaller than its
/// `io::Read` one, which drags in `std::io`'s buffered reading. rmpv cannot fail on such bytes; should it anyway, its error is named by kind only: printing
/// it would print the `std::io::Error` inside, and with it every I/O error text std has (1 KB
/// of wasm for a message nobody can trigger).
fn read_validated(bytes: &[u8]) -> Result<Value, WireError> {
    let mut rd = bytes;
    let value = rmpv::decode::read_value_ref_with_max_depth(&mut rd, RMPV_DEPTH).map_err(|e| {
        WireError::Malformed(
            match e {
                rmpv::decode::Error::DepthLimitExceeded => "depth limit exceeded",
                _ => "unreadable value",
            }
            .to_owned(),
        )
    })?;
    if !rd.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    Ok(value.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Append the msgpack encoding of `value`, using the smallest header for every length and
/// integer.
///
/// Hand-written rather than `rmpv::encode::write_value` for two reasons: writing into a `Vec`
/// cannot fail, so there is no `Result` to discard, and a string that is not valid UTF-8 (which a
/// peer may send and `rmpv` keeps as raw bytes) is written back as a str, not turned into a
/// binary, so re-encoding never changes a value's type.
fn write_value_into(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => write_uint(out, u),
            (None, Some(i)) => write_negative(out, i),
            (None, None) => out.push(0xc0),
        },
        Value::F32(f) => {
            out.push(0xca);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Value::F64(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Value::String(text) => write_str_bytes(out, text.as_bytes()),
        Value::Binary(bytes) => {
            write_len(out, bytes.len(), None, [0xc4, 0xc5, 0xc6]);
            out.extend_from_slice(bytes);
        }
        Value::Array(items) => {
            write_len(out, items.len(), Some((0x90, 16)), [0, 0xdc, 0xdd]);
            for item in items {
                write_value_into(out, item);
            }
        }
        Value::Map(pairs) => {
            write_len(out, pairs.len(), Some((0x80, 16)), [0, 0xde, 0xdf]);
            for (key, value) in pairs {
                write_value_into(out, key);
                write_value_into(out, value);
            }
        }
        Value::Ext(ty, data) => {
            match data.len() {
                1 => out.push(0xd4),
                2 => out.push(0xd5),
                4 => out.push(0xd6),
                8 => out.push(0xd7),
                16 => out.push(0xd8),
                len => write_len(out, len, None, [0xc7, 0xc8, 0xc9]),
            }
            out.extend_from_slice(&ty.to_be_bytes());
            out.extend_from_slice(data);
        }
    }
}

fn write_uint(out: &mut Vec<u8>, u: u64) {
    if let Ok(b) = u8::try_from(u) {
        if b < 0x80 {
            out.push(b);
        } else {
            out.extend_from_slice(&[0xcc, b]);
        }
    } else if let Ok(n) = u16::try_from(u) {
        out.push(0xcd);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(u) {
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_negative(out: &mut Vec<u8>, i: i64) {
    if let Ok(n) = i8::try_from(i) {
        if n >= -32 {
            out.extend_from_slice(&n.to_be_bytes());
        } else {
            out.push(0xd0);
            out.extend_from_slice(&n.to_be_bytes());
        }
    } else if let Ok(n) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// Write a length header: the fix form `(base, limit)` if given and `len < limit`, otherwise
/// the 8-, 16- or 32-bit form from `markers` (a zero marker means "no 8-bit form").
/// Lengths beyond `u32::MAX` cannot exist in memory on the targets we build for; saturate.
fn write_len(out: &mut Vec<u8>, len: usize, fix: Option<(u8, usize)>, markers: [u8; 3]) {
    if let Some((base, limit)) = fix {
        if len < limit {
            // `len < limit <= 32` fits the low bits of the marker.
            out.push(base | (len as u8));
            return;
        }
    }
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(n), _) if markers[0] != 0 => out.extend_from_slice(&[markers[0], n]),
        (_, Ok(n)) => {
            out.push(markers[1]);
            out.extend_from_slice(&n.to_be_bytes());
        }
        _ => {
            out.push(markers[2]);
            out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
}

fn write_str_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_len(out, bytes.len(), Some((0xa0, 32)), [0xd9, 0xda, 0xdb]);
    out.extend_from_slice(bytes);
}
