//! The epoch loop: shuffle, batch, forward, backward, step; one report per epoch.
//!
//! Two threads run it in lockstep, each on one shard of the output classes (see `kernels`).
//! Per batch they meet twice: after the forward pass, to complete each row's softmax from
//! both shards' maxima and sums, and after the backward pass, to sum the hidden layer's
//! gradient. Everything they combine is combined in shard order, and both threads shuffle
//! with identical generators, so a seed gives the same weights whatever the timing, the load
//! or the number of cores (a one-core machine runs the same two threads, taking turns).

use std::sync::{Mutex, RwLock};

use cinerec_core::{EpochReport, TrainConfig};
use ndarray::Array2;

use crate::flush::FlushSubnormals;
use crate::kernels::{Outcome, RowStats, Shard};
use crate::lockstep::{PoisonOnPanic, SpinBarrier};
use crate::network::Network;
use crate::optimizer::{schedule, Step};
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
/// five matrix products per shard (forward 2, backward 3; the first layer's are tiny).
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
    let classes = network.classes();
    let middle = classes / 2;
    let [first, second] = [0..middle, middle..classes]
        .map(|range| Shard::new(network, range, batch, config.optimizer));
    let shared = Shared {
        barrier: SpinBarrier::new(2),
        stats: [(); 2].map(|_| RwLock::new(vec![RowStats::default(); batch])),
        hidden: [&first, &second].map(|shard| RwLock::new(shard.hidden_gradient_buffer())),
        epoch: [(); 2].map(|_| Mutex::new(Totals::default())),
    };
    let run = Run {
        examples,
        validation,
        config,
        batch,
        shared: &shared,
    };
    let mut partner_rng = rng.clone();
    let (reports, [first, second]) = std::thread::scope(|scope| {
        let partner = scope.spawn(|| {
            let mut shard = second;
            run.worker(1, &mut shard, &mut partner_rng, &mut |_| {});
            shard
        });
        let mut shard = first;
        let reports = run.worker(0, &mut shard, rng, on_epoch);
        let second = partner.join().expect("the partner thread finished");
        (reports, [shard, second])
    });
    first.write_back(network);
    second.write_back(network);
    reports
}

/// What the two threads share.
struct Shared {
    barrier: SpinBarrier,
    /// Each shard's row statistics of the current batch.
    stats: [RwLock<Vec<RowStats>>; 2],
    /// Each shard's part of the hidden layer's gradient.
    hidden: [RwLock<Array2<f32>>; 2],
    /// Each shard's sums over the epoch.
    epoch: [Mutex<Totals>; 2],
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    train: Outcome,
    validation: Outcome,
}

/// One training run, as both threads see it.
struct Run<'a> {
    examples: &'a Examples,
    validation: &'a Examples,
    config: &'a TrainConfig,
    batch: usize,
    shared: &'a Shared,
}

impl Run<'_> {
    /// The loop of thread `index` over its `shard`; thread 0 also reports the epochs.
    fn worker(
        &self,
        index: usize,
        shard: &mut Shard,
        rng: &mut Rng,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Vec<EpochReport> {
        let shared = self.shared;
        let _poison = PoisonOnPanic(&shared.barrier);
        // Subnormal gradients cost Intel cores a microcode assist each (see `flush`); the
        // mode ends with this function, before anything ranks on this thread.
        let _flush = FlushSubnormals::new();
        let config = self.config;
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        let steps_per_epoch = order.len().div_ceil(self.batch);
        let total_steps = (config.epochs as usize)
            .saturating_mul(steps_per_epoch)
            .max(1);
        let mut steps_done = 0usize;
        let mut targets = Vec::with_capacity(self.batch);
        let mut reports = Vec::new();

        for epoch in 1..=config.epochs {
            rng.shuffle(&mut order);
            let mut train = Outcome::default();
            for chunk in order.chunks(self.batch) {
                let b = chunk.len();
                targets.clear();
                targets.extend(chunk.iter().map(|&i| self.examples.targets[i]));
                shard.load(self.examples.features.view(), chunk);
                let outcome = self.forward(index, shard, b, &targets, true);
                train.loss += outcome.loss;
                train.correct += outcome.correct;

                steps_done += 1;
                let rate = config.learning_rate * schedule(steps_done - 1, total_steps) as f32;
                let step = Step::new(
                    config.optimizer,
                    steps_done.min(i32::MAX as usize) as i32,
                    rate,
                );
                shard.backward(b, &mut write(&shared.hidden[index]));
                shard.step_output(&step);
                shared.barrier.wait();
                let (first, second) = (read(&shared.hidden[0]), read(&shared.hidden[1]));
                shard.step_input(b, [&first, &second], &step);
            }
            let validation = self.validate(index, shard, &mut targets);
            *shared.epoch[index]
                .lock()
                .expect("no thread panics holding it") = Totals { train, validation };
            shared.barrier.wait();
            if index == 0 {
                let report = self.report(epoch);
                on_epoch(&report);
                reports.push(report);
            }
        }
        reports
    }

    /// The forward pass of the first `b` loaded rows on both shards, and the softmax
    /// completed from both shards' statistics (the first meeting point).
    fn forward(
        &self,
        index: usize,
        shard: &mut Shard,
        b: usize,
        targets: &[usize],
        gradient: bool,
    ) -> Outcome {
        shard.forward(b, &mut write(&self.shared.stats[index]));
        self.shared.barrier.wait();
        let (first, second) = (read(&self.shared.stats[0]), read(&self.shared.stats[1]));
        shard.finish(b, [&first[..b], &second[..b]], targets, gradient)
    }

    /// Loss and right answers on the validation set, batch by batch in lockstep.
    fn validate(&self, index: usize, shard: &mut Shard, targets: &mut Vec<usize>) -> Outcome {
        let mut total = Outcome::default();
        let rows: Vec<usize> = (0..self.validation.len()).collect();
        for chunk in rows.chunks(self.batch) {
            targets.clear();
            targets.extend(chunk.iter().map(|&i| self.validation.targets[i]));
            shard.load(self.validation.features.view(), chunk);
            let outcome = self.forward(index, shard, chunk.len(), targets, false);
            total.loss += outcome.loss;
            total.correct += outcome.correct;
            // The next batch overwrites the statistics the other thread may still be reading.
            self.shared.barrier.wait();
        }
        total
    }

    /// The epoch's report from both shards' sums, added in shard order.
    fn report(&self, epoch: u32) -> EpochReport {
        let [first, second] = &self.shared.epoch;
        let (first, second) = (
            *first.lock().expect("no thread panics holding it"),
            *second.lock().expect("no thread panics holding it"),
        );
        let mean = |total: f64, n: usize| if n == 0 { 0.0 } else { total / n as f64 };
        let (n, v) = (self.examples.len(), self.validation.len());
        EpochReport {
            epoch,
            train_loss: mean(first.train.loss + second.train.loss, n),
            train_accuracy: mean((first.train.correct + second.train.correct) as f64, n),
            val_loss: mean(first.validation.loss + second.validation.loss, v),
            val_accuracy: mean(
                (first.validation.correct + second.validation.correct) as f64,
                v,
            ),
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().expect("no thread panics holding it")
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().expect("no thread panics holding it")
}
