//! The one bincode configuration of the artifact's payload, both ways.
//!
//! Little-endian, fixed-width integers: every claimed byte is a byte that must be present,
//! so with a decode limit no larger than the input, allocation is bounded by the input.

use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// Decodes all of `bytes` (at most [`MAX_PAYLOAD`]), with the smallest power-of-two limit
/// that holds them, so that no length prefix can claim more memory than the input has.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    fn with_limit<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, String> {
        let config = bincode::config::standard()
            .with_little_endian()
            .with_fixed_int_encoding()
            .with_limit::<LIMIT>();
        let (value, read) =
            bincode::serde::decode_from_slice::<T, _>(bytes, config).map_err(describe)?;
        if read != bytes.len() {
            return Err(format!(
                "{} bytes left over after the model",
                bytes.len() - read
            ));
        }
        Ok(value)
    }
    macro_rules! first_fitting {
        ($($limit:expr),*) => {
            $(if bytes.len() <= $limit { return with_limit::<T, { $limit }>(bytes); })*
        };
    }
    first_fitting!(
        1 << 12,
        1 << 14,
        1 << 16,
        1 << 18,
        1 << 20,
        1 << 22,
        1 << 24,
        MAX_PAYLOAD
    );
    Err(format!(
        "{} bytes is above the {MAX_PAYLOAD}-byte limit",
        bytes.len()
    ))
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
