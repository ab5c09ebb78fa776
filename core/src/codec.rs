//! The one bincode configuration of the artifact's payload, both ways.
//!
//! Little-endian, fixed-width integers. Allocation is bounded by the input, whatever its
//! length prefixes claim: decoding borrows from the input slice, so text is read in place
//! (see [`owned`]) and fails when fewer bytes follow than claimed, and lists grow only as
//! their elements are actually read (serde caps what a claimed length preallocates). One
//! limit, and so one copy of the decoder in the browser's download.

use serde::{Deserialize, Serialize};

/// The largest payload [`from_bytes`] accepts (64 MiB; the demo model is about 20 KB).
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;

/// Encodes plain data (every field of the model's types serialises).
pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let config = bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding();
    bincode::serde::encode_to_vec(value, config)
        .expect("the model's types are plain data: every field serialises")
}

/// Decodes all of `bytes` (at most [`MAX_PAYLOAD`]; see the module docs for allocation).
pub(crate) fn from_bytes<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, String> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(format!(
            "{} bytes is above the {MAX_PAYLOAD}-byte limit",
            bytes.len()
        ));
    }
    let config = bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_PAYLOAD>();
    let (value, read) =
        bincode::serde::borrow_decode_from_slice::<T, _>(bytes, config).map_err(describe)?;
    if read != bytes.len() {
        return Err(format!(
            "{} bytes left over after the model",
            bytes.len() - read
        ));
    }
    Ok(value)
}

/// Deserialises text by borrowing it from the input, then owning it: an owned `String` would
/// be allocated at its claimed length before the bytes are known to exist.
pub(crate) fn owned<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    <&'de str>::deserialize(deserializer).map(str::to_owned)
}

/// bincode's `Display` is its `Debug`; say the common cases in words.
fn describe(error: bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError;
    match error {
        DecodeError::OtherString(message) => message,
        DecodeError::Other(message) => message.to_string(),
        DecodeError::LimitExceeded => {
            "a length prefix claims more bytes than the file holds".into()
        }
        DecodeError::UnexpectedEnd { additional } => {
            format!("the payload ends {additional} bytes early")
        }
        DecodeError::InvalidBooleanValue(value) => format!("{value} is not a boolean"),
        DecodeError::Utf8 { .. } => "a text field is not valid UTF-8".into(),
        other => other.to_string(),
    }
}
