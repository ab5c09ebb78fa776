//! The batched kernels of training, for one shard of the output classes.
//!
//! Training splits the output layer's classes into two shards, one per thread (see
//! `epochs`). Each shard holds its columns of the output weights and its own copy of the
//! small first layer, runs the forward and backward passes of a mini-batch with ndarray's
//! matrix products (fast, and allowed to differ in the last bit between machines; the ranking
//! never uses them), and exchanges with the other shard only two small things per batch: each
//! row's softmax max and sum ([`RowStats`]) and its part of the hidden layer's gradient. Both
//! are combined in shard order, so the result never depends on which thread came first.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};

use cinerec_core::Optimizer;

use crate::network::Network;
use crate::optimizer::{Moments, Step};
use crate::wide::{fast_exp, first_index_of, lane_max, lane_sum, wide};

/// One row's softmax over one shard's classes: the largest logit, the sum of `e^(l − max)`,
/// and the (global) class of the largest logit (the first, on a tie).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RowStats {
    max: f32,
    sum: f32,
    best: usize,
}

/// Summed cross-entropy and right answers of a batch, over the rows a shard counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) loss: f64,
    pub(crate) correct: usize,
}

/// One shard's weights, optimiser moments and batch buffers.
pub(crate) struct Shard {
    classes: Range<usize>,
    w1: Array2<f32>,
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
    /// Moments of w1, b1, w2, b2.
    moments: [Moments; 4],
    x: Array2<f32>,
    hidden: Array2<f32>,
    /// Logits, then softmax outputs, then their gradient.
    scores: Array2<f32>,
    grad_hidden: Array2<f32>,
    grad_w1: Array2<f32>,
    grad_b1: Array1<f32>,
    grad_w2: Array2<f32>,
    grad_b2: Array1<f32>,
}

impl Shard {
    /// The shard of `network` that owns output classes `classes`, for batches of `batch`.
    pub(crate) fn new(
        network: &Network,
        classes: Range<usize>,
        batch: usize,
        optimizer: Optimizer,
    ) -> Shard {
        let (inputs, hidden) = (network.inputs(), network.hidden());
        let width = classes.len();
        let w2 = network.w2.slice(s![.., classes.clone()]).to_owned();
        let b2 = network.b2.slice(s![classes.clone()]).to_owned();
        Shard {
            moments: [inputs * hidden, hidden, hidden * width, width]
                .map(|len| Moments::new(len, optimizer)),
            classes,
            w1: network.w1.clone(),
            b1: network.b1.clone(),
            w2,
            b2,
            x: Array2::zeros((batch, inputs)),
            hidden: Array2::zeros((batch, hidden)),
            scores: Array2::zeros((batch, width)),
            grad_hidden: Array2::zeros((batch, hidden)),
            grad_w1: Array2::zeros((inputs, hidden)),
            grad_b1: Array1::zeros(hidden),
            grad_w2: Array2::zeros((hidden, width)),
            grad_b2: Array1::zeros(width),
        }
    }

    /// Writes the shard's weights back into `network` (every shard holds the same first layer).
    pub(crate) fn write_back(&self, network: &mut Network) {
        network.w1.assign(&self.w1);
        network.b1.assign(&self.b1);
        network
            .w2
            .slice_mut(s![.., self.classes.clone()])
            .assign(&self.w2);
        network
            .b2
            .slice_mut(s![self.classes.clone()])
            .assign(&self.b2);
    }

    /// A buffer for this shard's part of the hidden gradient (exchanged with the other shard).
    pub(crate) fn hidden_gradient_buffer(&self) -> Array2<f32> {
        Array2::zeros(self.grad_hidden.raw_dim())
    }

    /// Copies the given rows of `features` into the batch.
    pub(crate) fn load(&mut self, features: ArrayView2<f32>, rows: &[usize]) {
        for (mut out, &row) in self.x.rows_mut().into_iter().zip(rows) {
            out.assign(&features.row(row));
        }
    }

    /// Forward pass over the first `b` rows: logits of this shard's classes, turned into
    /// `e^(l − max)` in place, and each row's [`RowStats`] written into `stats`.
    pub(crate) fn forward(&mut self, b: usize, stats: &mut [RowStats]) {
        let x = self.x.slice(s![..b, ..]);
        let mut hidden = self.hidden.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &x, &self.w1, 0.0, &mut hidden);
        relu_rows(rows(&mut hidden), slice(&self.b1));
        let mut scores = self.scores.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &hidden, &self.w2, 0.0, &mut scores);
        softmax_rows(
            rows(&mut scores),
            slice(&self.b2),
            &mut stats[..b],
            self.classes.start,
        );
    }

    /// Completes the softmax of the first `b` rows with both shards' [`RowStats`] (in shard
    /// order); counts the loss of the rows whose target is in this shard, and the first shard
    /// counts right answers. With `gradient`, leaves `(p − onehot) / b` in the scores.
    pub(crate) fn finish(
        &mut self,
        b: usize,
        shards: [&[RowStats]; 2],
        targets: &[usize],
        gradient: bool,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let first_shard = self.classes.start == 0;
        let mut factors = [0.0f32; MAX_BATCH_ON_STACK];
        let mut factors_heap = Vec::new();
        let factors = if b <= MAX_BATCH_ON_STACK {
            &mut factors[..b]
        } else {
            factors_heap.resize(b, 0.0);
            &mut factors_heap[..]
        };
        for (row, (factor, &target)) in factors.iter_mut().zip(targets).enumerate() {
            let (first, second) = (shards[0][row], shards[1][row]);
            let max = first.max.max(second.max);
            let total =
                first.sum * fast_exp(first.max - max) + second.sum * fast_exp(second.max - max);
            let own = if first_shard { first } else { second };
            *factor = fast_exp(own.max - max) / total;
            if first_shard {
                let best = if second.max > first.max {
                    second.best
                } else {
                    first.best
                };
                outcome.correct += usize::from(best == target);
            }
        }
        let width = self.classes.len();
        let mut scores = self.scores.slice_mut(s![..b, ..]);
        let scores = rows(&mut scores);
        scale_rows(scores, width, factors);
        for (row, &target) in scores.chunks_exact_mut(width).zip(targets) {
            if let Some(column) = target
                .checked_sub(self.classes.start)
                .filter(|c| *c < width)
            {
                outcome.loss -= f64::from(row[column].max(1e-12)).ln();
                if gradient {
                    row[column] -= 1.0;
                }
            }
        }
        if gradient {
            // dL/dlogits of mean cross-entropy over softmax: (p − onehot) / b.
            scale_all(scores, 1.0 / b as f32);
        }
        outcome
    }

    /// Backward pass through this shard's output layer: its weight gradients, and its part of
    /// the hidden layer's gradient written into `grad_hidden_part`.
    pub(crate) fn backward(&mut self, b: usize, grad_hidden_part: &mut Array2<f32>) {
        let grad_logits = self.scores.slice(s![..b, ..]);
        let hidden = self.hidden.slice(s![..b, ..]);
        general_mat_mul(1.0, &hidden.t(), &grad_logits, 0.0, &mut self.grad_w2);
        self.grad_b2.assign(&grad_logits.sum_axis(Axis(0)));
        let mut part = grad_hidden_part.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &grad_logits, &self.w2.t(), 0.0, &mut part);
    }

    /// Updates this shard's output weights.
    pub(crate) fn step_output(&mut self, step: &Step) {
        let [_, _, moments_w2, moments_b2] = &mut self.moments;
        step.apply(
            as_slice(&mut self.w2),
            as_slice(&mut self.grad_w2),
            moments_w2,
        );
        step.apply(
            self.b2.as_slice_mut().expect("contiguous"),
            self.grad_b2.as_slice().expect("contiguous"),
            moments_b2,
        );
    }

    /// Sums both shards' parts of the hidden gradient (in shard order), back-propagates through
    /// the ReLU and the first layer, and updates this shard's copy of it. Every shard does the
    /// same arithmetic on the same numbers, so every copy stays identical.
    pub(crate) fn step_input(&mut self, b: usize, parts: [&Array2<f32>; 2], step: &Step) {
        let n = b * self.hidden.ncols();
        let grad_hidden = &mut self.grad_hidden.as_slice_mut().expect("standard layout")[..n];
        relu_gradient(
            grad_hidden,
            leading(parts[0], n),
            leading(parts[1], n),
            leading(&self.hidden, n),
        );
        let grad_hidden = self.grad_hidden.slice(s![..b, ..]);
        let x = self.x.slice(s![..b, ..]);
        general_mat_mul(1.0, &x.t(), &grad_hidden, 0.0, &mut self.grad_w1);
        self.grad_b1.assign(&grad_hidden.sum_axis(Axis(0)));
        let [moments_w1, moments_b1, _, _] = &mut self.moments;
        step.apply(
            as_slice(&mut self.w1),
            as_slice(&mut self.grad_w1),
            moments_w1,
        );
        step.apply(
            self.b1.as_slice_mut().expect("contiguous"),
            self.grad_b1.as_slice().expect("contiguous"),
            moments_b1,
        );
    }
}

/// Batches up to this size keep their per-row factors on the stack.
const MAX_BATCH_ON_STACK: usize = 256;

fn as_slice(matrix: &mut Array2<f32>) -> &mut [f32] {
    matrix
        .as_slice_mut()
        .expect("weights and gradients are kept in standard layout")
}

/// The rows of a leading block of a buffer, as one slice.
fn rows<'a>(block: &'a mut ndarray::ArrayViewMut2<'_, f32>) -> &'a mut [f32] {
    block
        .as_slice_mut()
        .expect("a leading block of rows is contiguous")
}

/// The first `n` values of a buffer in standard layout.
fn leading(matrix: &Array2<f32>, n: usize) -> &[f32] {
    &matrix
        .as_slice()
        .expect("buffers are kept in standard layout")[..n]
}

fn slice(vector: &Array1<f32>) -> &[f32] {
    vector.as_slice().expect("vectors are contiguous")
}

wide! {
    /// `h = max(h + bias, 0)` for each row (`bias.len()` wide).
    fn relu_rows(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (h, b) in row.iter_mut().zip(bias) {
                *h = (*h + b).max(0.0);
            }
        }
    }
}

wide! {
    /// Adds the bias to each row of logits, turns it into `e^(l − max)` and records its
    /// [`RowStats`] (`first_class` is the global class of the first column).
    fn softmax_rows(rows: &mut [f32], bias: &[f32], stats: &mut [RowStats], first_class: usize) {
        for (row, stats) in rows.chunks_exact_mut(bias.len()).zip(stats) {
            for (logit, b) in row.iter_mut().zip(bias) {
                *logit += b;
            }
            let max = lane_max(row);
            let best = first_class + first_index_of(row, max);
            // Two loops: a running sum in the same loop would keep it from vectorising.
            for v in row.iter_mut() {
                *v = fast_exp(*v - max);
            }
            *stats = RowStats {
                max,
                sum: lane_sum(row),
                best,
            };
        }
    }
}

wide! {
    /// Multiplies each row (`width` wide) by its factor.
    fn scale_rows(rows: &mut [f32], width: usize, factors: &[f32]) {
        for (row, factor) in rows.chunks_exact_mut(width).zip(factors) {
            for v in row.iter_mut() {
                *v *= factor;
            }
        }
    }
}

wide! {
    /// Multiplies every value by `factor`.
    fn scale_all(values: &mut [f32], factor: f32) {
        for v in values.iter_mut() {
            *v *= factor;
        }
    }
}

wide! {
    /// `first + second` where the ReLU let the activation through, 0 elsewhere.
    fn relu_gradient(out: &mut [f32], first: &[f32], second: &[f32], hidden: &[f32]) {
        let n = out.len();
        let (first, second, hidden) = (&first[..n], &second[..n], &hidden[..n]);
        for i in 0..n {
            out[i] = if hidden[i] > 0.0 { first[i] + second[i] } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    /// Both shards of one batch on one thread, in the order the two threads keep: the mean
    /// loss, and the gradients of w1 and w2 (put back together), before any update.
    fn batch(
        network: &Network,
        x: &Array2<f32>,
        targets: &[usize],
    ) -> (f64, Array2<f32>, Array2<f32>) {
        let (b, classes) = (x.nrows(), network.classes());
        let half = classes / 2;
        let mut shards =
            [0..half, half..classes].map(|range| Shard::new(network, range, b, Optimizer::Sgd));
        let mut stats = [vec![RowStats::default(); b], vec![RowStats::default(); b]];
        let rows: Vec<usize> = (0..b).collect();
        for (shard, stats) in shards.iter_mut().zip(&mut stats) {
            shard.load(x.view(), &rows);
            shard.forward(b, stats);
        }
        let mut loss = 0.0;
        let mut parts = [
            shards[0].hidden_gradient_buffer(),
            shards[1].hidden_gradient_buffer(),
        ];
        for (shard, part) in shards.iter_mut().zip(&mut parts) {
            loss += shard.finish(b, [&stats[0], &stats[1]], targets, true).loss;
            shard.backward(b, part);
        }
        // A zero step leaves the weights alone but fills the first layer's gradient.
        shards[0].step_input(
            b,
            [&parts[0], &parts[1]],
            &Step::new(Optimizer::Sgd, 1, 0.0),
        );
        let mut grad_w2 = Array2::zeros((network.hidden(), classes));
        for shard in &shards {
            grad_w2
                .slice_mut(s![.., shard.classes.clone()])
                .assign(&shard.grad_w2);
        }
        (loss / b as f64, shards[0].grad_w1.clone(), grad_w2)
    }

    /// Finite differences on a tiny network agree with the sharded backward pass.
    #[test]
    fn backward_pass_matches_finite_differences() {
        let network = Network::he(3, 4, 5, &mut Rng::new(11));
        let x = Array2::from_shape_fn((2, 3), |(r, c)| (r as f32 - 0.5) * (c as f32 + 1.0));
        let targets = [4usize, 0];
        let (_, grad_w1, grad_w2) = batch(&network, &x, &targets);
        let epsilon = 1e-3f32;
        type Weights = fn(&mut Network) -> &mut Array2<f32>;
        type Layer<'a> = (&'a str, Weights, &'a Array2<f32>, &'a [(usize, usize)]);
        let layers: [Layer; 2] = [
            ("w1", |n| &mut n.w1, &grad_w1, &[(0, 0), (1, 2), (2, 3)]),
            ("w2", |n| &mut n.w2, &grad_w2, &[(0, 0), (3, 1), (2, 4)]),
        ];
        for (name, weights, gradient, points) in layers {
            for &point in points {
                let (mut plus, mut minus) = (network.clone(), network.clone());
                weights(&mut plus)[point] += epsilon;
                weights(&mut minus)[point] -= epsilon;
                let numeric = (batch(&plus, &x, &targets).0 - batch(&minus, &x, &targets).0)
                    / (2.0 * epsilon as f64);
                let analytic = gradient[point] as f64;
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "{name}{point:?}: {numeric} vs {analytic}"
                );
            }
        }
    }

    /// The two shards' softmax, put together, is the softmax of the whole row.
    #[test]
    fn sharded_softmax_is_the_whole_softmax() {
        let network = Network::he(3, 8, 7, &mut Rng::new(5));
        let x = Array2::from_shape_fn((3, 3), |(r, c)| r as f32 - c as f32 * 0.7);
        let mut shards = [0..3, 3..7].map(|range| Shard::new(&network, range, 3, Optimizer::Adam));
        let mut stats = [vec![RowStats::default(); 3], vec![RowStats::default(); 3]];
        for (shard, stats) in shards.iter_mut().zip(&mut stats) {
            shard.load(x.view(), &[0, 1, 2]);
            shard.forward(3, stats);
        }
        for shard in &mut shards {
            shard.finish(3, [&stats[0], &stats[1]], &[0, 6, 3], false);
        }
        let mlp = network.to_mlp().unwrap();
        for row in 0..3 {
            let mut expected = [0.0f32; 7];
            mlp.probabilities(&x.row(row).to_vec(), &mut expected);
            let got: Vec<f32> = shards
                .iter()
                .flat_map(|s| s.scores.row(row).to_vec())
                .collect();
            for (g, e) in got.iter().zip(expected) {
                assert!((g - e).abs() < 1e-5, "row {row}: {got:?} vs {expected:?}");
            }
        }
    }
}
