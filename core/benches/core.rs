//! Criterion bench of the serving path: ranking a 20-event history over the 58 classes of the
//! checked-in demo model, and loading that model from its bytes.
//!
//! Run with `cargo bench -p cinerec-core` or `./scripts/bench.sh`.

use std::hint::black_box;

use cinerec_core::{decode, rank, WatchEvent};
use criterion::{criterion_group, criterion_main, Criterion};

const MODEL: &[u8] = include_bytes!("../tests/data/model.bin");

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
    c.bench_function("decode_demo_model", |b| {
        b.iter(|| decode(black_box(MODEL)).expect("the test model loads"))
    });
}

criterion_group!(benches, ranking);
criterion_main!(benches);
