//! The epoch loop: shuffle, batch, forward, backward, step; one report per epoch.

use cinerec_core::{EpochReport, TrainConfig};
use ndarray::{s, Array2};

use crate::kernels::{evaluate_batched, Buffers};
use crate::network::Network;
use crate::optimizer::{schedule, OptimizerState};
use crate::random::Rng;

/// Standardised feature rows and the class index each should predict.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    /// One standardised row per example (`len × inputs`).
    pub features: Array2<f32>,
    /// The target class of each row.
    pub targets: Vec<usize>,
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Trains `network` in place; returns one report per epoch, each also given to `on_epoch`.
///
/// This is the benchmarked hot loop: every buffer is allocated once, and each batch does
/// five matrix products (forward 2, backward 3; the first layer's are tiny).
///
/// The learning rate follows the warm-up and cosine schedule: with only about 100 steps on a
/// one-page log, large early steps find the classes quickly and small late ones settle the
/// boundaries between movies whose features are close.
pub fn train(
    network: &mut Network,
    examples: &Examples,
    validation: &Examples,
    config: &TrainConfig,
    rng: &mut Rng,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Vec<EpochReport> {
    // A batch larger than the data would only allocate buffers nobody fills.
    let batch = (config.batch_size as usize).clamp(1, examples.len().max(1));
    let (inputs, hidden, classes) = (network.inputs(), network.hidden(), network.classes());
    let mut buffers = Buffers::new(batch, inputs, hidden, classes);
    let mut optimizer = OptimizerState::new(network, config);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut reports = Vec::new();
    let total_steps = (config.epochs as usize)
        .saturating_mul(order.len().div_ceil(batch))
        .max(1);
    let mut steps_done = 0usize;
    let mut targets = Vec::with_capacity(batch);

    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0f64;
        let mut correct = 0usize;
        for chunk in order.chunks(batch) {
            let b = chunk.len();
            let mut x = buffers.x.slice_mut(s![..b, ..]);
            for (mut row, &index) in x.rows_mut().into_iter().zip(chunk) {
                row.assign(&examples.features.row(index));
            }
            targets.clear();
            targets.extend(chunk.iter().map(|&i| examples.targets[i]));
            let (loss, right) = buffers.forward(network, b, &targets);
            loss_sum += loss;
            correct += right;
            buffers.backward(network, b, &targets);
            let factor = schedule(steps_done, total_steps);
            optimizer.step(network, &buffers, config.learning_rate * factor as f32);
            steps_done += 1;
        }
        let n = examples.len().max(1) as f64;
        let (val_loss, val_accuracy) = evaluate_batched(
            network,
            validation.features.view(),
            &validation.targets,
            &mut buffers,
        );
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / n,
            train_accuracy: correct as f64 / n,
            val_loss,
            val_accuracy,
        };
        on_epoch(&report);
        reports.push(report);
    }
    reports
}
