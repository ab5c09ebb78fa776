//! Training: the 64:16:20 split, the hand-written backward pass, SGD and Adam.
//!
//! [`fit`] is the whole job from watch-log rows to a trained network and its test metrics.
//! The inner loop works on mini-batches with ndarray's matrix products (fast, and allowed to
//! differ in the last bit between machines); the test metrics it reports are computed with
//! the serving forward pass, [`Mlp::probabilities`], so they measure what is served.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::labels::LabelEncoder;
use crate::metrics;
use crate::mlp::Mlp;
use crate::random::Rng;
use crate::scaler::{feature_row, Scaler, FEATURES};
use crate::watch_log::WatchRow;

/// Which update rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Plain stochastic gradient descent.
    Sgd,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8) with bias correction.
    Adam,
}

impl Optimizer {
    /// The peak learning rate used when none is given. Chosen by a sweep over 64 watch logs
    /// (4 real TMDB pages × 16 seeds, 10 epochs): with the warm-up and cosine [`schedule`],
    /// Adam at 0.3 had the best mean and the fewest runs under 0.93 test accuracy (README).
    pub fn default_learning_rate(self) -> f32 {
        match self {
            Optimizer::Sgd => 0.5,
            Optimizer::Adam => 0.3,
        }
    }
}

/// Hyper-parameters of one training run; stored in the artifact's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: u32,
    /// Hidden units.
    pub hidden: u32,
    /// Rows per mini-batch.
    pub batch_size: u32,
    /// Update rule.
    pub optimizer: Optimizer,
    /// Peak step size; [`schedule`] warms up to it, then lets it decay to zero.
    pub learning_rate: f32,
    /// Seed of the split, the initialisation and the batch order.
    pub seed: u64,
}

/// Loss and accuracy after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: u32,
    /// Mean cross-entropy over the epoch's training batches.
    pub train_loss: f64,
    /// Fraction of training rows classified right during the epoch.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the validation split after the epoch.
    pub val_loss: f64,
    /// Accuracy on the validation split after the epoch.
    pub val_accuracy: f64,
}

/// Row indices of the three parts of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// 64 % of the rows.
    pub train: Vec<usize>,
    /// 16 % of the rows.
    pub validation: Vec<usize>,
    /// 20 % of the rows.
    pub test: Vec<usize>,
}

/// Test-split quality of a trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Fraction of test rows whose top class is right.
    pub accuracy: f64,
    /// Fraction of test rows whose class is among the top 10.
    pub top10: f64,
    /// Number of test rows.
    pub rows: usize,
}

/// Everything [`fit`] learned.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// Scaler fitted on the training split.
    pub scaler: Scaler,
    /// Classes: every content id of the log.
    pub labels: LabelEncoder,
    /// The trained network.
    pub mlp: Mlp,
    /// One report per epoch.
    pub epochs: Vec<EpochReport>,
    /// Quality on the test split, through the serving forward pass.
    pub test: TestMetrics,
    /// Sizes of the train, validation and test parts.
    pub split_sizes: [usize; 3],
}

/// Why a watch log cannot be trained on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// No rows at all.
    #[error("the watch log has no rows")]
    Empty,
    /// Only one content id: there is nothing to choose between.
    #[error("the watch log has a single content id ({0}); a ranking needs at least two")]
    SingleClass(u64),
    /// Too few rows to give every part of the split at least one row.
    #[error("only {0} rows: too few to split 64:16:20 into train, validation and test")]
    TooFewRows(usize),
    /// A hyper-parameter is out of range.
    #[error("{0}")]
    Config(String),
}

/// Splits `n` rows like two scikit-learn `train_test_split(test_size=0.2)` calls: 20 % test,
/// then 20 % of the rest as validation, so 64:16:20. Seeded; the trainer and `evaluate`
/// rebuild the same split from the seed stored in the artifact.
pub fn split(n: usize, seed: u64) -> Split {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let test_len = (n * 2).div_ceil(10);
    let rest = n - test_len;
    let validation_len = (rest * 2).div_ceil(10);
    let test = order[..test_len].to_vec();
    let validation = order[test_len..test_len + validation_len].to_vec();
    let train = order[test_len + validation_len..].to_vec();
    Split {
        train,
        validation,
        test,
    }
}

/// Splits, scales, encodes and trains; `on_epoch` hears about each epoch as it ends.
pub fn fit(
    rows: &[WatchRow],
    config: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Fitted, TrainError> {
    check_config(config)?;
    if rows.is_empty() {
        return Err(TrainError::Empty);
    }
    let labels = LabelEncoder::fit(rows.iter().map(|r| r.content_id));
    if labels.len() < 2 {
        return Err(TrainError::SingleClass(labels.classes()[0]));
    }
    let parts = split(rows.len(), config.seed);
    if parts.train.is_empty() || parts.validation.is_empty() || parts.test.is_empty() {
        return Err(TrainError::TooFewRows(rows.len()));
    }

    let raw = |index: &usize| {
        let row = &rows[*index];
        feature_row(row.rating, row.popularity, row.watch_seconds)
    };
    let scaler = Scaler::fit(&parts.train.iter().map(raw).collect::<Vec<_>>());
    let dataset = |indices: &[usize]| {
        let mut features = Array2::<f32>::zeros((indices.len(), FEATURES));
        let mut targets = Vec::with_capacity(indices.len());
        for (mut out, index) in features.rows_mut().into_iter().zip(indices) {
            out.assign(&Array1::from(scaler.transform(raw(index)).to_vec()));
            let class = labels
                .index_of(rows[*index].content_id)
                .expect("every content id of the log is a class");
            targets.push(class);
        }
        (features, targets)
    };
    let (train_x, train_y) = dataset(&parts.train);
    let (val_x, val_y) = dataset(&parts.validation);

    let mut rng = Rng::new(config.seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut mlp = Mlp::he(FEATURES, config.hidden as usize, labels.len(), &mut rng);
    let epochs = train_network(
        &mut mlp,
        (train_x.view(), &train_y),
        (val_x.view(), &val_y),
        config,
        &mut rng,
        on_epoch,
    );

    let test =
        metrics::classification(&mlp, &scaler, &labels, parts.test.iter().map(|&i| &rows[i]));
    Ok(Fitted {
        scaler,
        labels,
        mlp,
        epochs,
        test,
        split_sizes: [parts.train.len(), parts.validation.len(), parts.test.len()],
    })
}

/// Trains `mlp` in place on standardised rows; returns one report per epoch.
///
/// This is the benchmarked hot loop: every buffer is allocated once, and each batch does
/// five matrix products (forward 2, backward 3; the first layer's are tiny).
///
/// The learning rate follows [`schedule`]: with only about 100 steps on a one-page log, large
/// early steps find the classes quickly and small late ones settle the boundaries between
/// movies whose features are close.
pub fn train_network(
    mlp: &mut Mlp,
    (train_x, train_y): (ArrayView2<f32>, &[usize]),
    (val_x, val_y): (ArrayView2<f32>, &[usize]),
    config: &TrainConfig,
    rng: &mut Rng,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Vec<EpochReport> {
    let batch = (config.batch_size as usize).max(1);
    let (inputs, hidden, classes) = (mlp.inputs(), mlp.hidden(), mlp.classes());
    let mut buffers = Buffers::new(batch, inputs, hidden, classes);
    let mut optimizer = OptimizerState::new(mlp, config);
    let mut order: Vec<usize> = (0..train_y.len()).collect();
    let mut reports = Vec::with_capacity(config.epochs as usize);
    let total_steps = (config.epochs as usize * order.len().div_ceil(batch)).max(1);
    let mut steps_done = 0usize;

    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0f64;
        let mut correct = 0usize;
        for chunk in order.chunks(batch) {
            let b = chunk.len();
            let mut x = buffers.x.slice_mut(s![..b, ..]);
            for (mut row, &index) in x.rows_mut().into_iter().zip(chunk) {
                row.assign(&train_x.row(index));
            }
            let targets: Vec<usize> = chunk.iter().map(|&i| train_y[i]).collect();
            let (loss, right) = buffers.forward(mlp, b, &targets);
            loss_sum += loss;
            correct += right;
            buffers.backward(mlp, b, &targets);
            let factor = schedule(steps_done, total_steps);
            optimizer.step(mlp, &buffers, config.learning_rate * factor as f32);
            steps_done += 1;
        }
        let n = train_y.len().max(1) as f64;
        let (val_loss, val_accuracy) = evaluate_batched(mlp, val_x, val_y, &mut buffers);
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

/// Share of the run spent warming up.
const WARMUP: f64 = 0.1;

/// The learning-rate factor of step `step` (from 0) of `total`: a linear warm-up over the
/// first tenth of the steps, then a half cosine from 1 down to 0. The warm-up keeps Adam's
/// first, poorly estimated steps from throwing the network far off.
pub fn schedule(step: usize, total: usize) -> f64 {
    let total = total.max(1) as f64;
    let progress = step as f64 / total;
    if progress < WARMUP {
        ((step as f64 + 1.0) / (WARMUP * total)).min(1.0)
    } else {
        let cooling = (progress - WARMUP) / (1.0 - WARMUP);
        0.5 * (1.0 + (std::f64::consts::PI * cooling).cos())
    }
}

fn check_config(config: &TrainConfig) -> Result<(), TrainError> {
    let bad = |message: String| Err(TrainError::Config(message));
    if config.epochs == 0 {
        return bad("epochs must be at least 1".into());
    }
    if config.hidden == 0 {
        return bad("hidden must be at least 1".into());
    }
    if config.batch_size == 0 {
        return bad("batch size must be at least 1".into());
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return bad(format!(
            "learning rate {} must be a positive number",
            config.learning_rate
        ));
    }
    Ok(())
}

/// Mean loss and accuracy over a labelled set, batched through the training forward pass.
fn evaluate_batched(
    mlp: &Mlp,
    features: ArrayView2<f32>,
    targets: &[usize],
    buffers: &mut Buffers,
) -> (f64, f64) {
    if targets.is_empty() {
        return (0.0, 0.0);
    }
    let batch = buffers.x.nrows();
    let (mut loss, mut correct) = (0.0, 0);
    for start in (0..targets.len()).step_by(batch) {
        let end = (start + batch).min(targets.len());
        let b = end - start;
        buffers
            .x
            .slice_mut(s![..b, ..])
            .assign(&features.slice(s![start..end, ..]));
        let (l, c) = buffers.forward(mlp, b, &targets[start..end]);
        loss += l;
        correct += c;
    }
    let n = targets.len() as f64;
    (loss / n, correct as f64 / n)
}

/// Activations and gradients for one mini-batch, allocated once per run.
struct Buffers {
    x: Array2<f32>,
    hidden: Array2<f32>,
    probabilities: Array2<f32>,
    grad_hidden: Array2<f32>,
    grad_w1: Array2<f32>,
    grad_b1: Array1<f32>,
    grad_w2: Array2<f32>,
    grad_b2: Array1<f32>,
}

impl Buffers {
    fn new(batch: usize, inputs: usize, hidden: usize, classes: usize) -> Buffers {
        Buffers {
            x: Array2::zeros((batch, inputs)),
            hidden: Array2::zeros((batch, hidden)),
            probabilities: Array2::zeros((batch, classes)),
            grad_hidden: Array2::zeros((batch, hidden)),
            grad_w1: Array2::zeros((inputs, hidden)),
            grad_b1: Array1::zeros(hidden),
            grad_w2: Array2::zeros((hidden, classes)),
            grad_b2: Array1::zeros(classes),
        }
    }

    /// Forward pass on the first `b` rows of `x`; returns summed cross-entropy and hits.
    fn forward(&mut self, mlp: &Mlp, b: usize, targets: &[usize]) -> (f64, usize) {
        let x = self.x.slice(s![..b, ..]);
        let mut hidden = self.hidden.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &x, &mlp.w1, 0.0, &mut hidden);
        for mut row in hidden.rows_mut() {
            Zip::from(&mut row)
                .and(&mlp.b1)
                .for_each(|h, bias| *h = (*h + bias).max(0.0));
        }
        let mut probabilities = self.probabilities.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &hidden, &mlp.w2, 0.0, &mut probabilities);
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (mut row, &target) in probabilities.rows_mut().into_iter().zip(targets) {
            let row = row.as_slice_mut().expect("buffer rows are contiguous");
            for (logit, bias) in row.iter_mut().zip(&mlp.b2) {
                *logit += bias;
            }
            let max = lane_max(row);
            let argmax = row.iter().position(|&v| v == max).unwrap_or(0);
            correct += usize::from(argmax == target);
            // Two loops: a running sum in the same loop would keep it from vectorising.
            for v in row.iter_mut() {
                *v = fast_exp(*v - max);
            }
            let sum = lane_sum(row);
            let inverse = 1.0 / sum;
            for v in row.iter_mut() {
                *v *= inverse;
            }
            loss -= f64::from(row[target].max(1e-12)).ln();
        }
        (loss, correct)
    }

    /// Backward pass for the batch `forward` just saw: fills the gradient buffers.
    fn backward(&mut self, mlp: &Mlp, b: usize, targets: &[usize]) {
        let scale = 1.0 / b as f32;
        // dL/dlogits of mean cross-entropy over softmax: (p - onehot) / b.
        let mut grad_logits = self.probabilities.slice_mut(s![..b, ..]);
        for (mut row, &target) in grad_logits.rows_mut().into_iter().zip(targets) {
            row[target] -= 1.0;
            row.mapv_inplace(|g| g * scale);
        }
        let grad_logits = grad_logits.view();
        let hidden = self.hidden.slice(s![..b, ..]);
        general_mat_mul(1.0, &hidden.t(), &grad_logits, 0.0, &mut self.grad_w2);
        self.grad_b2.assign(&grad_logits.sum_axis(Axis(0)));

        let mut grad_hidden = self.grad_hidden.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &grad_logits, &mlp.w2.t(), 0.0, &mut grad_hidden);
        // ReLU: the gradient passes where the activation was positive.
        Zip::from(&mut grad_hidden).and(&hidden).for_each(|g, h| {
            if *h <= 0.0 {
                *g = 0.0
            }
        });
        let x = self.x.slice(s![..b, ..]);
        general_mat_mul(1.0, &x.t(), &grad_hidden, 0.0, &mut self.grad_w1);
        self.grad_b1.assign(&grad_hidden.sum_axis(Axis(0)));
    }
}

/// Width of the explicit lanes below: LLVM keeps a float reduction in order (it may not
/// reassociate), so a reduction only vectorises when the lanes are written out.
const LANES: usize = 8;

/// The largest value (training only: the lane order differs from a sequential scan).
fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// The sum, in a fixed lane order (training only).
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().chain(rest).sum()
}

/// `e^x` for `x <= 0`, within 1e-5 relative error, in straight-line code that vectorises
/// (the platform's `expf` is a call per element). Training only: ranking uses `libm::expf`
/// so that every platform agrees to the bit.
#[inline]
fn fast_exp(x: f32) -> f32 {
    // e^x = 2^t with t = x·log2(e) = n + f, n an integer and f in [-0.5, 0.5].
    let t = (x * std::f32::consts::LOG2_E).max(-126.0);
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without SSE4.1's roundps.
    let n = (t + 12_582_912.0) - 12_582_912.0;
    let f = t - n;
    // Cephes' exp2f polynomial for 2^f on [-0.5, 0.5].
    let p = 1.535_336_2e-4;
    let p = p * f + 1.339_887_4e-3;
    let p = p * f + 9.618_437e-3;
    let p = p * f + 5.550_332_5e-2;
    let p = p * f + 2.402_264_8e-1;
    let p = p * f + 6.931_472e-1;
    let two_to_f = p * f + 1.0;
    let two_to_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    two_to_f * two_to_n
}

/// Optimiser moments (Adam) and step count.
struct OptimizerState {
    optimizer: Optimizer,
    step: i32,
    moments: Option<[(Array2<f32>, Array2<f32>); 4]>,
}

impl OptimizerState {
    fn new(mlp: &Mlp, config: &TrainConfig) -> OptimizerState {
        let zeros = |rows, cols| (Array2::zeros((rows, cols)), Array2::zeros((rows, cols)));
        let (i, h, c) = (mlp.inputs(), mlp.hidden(), mlp.classes());
        OptimizerState {
            optimizer: config.optimizer,
            step: 0,
            moments: (config.optimizer == Optimizer::Adam)
                .then(|| [zeros(i, h), zeros(1, h), zeros(h, c), zeros(1, c)]),
        }
    }

    fn step(&mut self, mlp: &mut Mlp, grads: &Buffers, lr: f32) {
        self.step += 1;
        let params = [
            mlp.w1.view_mut(),
            mlp.b1.view_mut().insert_axis(Axis(0)),
            mlp.w2.view_mut(),
            mlp.b2.view_mut().insert_axis(Axis(0)),
        ];
        let gradients = [
            grads.grad_w1.view(),
            grads.grad_b1.view().insert_axis(Axis(0)),
            grads.grad_w2.view(),
            grads.grad_b2.view().insert_axis(Axis(0)),
        ];
        match (&mut self.moments, self.optimizer) {
            (Some(moments), Optimizer::Adam) => {
                const BETA1: f32 = 0.9;
                const BETA2: f32 = 0.999;
                const EPSILON: f32 = 1e-8;
                const TINY: f32 = 1e-30;
                let correction1 = 1.0 - BETA1.powi(self.step);
                let correction2 = 1.0 - BETA2.powi(self.step);
                let step_size = lr * correction2.sqrt() / correction1;
                for ((param, gradient), (m, v)) in
                    params.into_iter().zip(gradients).zip(moments.iter_mut())
                {
                    Zip::from(param)
                        .and(&gradient)
                        .and(m)
                        .and(v)
                        .for_each(|p, &g, m, v| {
                            // Moments of units that stopped receiving gradient decay towards
                            // subnormal floats, which cost x86 a microcode assist per
                            // operation (it halved training speed): flush them to zero.
                            let m_next = BETA1 * *m + (1.0 - BETA1) * g;
                            *m = if m_next.abs() < TINY { 0.0 } else { m_next };
                            let v_next = BETA2 * *v + (1.0 - BETA2) * g * g;
                            *v = if v_next < TINY { 0.0 } else { v_next };
                            *p -= step_size * *m / (v.sqrt() + EPSILON);
                        });
                }
            }
            _ => {
                for (param, gradient) in params.into_iter().zip(gradients) {
                    Zip::from(param)
                        .and(&gradient)
                        .for_each(|p, &g| *p -= lr * g);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(optimizer: Optimizer) -> TrainConfig {
        TrainConfig {
            epochs: 30,
            hidden: 16,
            batch_size: 8,
            optimizer,
            learning_rate: optimizer.default_learning_rate(),
            seed: 3,
        }
    }

    /// Three movies whose ratings alone separate them.
    fn separable_rows() -> Vec<WatchRow> {
        (0..120)
            .map(|i| {
                let movie = (i % 3) as u64;
                WatchRow {
                    user_id: i as u64,
                    content_id: 100 + movie,
                    watch_seconds: 100.0 * (i % 7) as f64,
                    rating: 3.0 + 2.0 * movie as f64,
                    popularity: 50.0,
                }
            })
            .collect()
    }

    #[test]
    fn split_is_64_16_20_and_covers_every_row_once() {
        let parts = split(1022, 9);
        assert_eq!(
            (parts.train.len(), parts.validation.len(), parts.test.len()),
            (653, 164, 205)
        );
        let mut all: Vec<usize> = [parts.train, parts.validation, parts.test].concat();
        all.sort();
        assert_eq!(all, (0..1022).collect::<Vec<_>>());
        assert_eq!(split(50, 1), split(50, 1));
        assert_ne!(split(50, 1), split(50, 2));
    }

    #[test]
    fn both_optimizers_learn_a_separable_problem() {
        for optimizer in [Optimizer::Sgd, Optimizer::Adam] {
            let fitted = fit(&separable_rows(), &config(optimizer), &mut |_| {}).unwrap();
            let first = &fitted.epochs[0];
            let last = fitted.epochs.last().unwrap();
            assert!(last.train_loss < first.train_loss, "{optimizer:?}");
            assert_eq!(fitted.test.accuracy, 1.0, "{optimizer:?}");
        }
    }

    #[test]
    fn same_seed_same_network() {
        let a = fit(&separable_rows(), &config(Optimizer::Adam), &mut |_| {}).unwrap();
        let b = fit(&separable_rows(), &config(Optimizer::Adam), &mut |_| {}).unwrap();
        assert_eq!(a.mlp, b.mlp);
        assert_eq!(a.epochs, b.epochs);
    }

    #[test]
    fn fast_exp_is_close_to_exp_over_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let x = -87.0 * i as f64 / 100_000.0;
            let exact = (x as f32 as f64).exp();
            let relative = ((fast_exp(x as f32) as f64) - exact).abs() / exact;
            worst = worst.max(relative);
        }
        assert!(worst < 1e-5, "worst relative error {worst}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(-1000.0) < 1e-37);
    }

    #[test]
    fn schedule_warms_up_then_cools_to_zero() {
        assert!((schedule(0, 100) - 0.1).abs() < 1e-12);
        assert!((schedule(9, 100) - 1.0).abs() < 1e-12);
        assert!((schedule(10, 100) - 1.0).abs() < 1e-12);
        assert!((schedule(55, 100) - 0.5).abs() < 1e-12);
        assert!(schedule(99, 100) < 1e-3);
        let steps: Vec<f64> = (0..100).map(|i| schedule(i, 100)).collect();
        assert!(steps[..10].windows(2).all(|w| w[0] < w[1]), "rises");
        assert_eq!(schedule(0, 0), 1.0, "a single step runs at the peak");
        assert!(steps[10..].windows(2).all(|w| w[0] > w[1]), "falls");
    }

    #[test]
    fn lane_reductions_match_plain_ones() {
        let values: Vec<f32> = (0..203).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
        assert_eq!(lane_max(&values), 50.0);
        assert_eq!(lane_sum(&values), values.iter().sum::<f32>());
        assert_eq!(lane_max(&[-3.0]), -3.0);
        assert_eq!(lane_sum(&[]), 0.0);
    }

    /// Finite differences on a tiny network agree with the hand-written backward pass.
    #[test]
    fn backward_pass_matches_finite_differences() {
        let mut rng = Rng::new(11);
        let mlp = Mlp::he(3, 4, 3, &mut rng);
        let x = Array2::from_shape_fn((2, 3), |(r, c)| (r as f32 - 0.5) * (c as f32 + 1.0));
        let targets = [2usize, 0];
        let mut buffers = Buffers::new(2, 3, 4, 3);
        buffers.x.assign(&x);
        buffers.forward(&mlp, 2, &targets);
        buffers.backward(&mlp, 2, &targets);
        let loss = |m: &Mlp| {
            let mut b = Buffers::new(2, 3, 4, 3);
            b.x.assign(&x);
            b.forward(m, 2, &targets).0 / 2.0
        };
        let epsilon = 1e-3f32;
        type Weights = fn(&mut Mlp) -> &mut Array2<f32>;
        type Layer<'a> = (&'a str, Weights, &'a Array2<f32>, &'a [(usize, usize)]);
        let layers: [Layer; 2] = [
            (
                "w1",
                |m| &mut m.w1,
                &buffers.grad_w1,
                &[(0, 0), (1, 2), (2, 3)],
            ),
            ("w2", |m| &mut m.w2, &buffers.grad_w2, &[(0, 0), (3, 1)]),
        ];
        for (name, weights, gradient, points) in layers {
            for &point in points {
                let (mut plus, mut minus) = (mlp.clone(), mlp.clone());
                weights(&mut plus)[point] += epsilon;
                weights(&mut minus)[point] -= epsilon;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * epsilon as f64);
                let analytic = gradient[point] as f64;
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "{name}{point:?}: {numeric} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn refuses_logs_it_cannot_learn_from() {
        let rows = separable_rows();
        let cfg = config(Optimizer::Adam);
        assert_eq!(fit(&[], &cfg, &mut |_| {}).unwrap_err(), TrainError::Empty);
        let single: Vec<WatchRow> = rows
            .iter()
            .filter(|r| r.content_id == 100)
            .copied()
            .collect();
        assert_eq!(
            fit(&single, &cfg, &mut |_| {}).unwrap_err().to_string(),
            "the watch log has a single content id (100); a ranking needs at least two"
        );
        assert_eq!(
            fit(&rows[..2], &cfg, &mut |_| {}).unwrap_err(),
            TrainError::TooFewRows(2)
        );
        let zero_lr = TrainConfig {
            learning_rate: 0.0,
            ..cfg
        };
        assert!(matches!(
            fit(&rows, &zero_lr, &mut |_| {}),
            Err(TrainError::Config(_))
        ));
    }
}
