//! What a training job records about its inputs ([`Provenance`]) and why it can fail
//! ([`TrainError`]): shared by every objective's trainer (`fit`, `next`).

use cinerec_core::{ModelError, ShapeError};

/// What a model records about its inputs (the trainer computes these from the files).
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// Hex SHA-256 of the watch log's bytes.
    pub training_data_sha256: String,
    /// Hex SHA-256 of the catalog file's bytes.
    pub catalog_sha256: String,
}

/// Why a watch log cannot be trained on, or training did not give a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// No rows at all.
    #[error("the watch log has no rows")]
    Empty,
    /// Only one content id: there is nothing to choose between.
    #[error("the watch log has a single content id ({0}); a ranking needs at least two")]
    SingleClass(u64),
    /// Too few rows or viewers to give every part of the split at least one pair.
    #[error("{0}: too few to split 64:16:20 into train, validation and test")]
    TooFew(String),
    /// No viewer has enough watches for the next-watch split.
    #[error("{0}")]
    TooFewWatches(String),
    /// A hyper-parameter is out of range.
    #[error("{0}")]
    Config(String),
    /// The weights stopped being numbers.
    #[error("training diverged ({0}): try a smaller learning rate")]
    Diverged(ShapeError),
    /// The parts do not make a model that would load (a bug, or a catalog that cannot serve).
    #[error("the trained model does not check out: {0}")]
    Model(#[from] ModelError),
}
