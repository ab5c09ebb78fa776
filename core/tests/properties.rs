//! Property tests for the parsers and the artifact loader: arbitrary input gives a value or
//! an error, never a panic, and what is written reads back the same.

use cinerec_core::watch_log::{self, WatchRow};
use cinerec_core::{catalog, decode, rank, WatchEvent};
use proptest::prelude::*;

/// The checked-in demo model (see `data/README.md`).
const MODEL: &[u8] = include_bytes!("data/model.bin");
/// Magic, version, length and checksum come before the payload (see the artifact's docs).
const HEADER_LEN: usize = 52;

fn row() -> impl Strategy<Value = WatchRow> {
    (
        1u64..200,
        1u64..2_000_000,
        0u32..7200,
        0.0f64..=10.0,
        0.0f64..5000.0,
    )
        .prop_map(
            |(user_id, content_id, seconds, rating, popularity)| WatchRow {
                user_id,
                content_id,
                watch_seconds: seconds as f64,
                rating,
                popularity,
            },
        )
}

proptest! {
    #[test]
    fn watch_logs_round_trip(rows in prop::collection::vec(row(), 0..40)) {
        let text = watch_log::write(&rows);
        prop_assert_eq!(watch_log::parse(text.as_bytes()).unwrap().rows, rows);
    }

    #[test]
    fn watch_log_parser_never_panics(text in "(user_id,content_id,watch_seconds,rating,popularity\n)?[-0-9a-z.,\"\n\r ]{0,200}") {
        let _ = watch_log::parse(text.as_bytes());
    }

    #[test]
    fn watch_log_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = watch_log::parse(&bytes);
    }

    #[test]
    fn catalog_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = catalog::parse(&bytes);
    }

    #[test]
    fn catalog_parser_never_panics_on_json_like_text(text in r#"\{"(movies|results)":\[(\{"id":-?[0-9]{1,21}(\.5)?,"vote_average":-?[0-9]{1,3}(e9)?,"popularity":(null|"x"|[0-9]{1,400})\},?){0,3}\]\}"#) {
        let _ = catalog::parse(text.as_bytes());
    }

    #[test]
    fn loader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(decode(&bytes).is_err());
    }

    #[test]
    fn loader_refuses_any_corruption_of_a_real_artifact(
        position in 0usize..10_000,
        xor in 1u8..=255,
        cut in prop::option::of(0usize..10_000),
    ) {
        let mut bytes = MODEL.to_vec();
        let position = position % bytes.len();
        bytes[position] ^= xor;
        if let Some(cut) = cut {
            bytes.truncate(cut % bytes.len());
        }
        prop_assert!(decode(&bytes).is_err());
    }

    /// With a re-sealed checksum, corruption reaches the decoder itself: it may yield a
    /// (different but valid) model or an error, but never a panic; a model it yields ranks
    /// and re-encodes to the very bytes it came from.
    #[test]
    fn decoder_survives_resealed_corruption(position in 0usize..30_000, xor in 1u8..=255) {
        use sha2::{Digest, Sha256};
        let mut bytes = MODEL.to_vec();
        let payload_len = bytes.len() - HEADER_LEN;
        let position = HEADER_LEN + position % payload_len;
        bytes[position] ^= xor;
        let digest = Sha256::digest(&bytes[HEADER_LEN..]);
        bytes[20..52].copy_from_slice(&digest);
        if let Ok(model) = decode(&bytes) {
            let history = [WatchEvent { content_id: model.classes()[0], watch_seconds: 60.0 }];
            prop_assert!(rank(&model, &history, 5).is_ok());
            prop_assert_eq!(cinerec_core::encode(&model), bytes);
        }
    }
}
