//! Criterion bench of the serving path: ranking a 20-event history over the 58 classes of the
//! checked-in demo models (the co-watch kind, and the next-watch kind the demo trains now),
//! and loading the co-watch model from its bytes.
//!
//! `rank_20_long_watches_58_classes` ranks the same movies watched for 8 to 19 hours each:
//! the logits then spread so far that an IEEE exp makes many probabilities subnormal (103 of
//! the history's 1,160, before the serving pass turned them into 0), the slow path of Intel
//! cores (a microcode assist per subnormal operand). Its time beside the normal history's
//! shows whether the ranking can still fall into it; AMD cores barely show the difference.
//!
//! Run with `cargo bench -p cinerec-core` or `./scripts/bench.sh`.

use std::hint::black_box;

use cinerec_core::{decode, rank, WatchEvent};
use criterion::{criterion_group, criterion_main, Criterion};

const MODEL: &[u8] = include_bytes!("../tests/data/model.bin");
/// The demo's default kind: next-watch, width 64, binary16 embeddings (format 4).
const NEXT: &[u8] = include_bytes!("../tests/data/model_next_half.bin");

fn ranking(c: &mut Criterion) {
    let model = decode(MODEL).expect("the test model loads");
    let classes = model.classes();
    let history: Vec<WatchEvent> = (0..20)
        .map(|i| WatchEvent {
            content_id: classes[(i * 7) % classes.len()],
            watch_seconds: 300.0 * i as f64,
        })
        .collect();
    c.bench_function("rank_20_events_58_classes", |b| {
        b.iter(|| rank(black_box(&model), black_box(&history), 10).expect("valid watch times"))
    });
    let long_watches: Vec<WatchEvent> = history
        .iter()
        .enumerate()
        .map(|(i, event)| WatchEvent {
            watch_seconds: 30_000.0 + 2_000.0 * i as f64,
            ..*event
        })
        .collect();
    c.bench_function("rank_20_long_watches_58_classes", |b| {
        b.iter(|| rank(black_box(&model), black_box(&long_watches), 10).expect("valid watch times"))
    });
    let next = decode(NEXT).expect("the next-watch test model loads");
    c.bench_function("rank_20_events_58_classes_next_watch", |b| {
        b.iter(|| rank(black_box(&next), black_box(&history), 10).expect("valid watch times"))
    });
    c.bench_function("decode_demo_model", |b| {
        b.iter(|| decode(black_box(MODEL)).expect("the test model loads"))
    });
}

criterion_group!(benches, ranking);
criterion_main!(benches);
