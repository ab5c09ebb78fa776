//! The update rules (SGD, Adam) and the learning-rate schedule.
//!
//! Updates are element-wise over flat slices, so the same code runs on every shard's part of
//! the weights, vectorised (see `wide`).

use cinerec_core::{Objective, Optimizer};

use crate::wide::wide;

/// The peak learning rate used when none is given.
///
/// Item objective: chosen by a sweep over 64 watch logs (4 real TMDB pages × 16 seeds, 10
/// epochs): with the warm-up and cosine schedule, Adam at 0.3 had the best mean and the
/// fewest runs under 0.93 test accuracy (README). Co-watch: its targets are noisy (many
/// movies follow one watch), so large steps only chase the noise; 0.01 for 40 epochs gave the
/// best ranking of held-out viewers in a sweep over taste logs (README).
pub fn default_learning_rate(optimizer: Optimizer, objective: Objective) -> f32 {
    match (optimizer, objective) {
        (Optimizer::Sgd, Objective::Item) => 0.5,
        (Optimizer::Adam, Objective::Item) => 0.3,
        (Optimizer::Sgd, Objective::CoWatch) => 0.1,
        (Optimizer::Adam, Objective::CoWatch) => 0.01,
        (Optimizer::Sgd, Objective::Next) => 0.5,
        (Optimizer::Adam, Objective::Next) => 0.003,
    }
}

/// The number of epochs used when none is given: the original's 10 for the item objective;
/// 40 for co-watch, whose many noisy pairs need more, smaller steps (see above).
pub fn default_epochs(objective: Objective) -> u32 {
    match objective {
        Objective::Item => 10,
        Objective::CoWatch => 40,
        Objective::Next => 5,
    }
}

/// The hidden width used when none is given, for a network of `classes` output classes: 64
/// for co-watch and item. For next, also the width of a movie's embedding, which `model.bin`
/// stores as binary16, `classes × width × 2` bytes, and which the page multiplies by on every
/// ranking:
/// - 64 below 1,000 movies: on the 58-movie demo catalog's taste logs 64 ranked as well as
///   128, and the page's ranking took 4.4 µs instead of 7.4 (README);
/// - otherwise the widest of 128, 64 and 32 whose embeddings fit in 1.5 MB: 128 on
///   MovieLens-100k's 1,682 movies, where it ranked better than 64 and 32 (README); 64 on a
///   9,742-movie catalog, whose model is then 1.3 MB gzipped (2 MB is the page's budget).
pub fn default_hidden(objective: Objective, classes: usize) -> u32 {
    match objective {
        Objective::Next if classes < 1_000 => 64,
        Objective::Next => [128, 64]
            .into_iter()
            .find(|&width| classes * width as usize * 2 <= EMBEDDING_BYTES)
            .unwrap_or(32),
        Objective::Item | Objective::CoWatch => 64,
    }
}

/// The most bytes a next-watch model's default width lets its embeddings take: the page
/// downloads `model.bin` (at most 2 MB gzipped, with the catalog's titles and the hidden
/// layer) before it can rank.
pub const EMBEDDING_BYTES: usize = 1_500_000;

/// Share of the run spent warming up.
const WARMUP: f64 = 0.1;

/// The learning-rate factor of step `step` (from 0) of `total`: a linear warm-up over the
/// first tenth of the steps, then a half cosine from 1 down to 0. The warm-up keeps Adam's
/// first, poorly estimated steps from throwing the network far off.
pub(crate) fn schedule(step: usize, total: usize) -> f64 {
    let total = total.max(1) as f64;
    let progress = step as f64 / total;
    if progress < WARMUP {
        ((step as f64 + 1.0) / (WARMUP * total)).min(1.0)
    } else {
        let cooling = (progress - WARMUP) / (1.0 - WARMUP);
        0.5 * (1.0 + (std::f64::consts::PI * cooling).cos())
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;
/// Moments below this are flushed to zero: moments of units that stopped receiving gradient
/// decay towards subnormal floats, which cost x86 a microcode assist per operation (it
/// halved training speed).
const TINY: f32 = 1e-30;

/// One optimiser step, the same for every tensor it is applied to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    optimizer: Optimizer,
    /// The scheduled learning rate (SGD) or Adam's bias-corrected step size.
    size: f32,
}

impl Step {
    /// Step number `step` (from 1) at learning rate `rate`.
    pub(crate) fn new(optimizer: Optimizer, step: i32, rate: f32) -> Step {
        let size = match optimizer {
            Optimizer::Sgd => rate,
            Optimizer::Adam => {
                let correction1 = 1.0 - BETA1.powi(step);
                let correction2 = 1.0 - BETA2.powi(step);
                rate * correction2.sqrt() / correction1
            }
        };
        Step { optimizer, size }
    }

    /// Updates `parameters` in place from `gradient`, keeping Adam's `moments`.
    pub(crate) fn apply(&self, parameters: &mut [f32], gradient: &[f32], moments: &mut Moments) {
        match self.optimizer {
            Optimizer::Sgd => sgd(parameters, gradient, self.size),
            Optimizer::Adam => adam(
                parameters,
                gradient,
                &mut moments.first,
                &mut moments.second,
                self.size,
            ),
        }
    }
}

/// Adam's first and second moments of one tensor (empty for SGD).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Moments {
    pub(crate) fn new(len: usize, optimizer: Optimizer) -> Moments {
        let len = if optimizer == Optimizer::Adam { len } else { 0 };
        Moments {
            first: vec![0.0; len],
            second: vec![0.0; len],
        }
    }
}

fn sgd(parameters: &mut [f32], gradient: &[f32], rate: f32) {
    for (p, g) in parameters.iter_mut().zip(gradient) {
        *p -= rate * g;
    }
}

wide! {
    fn adam(parameters: &mut [f32], gradient: &[f32], m: &mut [f32], v: &mut [f32], size: f32) {
        let n = parameters.len();
        let (gradient, m, v) = (&gradient[..n], &mut m[..n], &mut v[..n]);
        for i in 0..n {
            let g = gradient[i];
            let m_next = BETA1 * m[i] + (1.0 - BETA1) * g;
            m[i] = if m_next.abs() < TINY { 0.0 } else { m_next };
            let v_next = BETA2 * v[i] + (1.0 - BETA2) * g * g;
            v[i] = if v_next < TINY { 0.0 } else { v_next };
            parameters[i] -= size * m[i] / (v[i].sqrt() + EPSILON);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_watch_width_follows_the_catalog() {
        let width = |classes| default_hidden(Objective::Next, classes);
        assert_eq!(width(58), 64, "the demo catalog");
        assert_eq!(width(1_682), 128, "MovieLens-100k");
        assert_eq!(width(5_859), 128);
        assert_eq!(width(5_860), 64, "128 binary16 values each pass 1.5 MB");
        assert_eq!(width(9_742), 64, "MovieLens latest-small");
        assert_eq!(width(20_000), 32);
        assert_eq!(default_hidden(Objective::CoWatch, 1_682), 64);
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
    fn adam_moves_against_the_gradient_by_about_the_step_size() {
        let mut parameters = vec![1.0f32; 37];
        let gradient: Vec<f32> = (0..37)
            .map(|i| if i % 2 == 0 { 0.5 } else { -2.0 })
            .collect();
        let mut moments = Moments::new(37, Optimizer::Adam);
        Step::new(Optimizer::Adam, 1, 0.01).apply(&mut parameters, &gradient, &mut moments);
        // The first bias-corrected Adam step is the step size times the gradient's sign.
        for (p, g) in parameters.iter().zip(&gradient) {
            assert!((p - (1.0 - 0.01 * g.signum())).abs() < 1e-6, "{p} for {g}");
        }
    }

    #[test]
    fn sgd_steps_by_rate_times_gradient() {
        let mut parameters = vec![1.0f32, 2.0];
        let mut moments = Moments::new(2, Optimizer::Sgd);
        Step::new(Optimizer::Sgd, 1, 0.5).apply(&mut parameters, &[2.0, -1.0], &mut moments);
        assert_eq!(parameters, [0.0, 2.5]);
    }
}
