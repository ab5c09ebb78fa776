//! In headless Chromium (`wasm-pack test --headless --chrome wasm`): the browser ranks the
//! golden histories to the very bits pinned in `core/tests/data/rank_golden*.json` (which
//! core's native test also checks: one file per kind of model), and bad model bytes are errors that say what is wrong.
//! A last test times the ranking the page runs, for `scripts/bench.sh` to report.

#![cfg(target_family = "wasm")]

use cinerec_wasm::Recommender;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../../core/tests/data/model.bin");
const GOLDEN: &str = include_str!("../../core/tests/data/rank_golden.json");
const MODEL_NEXT: &[u8] = include_bytes!("../../core/tests/data/model_next.bin");
const GOLDEN_NEXT: &str = include_str!("../../core/tests/data/rank_golden_next.json");
const MODEL_NEXT_HALF: &[u8] = include_bytes!("../../core/tests/data/model_next_half.bin");
const GOLDEN_NEXT_HALF: &str = include_str!("../../core/tests/data/rank_golden_next_half.json");

#[wasm_bindgen_test]
fn the_browser_ranks_the_golden_histories_to_the_pinned_bits() {
    replay(MODEL, GOLDEN);
}

#[wasm_bindgen_test]
fn the_browser_ranks_the_next_watch_golden_histories_to_the_pinned_bits() {
    replay(MODEL_NEXT, GOLDEN_NEXT);
}

/// Format 4: the embeddings stored as binary16, decoded in wasm to the f32s core's native
/// test decodes them to.
#[wasm_bindgen_test]
fn the_browser_ranks_the_binary16_golden_histories_to_the_pinned_bits() {
    replay(MODEL_NEXT_HALF, GOLDEN_NEXT_HALF);
}

fn replay(model: &[u8], golden: &str) {
    let golden: serde_json::Value = serde_json::from_str(golden).expect("the golden file is JSON");
    let recommender = Recommender::new(model).expect("the test model loads");
    assert_eq!(recommender.model_id(), golden["model_id"].as_str().unwrap());
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let history = case["history"].as_array().unwrap();
        let ids: Vec<f64> = history
            .iter()
            .map(|e| e["content_id"].as_f64().unwrap())
            .collect();
        let seconds: Vec<f64> = history
            .iter()
            .map(|e| e["watch_seconds"].as_f64().unwrap())
            .collect();
        let k = case["k"].as_u64().unwrap() as usize;
        let ranked = recommender
            .recommend(&ids, &seconds, k)
            .unwrap_or_else(|_| panic!("{}", case["name"]));
        let expected_ids: Vec<f64> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let expected_bits: Vec<u32> = case["score_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let expected_ignored: Vec<f64> = case["ignored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ranked.ids(), expected_ids, "{}", case["name"]);
        assert_eq!(ranked.score_bits(), expected_bits, "{}", case["name"]);
        assert_eq!(ranked.ignored(), expected_ignored, "{}", case["name"]);
    }
}

fn error_message(bytes: &[u8]) -> String {
    match Recommender::new(bytes) {
        Ok(_) => panic!("{} bytes loaded as a model", bytes.len()),
        Err(error) => {
            let value: wasm_bindgen::JsValue = error.into();
            js_sys::Reflect::get(&value, &"message".into())
                .unwrap()
                .as_string()
                .unwrap()
        }
    }
}

#[wasm_bindgen_test]
fn bad_model_bytes_are_javascript_errors_that_say_what_is_wrong() {
    assert!(error_message(&[]).contains("shorter than the 52-byte header"));
    assert!(error_message(&MODEL[..MODEL.len() - 100]).contains("truncated"));
    let mut flipped = MODEL.to_vec();
    flipped[5000] ^= 0x40;
    assert!(error_message(&flipped).contains("checksum mismatch"));
    let html = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
    assert!(error_message(html).contains("looks like an HTML"));
    let mut other_version = MODEL.to_vec();
    other_version[8] = 1;
    assert!(error_message(&other_version).contains("format version 1 is not supported"));
}

#[wasm_bindgen_test]
fn a_bad_history_is_a_javascript_error_not_a_trap() {
    let recommender = Recommender::new(MODEL).unwrap();
    assert!(recommender.recommend(&[1.5], &[10.0], 10).is_err());
    assert!(recommender.recommend(&[1.0, 2.0], &[10.0], 10).is_err());
    assert!(recommender.recommend(&[1.0], &[-3.0], 10).is_err());
    assert!(recommender.recommend(&[1.0], &[f64::NAN], 10).is_err());
    // and the recommender still works afterwards
    assert_eq!(recommender.recommend(&[], &[], 10).unwrap().ids().len(), 10);
}

/// The median over 31 batches of `calls` calls, in µs per call (`performance.now()` is too
/// coarse to time one call).
fn median_micros(calls: usize, mut work: impl FnMut()) -> f64 {
    let performance = web_sys::window().unwrap().performance().unwrap();
    let mut per_call: Vec<f64> = (0..31)
        .map(|_| {
            let started = performance.now();
            for _ in 0..calls {
                work();
            }
            (performance.now() - started) * 1000.0 / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

/// Times the ranking of a 20-event history over the demo model's 58 classes, as core's
/// bench does natively: core's `rank` alone, and the page's `recommend` (which also copies
/// titles and posters out). Prints, never asserts: speed is measured, not tested.
#[wasm_bindgen_test]
fn ranking_speed() {
    let model = cinerec_core::decode(MODEL).unwrap();
    let classes = model.classes();
    let history: Vec<cinerec_core::WatchEvent> = (0..20)
        .map(|i| cinerec_core::WatchEvent {
            content_id: classes[(i * 7) % classes.len()],
            watch_seconds: 300.0 * i as f64,
        })
        .collect();
    let rank = median_micros(500, || {
        std::hint::black_box(cinerec_core::rank(&model, &history, 10).unwrap());
    });
    let recommender = Recommender::new(MODEL).unwrap();
    let ids: Vec<f64> = history.iter().map(|e| e.content_id as f64).collect();
    let seconds: Vec<f64> = history.iter().map(|e| e.watch_seconds).collect();
    let recommend = median_micros(500, || {
        std::hint::black_box(recommender.recommend(&ids, &seconds, 10).unwrap());
    });
    console_log!(
        "rank_20_events_58_classes in the browser: rank {rank:.2} µs, recommend {recommend:.2} µs (median per call)"
    );
}
