//! Criterion bench of training throughput: one epoch over 1,000,000 rows, 200 classes,
//! batch 64, hidden 64, Adam (the figure the README compares with numpy).
//!
//! Run with `cargo bench -p cinerec-learn` or `./scripts/bench.sh`.

use std::hint::black_box;

use cinerec_core::{Objective, Optimizer, TrainConfig};
use cinerec_learn::random::Rng;
use cinerec_learn::{train, Examples, Network};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::Array2;

fn training(c: &mut Criterion) {
    const ROWS: usize = 1_000_000;
    const CLASSES: usize = 200;
    let config = TrainConfig {
        objective: Objective::Item,
        epochs: 1,
        hidden: 64,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        seed: 0,
    };
    let mut rng = Rng::new(1);
    let examples = Examples {
        features: Array2::from_shape_fn((ROWS, 3), |_| rng.normal() as f32),
        targets: (0..ROWS)
            .map(|_| rng.below(CLASSES as u64) as usize)
            .collect(),
    };
    let validation = Examples {
        features: Array2::zeros((0, 3)),
        targets: vec![],
    };
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("epoch_1m_rows_200_classes_batch_64", |b| {
        b.iter(|| {
            let mut rng = Rng::new(2);
            let mut network = Network::he(3, 64, CLASSES, &mut rng);
            train(
                &mut network,
                &examples,
                &validation,
                &config,
                &mut rng,
                &mut |_| {},
            );
            black_box(network)
        })
    });
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
