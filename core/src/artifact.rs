//! The model artifact, `model.bin`: a [`Model`] as bytes and back.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | magic `CINEREC\0` |
//! | 4 | format version: 3, or [`FORMAT_VERSION`] (4) for a model whose output layer is stored as binary16 ([`Storage`](crate::Storage)) |
//! | 8 | payload length |
//! | 32 | SHA-256 of the payload |
//! | n | payload: the [`ModelParts`] in bincode 2's layout (little-endian, fixed-width integers; see `codec`) |
//!
//! [`decode`] checks all of it (magic, version, length, trailing bytes, checksum, then
//! [`Model::new`]'s checks of the decoded parts) and returns an [`ArtifactError`]; it never
//! panics, and never allocates more than the input could hold. Nothing here reads a clock, so
//! the same model gives the same bytes, and a loaded model re-encodes to the bytes it came from.

use sha2::{Digest, Sha256};

use crate::codec::{self, MAX_PAYLOAD};
use crate::model::{Model, ModelError};
use crate::parts::Storage;

/// The first eight bytes of every `model.bin`.
const MAGIC: [u8; 8] = *b"CINEREC\0";
/// The newest format version, which this build writes and reads. Version 2 moved the format
/// version out of the metadata and added the training objective; version 3 added the
/// network's input (features, or the recent movies of the next-watch model) and the `next`
/// objective; version 4 stores the output layer's weights as binary16 ([`Storage::F16`]) and
/// is otherwise version 3. A model of `f32` weights is still written as version 3, byte for
/// byte as before, so older builds keep reading it.
pub const FORMAT_VERSION: u32 = 4;
/// The oldest format version this build reads.
const OLDEST_VERSION: u32 = 3;
/// Bytes before the payload.
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// Why bytes are not a usable model. Every message says what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArtifactError {
    /// Shorter than the header.
    #[error("{len} bytes is shorter than the {HEADER_LEN}-byte header: truncated, or not a cinerec model")]
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// The magic tag is wrong.
    #[error("not a cinerec model: the file does not start with the CINEREC tag{}", looks_like(.start))]
    BadMagic {
        /// The first bytes found, to say what the file looks like instead.
        start: Vec<u8>,
    },
    /// A version this build does not read.
    #[error("format version {found} is not supported (this build reads versions {OLDEST_VERSION} to {FORMAT_VERSION}); {}", advice(*.found))]
    UnsupportedVersion {
        /// Version in the header.
        found: u32,
    },
    /// The header declares more than the 64 MiB limit.
    #[error("the header declares a {declared}-byte payload, above the {MAX_PAYLOAD}-byte limit")]
    TooLarge {
        /// Declared payload length.
        declared: u64,
    },
    /// Fewer payload bytes than declared.
    #[error("truncated: the header declares a {declared}-byte payload but {actual} bytes follow")]
    Truncated {
        /// Declared payload length.
        declared: u64,
        /// Bytes present.
        actual: usize,
    },
    /// More bytes than declared.
    #[error("{extra} unexpected bytes after the {declared}-byte payload")]
    TrailingBytes {
        /// Declared payload length.
        declared: u64,
        /// Extra bytes.
        extra: usize,
    },
    /// The payload's SHA-256 does not match the header's.
    #[error("checksum mismatch: the payload is corrupt")]
    Checksum,
    /// The payload is not a bincode-encoded model.
    #[error("the payload does not decode: {0}")]
    Decode(String),
    /// The payload decodes but its parts do not fit together.
    #[error("the model is inconsistent: {0}")]
    Invalid(#[from] ModelError),
    /// The payload decodes to a model that encodes to other bytes (a writer that is not us).
    #[error("the payload is not in canonical form: it does not re-encode to the same bytes")]
    NotCanonical,
}

/// The whole `model.bin` for a model.
pub fn encode(model: &Model) -> Vec<u8> {
    let payload = codec::to_bytes(model.parts());
    let version = match model.parts().storage {
        Storage::F32 => 3,
        Storage::F16 => 4,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&u32::to_le_bytes(version));
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(model.digest());
    out.extend_from_slice(&payload);
    out
}

/// Reads a `model.bin`, checking everything (see the module docs).
pub fn decode(bytes: &[u8]) -> Result<Model, ArtifactError> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        // The magic first: "not a model at all" says more than "too short" for an HTML page.
        if bytes.len() >= HEADER_LEN || !MAGIC.starts_with(bytes) {
            return Err(ArtifactError::BadMagic {
                start: bytes[..bytes.len().min(16)].to_vec(),
            });
        }
    }
    if bytes.len() < HEADER_LEN {
        return Err(ArtifactError::TooShort { len: bytes.len() });
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let storage = match version {
        3 => Storage::F32,
        4 => Storage::F16,
        found => return Err(ArtifactError::UnsupportedVersion { found }),
    };
    let mut length_bytes = [0u8; 8];
    length_bytes.copy_from_slice(&header[12..20]);
    let declared = u64::from_le_bytes(length_bytes);
    if declared > MAX_PAYLOAD as u64 {
        return Err(ArtifactError::TooLarge { declared });
    }
    let length = declared as usize;
    if body.len() < length {
        return Err(ArtifactError::Truncated {
            declared,
            actual: body.len(),
        });
    }
    if body.len() > length {
        return Err(ArtifactError::TrailingBytes {
            declared,
            extra: body.len() - length,
        });
    }
    let digest = Sha256::digest(body);
    if digest.as_slice() != &header[20..52] {
        return Err(ArtifactError::Checksum);
    }
    let parts = codec::from_bytes(body, storage).map_err(ArtifactError::Decode)?;
    let model = Model::new(parts)?;
    if model.digest().as_slice() != digest.as_slice() {
        return Err(ArtifactError::NotCanonical);
    }
    Ok(model)
}

/// What a file that is not a model looks like, from its first bytes.
fn looks_like(start: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(start)
        .trim_start()
        .to_ascii_lowercase();
    if text.starts_with('<') {
        " (it looks like an HTML or XML page: was an error page saved or served instead?)"
    } else if text.starts_with('{') || text.starts_with('[') {
        " (it looks like JSON)"
    } else {
        ""
    }
}

fn advice(found: u32) -> &'static str {
    if found < OLDEST_VERSION {
        "it was written by an older cinerec: train it again with this version"
    } else {
        "it was written by a newer cinerec: update this one"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::demo_model;

    fn sealed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(payload));
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let model = demo_model();
        let bytes = encode(&model);
        assert_eq!(bytes, encode(&model));
        assert_eq!(bytes, include_bytes!("../tests/data/model.bin"));
        assert_eq!(decode(&bytes).unwrap(), model);
        let digest = Sha256::digest(&bytes[HEADER_LEN..]);
        let expected_id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(model.id(), expected_id);
    }

    #[test]
    fn header_problems_are_named() {
        let bytes = encode(&demo_model());
        assert_eq!(
            decode(&bytes[..10]),
            Err(ArtifactError::TooShort { len: 10 })
        );
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] = b'X';
        assert!(matches!(
            decode(&wrong_magic),
            Err(ArtifactError::BadMagic { .. })
        ));
        let mut older = bytes.clone();
        older[8] = 2;
        assert_eq!(
            decode(&older).unwrap_err().to_string(),
            "format version 2 is not supported (this build reads versions 3 to 4); \
             it was written by an older cinerec: train it again with this version"
        );
        let mut newer = bytes.clone();
        newer[8] = 5;
        assert!(decode(&newer)
            .unwrap_err()
            .to_string()
            .ends_with("update this one"));
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(ArtifactError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer),
            Err(ArtifactError::TrailingBytes { extra: 1, .. })
        ));
        let mut huge = bytes.clone();
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(ArtifactError::TooLarge { .. })));
        let mut flipped = bytes;
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&flipped), Err(ArtifactError::Checksum));
    }

    #[test]
    fn files_that_are_not_models_say_what_they_look_like() {
        let html = b"<!DOCTYPE html><html><body>404 Not Found</body></html>";
        let message = decode(html).unwrap_err().to_string();
        assert!(message.contains("looks like an HTML"), "{message}");
        let message = decode(b"{\"error\":\"x\"}").unwrap_err().to_string();
        assert!(message.contains("looks like JSON"), "{message}");
        assert_eq!(decode(b""), Err(ArtifactError::TooShort { len: 0 }));
        assert_eq!(decode(b"CINE"), Err(ArtifactError::TooShort { len: 4 }));
    }

    #[test]
    fn a_sealed_payload_with_a_huge_length_prefix_is_refused_without_allocating_it() {
        let mut payload = encode(&demo_model())[HEADER_LEN..].to_vec();
        // The first field is metadata.code_version, a string: its u64 length prefix comes first.
        payload[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let error = decode(&sealed(&payload)).unwrap_err();
        assert!(matches!(error, ArtifactError::Decode(_)), "{error}");
    }

    #[test]
    fn a_sealed_payload_with_inconsistent_parts_is_refused() {
        let mut parts = demo_model().into_parts();
        parts.catalog.remove(0);
        let payload = codec::to_bytes(&parts);
        let message = decode(&sealed(&payload)).unwrap_err().to_string();
        assert!(
            message.starts_with("the model is inconsistent: class "),
            "{message}"
        );
        assert!(message.ends_with("has no catalog entry"), "{message}");

        let parts = demo_model().into_parts();
        // Write an infinite first output weight over the real one, as a broken writer would.
        let mut payload = codec::to_bytes(&parts);
        let weights = parts.mlp.parts();
        let original = weights.w2[0].to_le_bytes();
        let w2_length = (weights.w2.len() as u64).to_le_bytes();
        let at = payload
            .windows(12)
            .position(|window| window[..8] == w2_length && window[8..] == original)
            .expect("w2 is in the payload");
        payload[at + 8..at + 12].copy_from_slice(&f32::INFINITY.to_le_bytes());
        assert_eq!(
            decode(&sealed(&payload)).unwrap_err().to_string(),
            "the payload does not decode: w2[0] is not finite"
        );
    }

    #[test]
    fn every_truncation_and_every_byte_flip_is_an_error_not_a_panic() {
        let bytes = encode(&demo_model());
        for len in (0..bytes.len()).step_by(7) {
            assert!(decode(&bytes[..len]).is_err(), "length {len}");
        }
        for index in (0..bytes.len()).step_by(5) {
            let mut mutated = bytes.clone();
            mutated[index] ^= 0x5A;
            assert!(decode(&mutated).is_err(), "byte {index}");
        }
    }

    #[test]
    fn a_binary16_model_is_format_4_and_an_f32_one_format_3() {
        let bytes = include_bytes!("../tests/data/model_next_half.bin");
        assert_eq!(bytes[8..12], 4u32.to_le_bytes());
        let model = decode(bytes).unwrap();
        assert_eq!(model.parts().storage, Storage::F16);
        assert_eq!(encode(&model), bytes);
        let mut parts = model.parts().clone();
        parts.storage = Storage::F32;
        let as_f32 = encode(&Model::new(parts.clone()).unwrap());
        assert_eq!(as_f32[8..12], 3u32.to_le_bytes());
        let w2 = parts.mlp.parts().w2.len();
        assert_eq!(as_f32.len(), bytes.len() + 2 * w2);
        // A weight that is not a binary16 value cannot be stored as one.
        let mut weights = parts.mlp.parts().clone();
        weights.w2[5] = 0.1;
        parts.mlp = crate::Mlp::from_parts(weights).unwrap();
        parts.storage = Storage::F16;
        assert_eq!(
            Model::new(parts).unwrap_err().to_string(),
            "w2[5] is 0.1, not a binary16 value, which its storage needs"
        );
    }
}
