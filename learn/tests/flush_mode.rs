//! The flush-to-zero mode of training stays inside training: during the epoch loop the
//! training thread flushes subnormals, and afterwards the calling thread has IEEE semantics
//! again and ranks the checked-in demo model to its golden bits.

use cinerec_core::{decode, rank, Objective, Optimizer, TrainConfig, WatchEvent};
use cinerec_learn::random::Rng;
use cinerec_learn::{flushing_subnormals, train, Examples, Network};
use ndarray::Array2;
use serde_json::Value;

const MODEL: &[u8] = include_bytes!("../../core/tests/data/model.bin");
const GOLDEN: &str = include_str!("../../core/tests/data/rank_golden.json");

/// Rows whose class their first feature gives away: the softmax saturates within an epoch,
/// which is what fills the gradient with subnormals.
fn separable(rows: usize, classes: usize, rng: &mut Rng) -> Examples {
    let targets: Vec<usize> = (0..rows)
        .map(|_| rng.below(classes as u64) as usize)
        .collect();
    let features = Array2::from_shape_fn((rows, 3), |(row, column)| match column {
        0 => targets[row] as f32 / classes as f32 * 8.0 - 4.0,
        _ => rng.normal() as f32 * 0.01,
    });
    Examples { features, targets }
}

#[test]
fn the_flush_mode_does_not_leak_out_of_training() {
    let subnormal = || std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32);
    assert!(
        subnormal() > 0.0,
        "the test thread starts with IEEE semantics"
    );

    let mut rng = Rng::new(7);
    let examples = separable(4_000, 20, &mut rng);
    let validation = separable(200, 20, &mut rng);
    let config = TrainConfig {
        objective: Objective::Item,
        epochs: 3,
        hidden: 16,
        batch_size: 64,
        optimizer: Optimizer::Adam,
        learning_rate: 0.01,
        seed: 0,
    };
    let mut network = Network::he(3, 16, 20, &mut rng);
    let mut flushed_during = Vec::new();
    train(
        &mut network,
        &examples,
        &validation,
        &config,
        &mut rng,
        &mut |_| flushed_during.push(flushing_subnormals()),
    );
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        assert_eq!(flushed_during, [true; 3], "the epoch loop flushes");
    }
    assert!(!flushing_subnormals(), "the mode leaked out of training");
    assert!(
        subnormal() > 0.0,
        "subnormals are numbers again after training"
    );

    let model = decode(MODEL).expect("the checked-in model loads");
    let golden: Value = serde_json::from_str(GOLDEN).expect("the golden file is JSON");
    for case in golden["cases"].as_array().expect("cases") {
        let history: Vec<WatchEvent> = serde_json::from_value(case["history"].clone()).unwrap();
        let k = case["k"].as_u64().unwrap() as usize;
        let ranking = rank(&model, &history, k).expect("the golden histories rank");
        let bits: Vec<u64> = ranking
            .recommendations
            .iter()
            .map(|r| u64::from(r.score.to_bits()))
            .collect();
        assert_eq!(
            serde_json::to_value(bits).unwrap(),
            case["score_bits"],
            "{} after training",
            case["name"]
        );
    }
}
