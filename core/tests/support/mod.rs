//! Shared by core's integration tests: a trained model's artifact, built from a watch log.

use cinerec_core::artifact::{self, FORMAT_VERSION};
use cinerec_core::train::{fit, Optimizer, TrainConfig};
use cinerec_core::watch_log::WatchRow;
use cinerec_core::{CatalogEntry, Metadata, Model};

/// Trains on `rows` (one epoch per `epochs`, Adam) and encodes the model; the catalog holds
/// each class with the rating and popularity of its first row and a Korean title.
pub fn trained_artifact(rows: &[WatchRow], hidden: u32, epochs: u32) -> Vec<u8> {
    let config = TrainConfig {
        epochs,
        hidden,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.2,
        seed: 3,
    };
    let fitted = fit(rows, &config, &mut |_| {}).expect("a trainable log");
    let catalog = fitted
        .labels
        .classes()
        .iter()
        .map(|&id| {
            let first = rows
                .iter()
                .find(|r| r.content_id == id)
                .expect("a class has rows");
            CatalogEntry {
                id,
                title: format!("고요한 영화 제목 {id}"),
                poster: format!("{id}.svg"),
                vote_average: first.rating,
                popularity: first.popularity,
            }
        })
        .collect();
    artifact::encode(&Model {
        metadata: Metadata {
            format_version: FORMAT_VERSION,
            code_version: "tests".into(),
            config,
            training_data_sha256: artifact::sha256_hex(b"rows"),
            catalog_sha256: artifact::sha256_hex(b"catalog"),
            rows: rows.len() as u64,
            split_sizes: fitted.split_sizes.map(|n| n as u64),
            test: fitted.test,
            epochs: fitted.epochs,
        },
        scaler: fitted.scaler,
        labels: fitted.labels,
        mlp: fitted.mlp,
        catalog,
    })
}
