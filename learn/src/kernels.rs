//! The batched kernels of training: forward and backward passes over a mini-batch with
//! ndarray's matrix products (fast, and allowed to differ in the last bit between machines;
//! the ranking never uses them), and the vectorisable softmax pieces they need.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView2, Axis, Zip};

use crate::network::Network;

/// Mean loss and accuracy over a labelled set, batched through the training forward pass.
pub(crate) fn evaluate_batched(
    network: &Network,
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
        let (l, c) = buffers.forward(network, b, &targets[start..end]);
        loss += l;
        correct += c;
    }
    let n = targets.len() as f64;
    (loss / n, correct as f64 / n)
}

/// Activations and gradients for one mini-batch, allocated once per run.
pub(crate) struct Buffers {
    pub(crate) x: Array2<f32>,
    pub(crate) hidden: Array2<f32>,
    pub(crate) probabilities: Array2<f32>,
    pub(crate) grad_hidden: Array2<f32>,
    pub(crate) grad_w1: Array2<f32>,
    pub(crate) grad_b1: Array1<f32>,
    pub(crate) grad_w2: Array2<f32>,
    pub(crate) grad_b2: Array1<f32>,
}

impl Buffers {
    pub(crate) fn new(batch: usize, inputs: usize, hidden: usize, classes: usize) -> Buffers {
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
    pub(crate) fn forward(
        &mut self,
        network: &Network,
        b: usize,
        targets: &[usize],
    ) -> (f64, usize) {
        let x = self.x.slice(s![..b, ..]);
        let mut hidden = self.hidden.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &x, &network.w1, 0.0, &mut hidden);
        for mut row in hidden.rows_mut() {
            Zip::from(&mut row)
                .and(&network.b1)
                .for_each(|h, bias| *h = (*h + bias).max(0.0));
        }
        let mut probabilities = self.probabilities.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &hidden, &network.w2, 0.0, &mut probabilities);
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (mut row, &target) in probabilities.rows_mut().into_iter().zip(targets) {
            let row = row.as_slice_mut().expect("buffer rows are contiguous");
            for (logit, bias) in row.iter_mut().zip(&network.b2) {
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
    pub(crate) fn backward(&mut self, network: &Network, b: usize, targets: &[usize]) {
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
        general_mat_mul(1.0, &grad_logits, &network.w2.t(), 0.0, &mut grad_hidden);
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
/// (the platform's `expf` is a call per element). Training only: the ranking uses core's own
/// exp, which every platform computes to the same bit.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

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
        let network = Network::he(3, 4, 3, &mut rng);
        let x = Array2::from_shape_fn((2, 3), |(r, c)| (r as f32 - 0.5) * (c as f32 + 1.0));
        let targets = [2usize, 0];
        let mut buffers = Buffers::new(2, 3, 4, 3);
        buffers.x.assign(&x);
        buffers.forward(&network, 2, &targets);
        buffers.backward(&network, 2, &targets);
        let loss = |m: &Network| {
            let mut b = Buffers::new(2, 3, 4, 3);
            b.x.assign(&x);
            b.forward(m, 2, &targets).0 / 2.0
        };
        let epsilon = 1e-3f32;
        type Weights = fn(&mut Network) -> &mut Array2<f32>;
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
                let (mut plus, mut minus) = (network.clone(), network.clone());
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
}
