//! The model artifact, `model.bin`: everything the page and the server need, in one file.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | magic `CINEREC\0` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 8 | payload length |
//! | 32 | SHA-256 of the payload |
//! | n | payload: bincode 2 (serde, little-endian, fixed-width integers) of [`Model`] |
//!
//! [`decode`] checks all of it (magic, version, length, trailing bytes, checksum, then shapes,
//! order and finiteness of the decoded values) and returns an [`ArtifactError`]; it never
//! panics. Allocation is bounded by the input: the bincode decode limit is the smallest power
//! of two that holds the payload, and with fixed-width integers every claimed byte is a byte
//! that must be present. Nothing here reads a clock, so the same model gives the same bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::labels::LabelEncoder;
use crate::mlp::Mlp;
use crate::scaler::{Scaler, FEATURES};
use crate::train::{EpochReport, TestMetrics, TrainConfig};

/// The first eight bytes of every `model.bin`.
pub const MAGIC: [u8; 8] = *b"CINEREC\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 8 + 4 + 8 + 32;
/// The largest payload [`decode`] accepts (64 MiB; a 58-class model is about 25 KB).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// A trained model with everything needed to rank: the artifact's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// How the model was made.
    pub metadata: Metadata,
    /// Feature standardisation fitted on the training split.
    pub scaler: Scaler,
    /// The content ids the network scores, in output order.
    pub labels: LabelEncoder,
    /// The network.
    pub mlp: Mlp,
    /// The movies the page shows and the ranking reads features from, ascending by id.
    pub catalog: Vec<CatalogEntry>,
}

/// What a model was made from and how well it did; no wall-clock time, by design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Same as the header's version.
    pub format_version: u32,
    /// Version of the code that trained it (`cinerec-core`'s package version).
    pub code_version: String,
    /// Hyper-parameters, seed included.
    pub config: TrainConfig,
    /// Hex SHA-256 of the watch log's bytes.
    pub training_data_sha256: String,
    /// Hex SHA-256 of the catalog file's bytes.
    pub catalog_sha256: String,
    /// Rows in the watch log.
    pub rows: u64,
    /// Rows in the train, validation and test splits.
    pub split_sizes: [u64; 3],
    /// Quality on the test split.
    pub test: TestMetrics,
    /// Loss and accuracy per epoch.
    pub epochs: Vec<EpochReport>,
}

/// One movie as the page shows it and the ranking reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// TMDB movie id.
    pub id: u64,
    /// Title to show.
    pub title: String,
    /// Poster file name in the posters folder, e.g. `123.jpg`.
    pub poster: String,
    /// Mean vote, 0 to 10: the rating feature.
    pub vote_average: f64,
    /// TMDB popularity: the popularity feature.
    pub popularity: f64,
}

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
    #[error("not a cinerec model: the file does not start with the CINEREC tag")]
    BadMagic,
    /// A version this build does not read.
    #[error("format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// Version in the header.
        found: u32,
    },
    /// The header declares more than [`MAX_PAYLOAD`].
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
    Invalid(String),
}

impl Model {
    /// Checks that the parts fit together: the same checks [`decode`] runs after decoding.
    pub fn validate(&self) -> Result<(), ArtifactError> {
        let invalid = |message: String| Err(ArtifactError::Invalid(message));
        if self.metadata.format_version != FORMAT_VERSION {
            return invalid(format!(
                "metadata says format version {}, the header {FORMAT_VERSION}",
                self.metadata.format_version
            ));
        }
        if !self.scaler.is_valid() {
            return invalid("the scaler has a non-finite mean or a non-positive scale".into());
        }
        if self.mlp.inputs() != FEATURES {
            return invalid(format!(
                "the network takes {} features, expected {FEATURES}",
                self.mlp.inputs()
            ));
        }
        if self.labels.len() != self.mlp.classes() {
            return invalid(format!(
                "{} class ids for {} network outputs",
                self.labels.len(),
                self.mlp.classes()
            ));
        }
        if let Some(pair) = self
            .catalog
            .windows(2)
            .find(|pair| pair[0].id >= pair[1].id)
        {
            return invalid(format!(
                "catalog ids are not strictly ascending ({} then {})",
                pair[0].id, pair[1].id
            ));
        }
        if let Some(entry) = self.catalog.iter().find(|entry| {
            !(entry.vote_average.is_finite()
                && (0.0..=10.0).contains(&entry.vote_average)
                && entry.popularity.is_finite()
                && entry.popularity >= 0.0)
        }) {
            return invalid(format!(
                "catalog entry {} has vote_average {} and popularity {}",
                entry.id, entry.vote_average, entry.popularity
            ));
        }
        if let Some(id) = self
            .labels
            .classes()
            .iter()
            .find(|id| self.catalog_entry(**id).is_none())
        {
            return invalid(format!("class {id} has no catalog entry"));
        }
        Ok(())
    }

    /// The catalog entry of a movie, if the model has one.
    pub fn catalog_entry(&self, id: u64) -> Option<&CatalogEntry> {
        self.catalog
            .binary_search_by_key(&id, |entry| entry.id)
            .ok()
            .map(|index| &self.catalog[index])
    }

    /// The model id: the first 16 hex digits of the payload's SHA-256.
    pub fn id(&self) -> String {
        id_of(&Sha256::digest(payload(self)))
    }
}

/// The whole `model.bin` for a model.
pub fn encode(model: &Model) -> Vec<u8> {
    let payload = payload(model);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

/// Reads a `model.bin`, checking everything (see the module docs).
pub fn decode(bytes: &[u8]) -> Result<Model, ArtifactError> {
    if bytes.len() < HEADER_LEN {
        return Err(ArtifactError::TooShort { len: bytes.len() });
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    if header[..8] != MAGIC {
        return Err(ArtifactError::BadMagic);
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(ArtifactError::UnsupportedVersion { found: version });
    }
    let declared = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
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
    if Sha256::digest(body).as_slice() != &header[20..52] {
        return Err(ArtifactError::Checksum);
    }
    let model = decode_payload(body)?;
    model.validate()?;
    Ok(model)
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

fn id_of(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of some bytes, as the metadata records input files.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn payload(model: &Model) -> Vec<u8> {
    let config = bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding();
    bincode::serde::encode_to_vec(model, config)
        .expect("a model is plain data: every field serialises")
}

/// Decodes with the smallest power-of-two limit that holds the payload (see module docs).
fn decode_payload(payload: &[u8]) -> Result<Model, ArtifactError> {
    fn with_limit<const LIMIT: usize>(payload: &[u8]) -> Result<Model, ArtifactError> {
        let config = bincode::config::standard()
            .with_little_endian()
            .with_fixed_int_encoding()
            .with_limit::<LIMIT>();
        let (model, read) = bincode::serde::decode_from_slice::<Model, _>(payload, config)
            .map_err(|error| ArtifactError::Decode(describe(error)))?;
        if read != payload.len() {
            return Err(ArtifactError::Decode(format!(
                "{} bytes left over after the model",
                payload.len() - read
            )));
        }
        Ok(model)
    }
    macro_rules! first_fitting {
        ($($limit:expr),*) => {
            $(if payload.len() <= $limit { return with_limit::<{ $limit }>(payload); })*
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
    Err(ArtifactError::TooLarge {
        declared: payload.len() as u64,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mlp::MlpParts;
    use crate::random::Rng;
    use crate::train::Optimizer;

    /// A small untrained model with four catalog movies, three of them classes.
    pub(crate) fn sample_model() -> Model {
        let mlp = Mlp::he(FEATURES, 8, 3, &mut Rng::new(4));
        let entry = |id, vote_average, popularity| CatalogEntry {
            id,
            title: format!("영화 {id}"),
            poster: format!("{id}.svg"),
            vote_average,
            popularity,
        };
        Model {
            metadata: Metadata {
                format_version: FORMAT_VERSION,
                code_version: "test".into(),
                config: TrainConfig {
                    epochs: 1,
                    hidden: 8,
                    batch_size: 4,
                    optimizer: Optimizer::Adam,
                    learning_rate: 0.01,
                    seed: 4,
                },
                training_data_sha256: sha256_hex(b"log"),
                catalog_sha256: sha256_hex(b"catalog"),
                rows: 10,
                split_sizes: [6, 2, 2],
                test: TestMetrics {
                    accuracy: 0.5,
                    top10: 1.0,
                    rows: 2,
                },
                epochs: vec![],
            },
            scaler: Scaler {
                mean: [6.0, 100.0, 3000.0],
                scale: [1.5, 80.0, 2000.0],
            },
            labels: LabelEncoder::fit([10, 20, 30]),
            mlp,
            catalog: vec![
                entry(10, 7.5, 300.0),
                entry(20, 6.0, 120.0),
                entry(30, 8.2, 40.0),
                entry(40, 5.0, 10.0),
            ],
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let model = sample_model();
        let bytes = encode(&model);
        assert_eq!(bytes, encode(&model));
        assert_eq!(decode(&bytes).unwrap(), model);
        assert_eq!(model.id().len(), 16);
        assert_eq!(model.id(), id_of(&Sha256::digest(&bytes[HEADER_LEN..])));
    }

    #[test]
    fn header_problems_are_named() {
        let bytes = encode(&sample_model());
        assert_eq!(
            decode(&bytes[..10]),
            Err(ArtifactError::TooShort { len: 10 })
        );
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] = b'X';
        assert_eq!(decode(&wrong_magic), Err(ArtifactError::BadMagic));
        let mut wrong_version = bytes.clone();
        wrong_version[8] = 2;
        assert_eq!(
            decode(&wrong_version).unwrap_err().to_string(),
            "format version 2 is not supported (this build reads version 1)"
        );
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

    /// Re-seals a payload with a valid header, as a malicious or buggy writer could.
    fn seal(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(payload));
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_sealed_payload_with_a_huge_length_prefix_is_refused_without_allocating_it() {
        let mut payload = encode(&sample_model())[HEADER_LEN..].to_vec();
        // The first field is metadata.code_version, a string: its u64 length prefix comes first.
        payload[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let error = decode(&seal(&payload)).unwrap_err();
        assert!(matches!(error, ArtifactError::Decode(_)), "{error}");
    }

    #[test]
    fn a_sealed_payload_with_inconsistent_parts_is_refused() {
        let mut model = sample_model();
        model.labels = LabelEncoder::fit([10, 20, 30, 40]);
        assert_eq!(
            decode(&encode(&model)).unwrap_err().to_string(),
            "the model is inconsistent: 4 class ids for 3 network outputs"
        );
        let mut model = sample_model();
        model.catalog.remove(1);
        assert_eq!(
            decode(&encode(&model)).unwrap_err().to_string(),
            "the model is inconsistent: class 20 has no catalog entry"
        );
        let mut model = sample_model();
        let mut parts: MlpParts = model.mlp.to_parts();
        parts.w2[0] = f32::INFINITY;
        // Bypass from_parts to write what a broken writer would.
        model.mlp = Mlp {
            w2: ndarray::Array2::from_shape_vec((8, 3), parts.w2).unwrap(),
            ..model.mlp
        };
        assert_eq!(
            decode(&encode(&model)).unwrap_err().to_string(),
            "the payload does not decode: w2[0] is not finite"
        );
    }

    #[test]
    fn every_truncation_and_every_byte_flip_is_an_error_not_a_panic() {
        let bytes = encode(&sample_model());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "length {len}");
        }
        for index in 0..bytes.len() {
            let mut mutated = bytes.clone();
            mutated[index] ^= 0x5A;
            assert!(decode(&mutated).is_err(), "byte {index}");
        }
    }
}
