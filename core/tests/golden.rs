//! The ranking's golden vectors: the checked-in demo model ranks a fixed set of histories to
//! pinned ids and pinned score bits. The WebAssembly test in `wasm/` replays the same file in
//! Chromium, so the browser and every native build are held to the same bits.
//!
//! After a deliberate change (a new model format, a new model), regenerate with
//! `CINEREC_BLESS=1 cargo test -p cinerec-core --test golden` and say why in the commit.

use cinerec_core::{decode, rank, Model, WatchEvent};
use serde_json::{json, Value};

/// Each kind of network and storage with its golden file: the co-watch demo model (features
/// of one watch), the next-watch demo model as format 3 wrote it (recent movies, f32), and as
/// the default writes it now (format 4: binary16 embeddings, the width of a small catalog).
const MODELS: [(&[u8], &str, &str); 3] = [
    (
        include_bytes!("data/model.bin"),
        include_str!("data/rank_golden.json"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rank_golden.json"),
    ),
    (
        include_bytes!("data/model_next.bin"),
        include_str!("data/rank_golden_next.json"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rank_golden_next.json"
        ),
    ),
    (
        include_bytes!("data/model_next_half.bin"),
        include_str!("data/rank_golden_next_half.json"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rank_golden_next_half.json"
        ),
    ),
];

fn event(content_id: u64, watch_seconds: f64) -> WatchEvent {
    WatchEvent {
        content_id,
        watch_seconds,
    }
}

/// The histories the issue asks for: empty, one event, twenty, unknown ids, repeated ids,
/// zero and very long watch times.
fn histories(model: &Model) -> Vec<(&'static str, usize, Vec<WatchEvent>)> {
    let c = model.classes();
    let unknown = c[c.len() - 1] + 1;
    vec![
        ("empty history", 10, vec![]),
        ("one event", 10, vec![event(c[3], 1800.0)]),
        (
            "twenty events",
            10,
            (0..20)
                .map(|i| event(c[(i * 7) % c.len()], 173.0 * i as f64 + 0.5))
                .collect(),
        ),
        (
            "unknown ids are ignored",
            10,
            vec![
                event(unknown, 60.0),
                event(c[5], 600.0),
                event(999_999_999, 1.0),
            ],
        ),
        ("only unknown ids", 5, vec![event(unknown, 60.0)]),
        (
            "repeated ids",
            10,
            vec![event(c[2], 100.0), event(c[2], 5000.0), event(c[2], 7200.0)],
        ),
        ("zero watch time", 10, vec![event(c[1], 0.0)]),
        (
            "very long watch times",
            10,
            vec![event(c[4], 1e12), event(c[6], f64::MAX)],
        ),
        ("k above the catalog", 1000, vec![event(c[0], 3000.0)]),
        ("k of zero", 0, vec![event(c[0], 3000.0)]),
    ]
}

fn computed(model: &Model) -> Value {
    let cases: Vec<Value> = histories(model)
        .into_iter()
        .map(|(name, k, history)| {
            let ranking = rank(model, &history, k).expect("valid watch times");
            json!({
                "name": name,
                "k": k,
                "history": history,
                "ids": ranking.recommendations.iter().map(|r| r.content_id).collect::<Vec<_>>(),
                "score_bits": ranking.recommendations.iter().map(|r| r.score.to_bits()).collect::<Vec<_>>(),
                "ignored": ranking.ignored,
            })
        })
        .collect();
    json!({ "model_id": model.id(), "cases": cases })
}

#[test]
fn the_demo_models_rank_the_golden_histories_to_the_pinned_bits() {
    for (bytes, golden, path) in MODELS {
        let model = decode(bytes).expect("the checked-in model loads");
        let now = computed(&model);
        if std::env::var_os("CINEREC_BLESS").is_some() {
            let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
            std::fs::write(path, text).unwrap();
            continue;
        }
        check(golden, &now);
    }
}

fn check(golden: &str, now: &Value) {
    let pinned: Value = serde_json::from_str(golden).expect("the golden file is JSON");
    assert_eq!(pinned["model_id"], now["model_id"], "a different model");
    let (pinned, now) = (
        pinned["cases"].as_array().unwrap(),
        now["cases"].as_array().unwrap(),
    );
    assert_eq!(pinned.len(), now.len());
    for (expected, got) in pinned.iter().zip(now) {
        assert_eq!(expected, got, "case {}", expected["name"]);
    }
}

/// The golden file's histories replayed from the file itself, as the browser test does: the
/// file, not this test's code, is what both sides share.
#[test]
fn replaying_the_golden_file_gives_its_answers() {
    if std::env::var_os("CINEREC_BLESS").is_some() {
        return; // the files are being rewritten; the next run replays the new ones
    }
    for (bytes, golden, _) in MODELS {
        replay(bytes, golden);
    }
}

fn replay(bytes: &[u8], golden: &str) {
    let model = decode(bytes).expect("the checked-in model loads");
    let pinned: Value = serde_json::from_str(golden).expect("the golden file is JSON");
    for case in pinned["cases"].as_array().unwrap() {
        let history: Vec<WatchEvent> = serde_json::from_value(case["history"].clone()).unwrap();
        let k = case["k"].as_u64().unwrap() as usize;
        let ranking = rank(&model, &history, k).unwrap();
        let bits: Vec<u32> = ranking
            .recommendations
            .iter()
            .map(|r| r.score.to_bits())
            .collect();
        assert_eq!(json!(bits), case["score_bits"], "{}", case["name"]);
        assert!(ranking.recommendations.len() <= k);
    }
}
