//! A realistic artifact (58 classes, hidden 64, a catalog with titles) mutated at every byte
//! and cut at every length: each is an error, never a panic and never a different model.

use cinerec_core::artifact::{self, FORMAT_VERSION};
use cinerec_core::train::{fit, Optimizer, TrainConfig};
use cinerec_core::watch_log::WatchRow;
use cinerec_core::{CatalogEntry, Metadata, Model};

fn demo_sized_model() -> Vec<u8> {
    let rows: Vec<WatchRow> = (0..2000u64)
        .map(|i| {
            let movie = i % 58;
            WatchRow {
                user_id: 1 + i % 100,
                content_id: 100_000 + movie * 20_011,
                watch_seconds: (i * 37 % 7200) as f64,
                rating: 4.0 + (movie % 9) as f64 * 0.5,
                popularity: 20.0 + (movie * 53 % 900) as f64,
            }
        })
        .collect();
    let config = TrainConfig {
        epochs: 1,
        hidden: 64,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.2,
        seed: 3,
    };
    let fitted = fit(&rows, &config, &mut |_| {}).unwrap();
    let catalog = fitted
        .labels
        .classes()
        .iter()
        .map(|&id| CatalogEntry {
            id,
            title: format!("고요한 영화 제목 {id}"),
            poster: format!("{id}.svg"),
            vote_average: 4.0 + ((id - 100_000) / 20_011 % 9) as f64 * 0.5,
            popularity: 20.0 + ((id - 100_000) / 20_011 * 53 % 900) as f64,
        })
        .collect();
    artifact::encode(&Model {
        metadata: Metadata {
            format_version: FORMAT_VERSION,
            code_version: "mutations".into(),
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

#[test]
fn every_length_and_every_byte_of_a_demo_sized_artifact_is_checked() {
    let bytes = demo_sized_model();
    assert!(
        bytes.len() > 15_000,
        "a realistic size: {} bytes",
        bytes.len()
    );
    assert!(artifact::decode(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert!(artifact::decode(&bytes[..len]).is_err(), "cut at {len}");
    }
    let mut mutated = bytes.clone();
    for index in 0..bytes.len() {
        mutated[index] ^= 0xA5;
        assert!(artifact::decode(&mutated).is_err(), "byte {index} flipped");
        mutated[index] = bytes[index];
    }
}
