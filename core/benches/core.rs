//! Criterion benches: training throughput (rows per second, 1,000,000 rows, 200 classes,
//! batch 64, hidden 64, Adam) and the ranking of a 20-event history over 58 classes.
//!
//! Run with `cargo bench -p cinerec-core` or `./scripts/bench.sh`.

use std::hint::black_box;

use cinerec_core::labels::LabelEncoder;
use cinerec_core::mlp::Mlp;
use cinerec_core::random::Rng;
use cinerec_core::scaler::Scaler;
use cinerec_core::train::{train_network, Optimizer, TestMetrics, TrainConfig};
use cinerec_core::{rank, CatalogEntry, Metadata, Model, WatchEvent};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array2;

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        hidden: 64,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        seed: 0,
    }
}

fn training(c: &mut Criterion) {
    const ROWS: usize = 1_000_000;
    const CLASSES: usize = 200;
    let mut rng = Rng::new(1);
    let features = Array2::from_shape_fn((ROWS, 3), |_| rng.normal() as f32);
    let labels: Vec<usize> = (0..ROWS)
        .map(|_| rng.below(CLASSES as u64) as usize)
        .collect();
    let validation = Array2::<f32>::zeros((0, 3));
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("epoch_1m_rows_200_classes_batch_64", |b| {
        b.iter(|| {
            let mut rng = Rng::new(2);
            let mut mlp = Mlp::he(3, 64, CLASSES, &mut rng);
            train_network(
                &mut mlp,
                (features.view(), &labels),
                (validation.view(), &[]),
                &config(),
                &mut rng,
                &mut |_| {},
            );
            black_box(mlp)
        })
    });
    group.finish();
}

fn ranking(c: &mut Criterion) {
    const CLASSES: u64 = 58;
    let mut rng = Rng::new(3);
    let ids: Vec<u64> = (1..=CLASSES).map(|i| i * 1000 + 7).collect();
    let catalog = ids
        .iter()
        .map(|&id| CatalogEntry {
            id,
            title: format!("movie {id}"),
            poster: format!("{id}.svg"),
            vote_average: 5.0 + 4.0 * rng.next_f64(),
            popularity: 50.0 + 2000.0 * rng.next_f64(),
        })
        .collect();
    let model = Model {
        metadata: Metadata {
            format_version: cinerec_core::artifact::FORMAT_VERSION,
            code_version: "bench".into(),
            config: config(),
            training_data_sha256: String::new(),
            catalog_sha256: String::new(),
            rows: 0,
            split_sizes: [0; 3],
            test: TestMetrics {
                accuracy: 0.0,
                top10: 0.0,
                rows: 0,
            },
            epochs: vec![],
        },
        scaler: Scaler {
            mean: [6.5, 500.0, 3600.0],
            scale: [1.2, 400.0, 1800.0],
        },
        labels: LabelEncoder::fit(ids.iter().copied()),
        mlp: Mlp::he(3, 64, CLASSES as usize, &mut rng),
        catalog,
    };
    let history: Vec<WatchEvent> = (0..20)
        .map(|i| WatchEvent {
            content_id: ids[(i * 7) % ids.len()],
            watch_seconds: 300.0 * i as f64,
        })
        .collect();
    c.bench_function("rank_20_events_58_classes", |b| {
        b.iter(|| rank(black_box(&model), black_box(&history), 10).expect("valid watch times"))
    });
}

criterion_group!(benches, training, ranking);
criterion_main!(benches);
