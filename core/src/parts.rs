//! What a model is made of, as plain data: the parts the artifact stores (its metadata, the
//! training run's configuration and figures, the catalog entries the page shows) and the
//! network, scaler and labels they hold. [`crate::Model`] checks that they fit together;
//! `codec` turns them into the payload's bytes and back.

use serde::{Deserialize, Serialize};

use crate::labels::LabelEncoder;
use crate::mlp::Mlp;
use crate::scaler::Scaler;

/// The parts of a [`Model`](crate::Model), as the artifact stores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelParts {
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
    /// What the network reads: one watch's features, or the viewer's recent movies.
    pub input: Input,
}

/// What the network of a model reads, which says how a history becomes its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// Each event's standardised features (rating, popularity, watch time); a movie's score is
    /// the mean of the softmax outputs over the events (the item and co-watch objectives).
    Features,
    /// The viewer's most recent movies: the input is the weighted mean of their embeddings,
    /// which are the columns of the output layer (`w2`, tied), weighted by recency; one softmax
    /// per history (the next-watch objective).
    Recent {
        /// Weight of the latest event, the one before it, and so on; the window's length is
        /// the number of events read.
        weights: Vec<f32>,
    },
}

/// What a model was made from and how well it did; no wall-clock time, by design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Version of the code that trained it (`cinerec-learn`'s package version).
    pub code_version: String,
    /// Hyper-parameters, seed included.
    pub config: TrainConfig,
    /// Hex SHA-256 of the watch log's bytes.
    pub training_data_sha256: String,
    /// Hex SHA-256 of the catalog file's bytes.
    pub catalog_sha256: String,
    /// Rows in the watch log.
    pub rows: u64,
    /// Examples in the train, validation and test splits.
    pub split_sizes: [u64; 3],
    /// Quality on the test split.
    pub test: TestMetrics,
    /// Loss and accuracy per epoch.
    pub epochs: Vec<EpochReport>,
}

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// What the network learns to predict.
    pub objective: Objective,
    /// Passes over the training split.
    pub epochs: u32,
    /// Hidden units.
    pub hidden: u32,
    /// Examples per mini-batch.
    pub batch_size: u32,
    /// Update rule.
    pub optimizer: Optimizer,
    /// Peak step size; training warms up to it, then lets it decay to zero.
    pub learning_rate: f32,
    /// Seed of the split, the initialisation and the batch order.
    pub seed: u64,
}

/// What the network learns to predict from one watch's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The watched movie itself, as the original did.
    Item,
    /// Another movie the same viewer watched: the ranking becomes item-to-item.
    CoWatch,
    /// The viewer's next watch, from the movies they watched last (the default).
    Next,
}

/// Which update rule trained the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Plain stochastic gradient descent.
    Sgd,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8) with bias correction.
    Adam,
}

/// Loss and accuracy after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: u32,
    /// Mean cross-entropy over the epoch's training batches.
    pub train_loss: f64,
    /// Fraction of training examples classified right during the epoch.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the validation split after the epoch.
    pub val_loss: f64,
    /// Accuracy on the validation split after the epoch.
    pub val_accuracy: f64,
}

/// Test-split quality of a trained network, through the serving forward pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Fraction of test examples whose top class is right.
    pub accuracy: f64,
    /// Fraction of test examples whose class is among the top 10.
    pub top10: f64,
    /// Number of test examples.
    pub rows: u64,
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
