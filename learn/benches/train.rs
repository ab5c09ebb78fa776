//! Criterion benches of training throughput: one epoch over 1,000,000 rows, 200 classes,
//! batch 64, hidden 64, Adam, on two kinds of input:
//!
//! - `train/epoch_1m_rows_200_classes_batch_64`: random targets, the figure the README
//!   compares with numpy. The softmax never saturates, so the floats stay normal.
//! - `train/epoch_1m_rows_200_classes_batch_64_separable_subnormal_heavy`: targets the
//!   features give away, as in a real watch log (each movie has its own rating and
//!   popularity): the classes separate within the epoch, the softmax saturates, and the
//!   gradient `(p − onehot) / b` fills with subnormal floats. On Intel cores each subnormal
//!   operand costs a microcode assist: without the training threads' flush-to-zero mode this
//!   bench ran about 19× slower than the other there; with it, it runs at the other's speed.
//!   Recent AMD cores barely slow down either way, so compare the two on the machine at hand
//!   (the bench prints the share of the softmax gradient that is subnormal on each input).
//!
//! Run with `cargo bench -p cinerec-learn` or `./scripts/bench.sh`.

use std::hint::black_box;

use cinerec_core::{Objective, Optimizer, TrainConfig};
use cinerec_learn::random::Rng;
use cinerec_learn::{train, Examples, Network};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{s, Array2};

const ROWS: usize = 1_000_000;
const CLASSES: usize = 200;
const HIDDEN: usize = 64;

fn config() -> TrainConfig {
    TrainConfig {
        objective: Objective::Item,
        epochs: 1,
        hidden: HIDDEN as u32,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        seed: 0,
    }
}

/// Normal features, targets drawn independently of them.
fn random_targets(rng: &mut Rng) -> Examples {
    Examples {
        features: Array2::from_shape_fn((ROWS, 3), |_| rng.normal() as f32),
        targets: (0..ROWS)
            .map(|_| rng.below(CLASSES as u64) as usize)
            .collect(),
    }
}

/// Each class a fixed point of its own in feature space (normal coordinates), every row of a
/// class at its point: the features give the target away, as a movie's own rating and
/// popularity do in a watch log. (With the third feature noise instead, like a watch time,
/// about 6 % of the gradient was subnormal after the epoch; with this, 11 %.)
fn separable(rng: &mut Rng) -> Examples {
    let centres: Vec<[f32; 3]> = (0..CLASSES)
        .map(|_| [(); 3].map(|_| rng.normal() as f32))
        .collect();
    let targets: Vec<usize> = (0..ROWS)
        .map(|_| rng.below(CLASSES as u64) as usize)
        .collect();
    let features = Array2::from_shape_fn((ROWS, 3), |(row, column)| centres[targets[row]][column]);
    Examples { features, targets }
}

/// One epoch from a fresh network, as each iteration of both benches runs it.
fn epoch(examples: &Examples) -> Network {
    let validation = Examples {
        features: Array2::zeros((0, 3)),
        targets: vec![],
    };
    let mut rng = Rng::new(2);
    let mut network = Network::he(3, HIDDEN, CLASSES, &mut rng);
    train(
        &mut network,
        examples,
        &validation,
        &config(),
        &mut rng,
        &mut |_| {},
    );
    network
}

/// The share of the softmax gradient `(p − onehot) / 64` that is subnormal as an f32, for
/// `network` on the first 10,000 rows: the values the backward pass multiplies. Worked out
/// in f64 from the weights, so no exp's or flush mode's handling of tiny values hides them.
fn subnormal_share(network: &Network, examples: &Examples) -> f64 {
    let mlp = network.to_mlp().expect("training stayed finite");
    let parts = mlp.parts();
    let matrix = |rows: usize, values: &[f32]| {
        Array2::from_shape_vec((rows, values.len() / rows), values.to_vec())
            .expect("the parts have their dimensions")
            .mapv(f64::from)
    };
    let (w1, b1) = (matrix(3, &parts.w1), matrix(1, &parts.b1));
    let (w2, b2) = (matrix(HIDDEN, &parts.w2), matrix(1, &parts.b2));
    let sample = examples.features.slice(s![..10_000, ..]).mapv(f64::from);
    let hidden = (sample.dot(&w1) + &b1).mapv(|h| h.max(0.0));
    let logits = hidden.dot(&w2) + &b2;
    let mut subnormal = 0usize;
    for (row, &target) in logits.rows().into_iter().zip(&examples.targets) {
        let max = row.fold(f64::NEG_INFINITY, |m, &l| m.max(l));
        let sum = row.mapv(|l| (l - max).exp()).sum();
        subnormal += row
            .indexed_iter()
            .map(|(k, &l)| ((l - max).exp() / sum - f64::from(u8::from(k == target))) / 64.0)
            .filter(|&gradient| (gradient as f32).is_subnormal())
            .count();
    }
    let total = logits.len();
    subnormal as f64 / total as f64
}

fn training(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let random = random_targets(&mut rng);
    let separable = separable(&mut rng);
    for (name, examples) in [("random targets", &random), ("separable", &separable)] {
        let share = subnormal_share(&epoch(examples), examples);
        eprintln!(
            "after one epoch on {name}: {:.1} % of the softmax gradient subnormal",
            100.0 * share
        );
    }

    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("epoch_1m_rows_200_classes_batch_64", |b| {
        b.iter(|| black_box(epoch(&random)))
    });
    group.bench_function(
        "epoch_1m_rows_200_classes_batch_64_separable_subnormal_heavy",
        |b| b.iter(|| black_box(epoch(&separable))),
    );
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
