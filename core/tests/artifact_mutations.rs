//! A realistic artifact (58 classes, hidden 64, a catalog with titles) mutated at every byte
//! and cut at every length: each is an error, never a panic and never a different model.

mod support;

use cinerec_core::artifact;
use cinerec_core::watch_log::WatchRow;

/// 58 classes and 64 hidden units, like the demo catalog's model.
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
    support::trained_artifact(&rows, 64, 1)
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
