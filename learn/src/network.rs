//! The network as training holds it: ndarray matrices that the batched kernels multiply and
//! the optimiser updates in place. [`Network::to_mlp`] hands the result to core's checked
//! [`Mlp`], the form that serves.

use cinerec_core::{Mlp, MlpParts, ShapeError};
use ndarray::{Array1, Array2};

use crate::random::Rng;

/// Weights `[inputs][outputs]` and biases of both layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub(crate) w1: Array2<f32>,
    pub(crate) b1: Array1<f32>,
    pub(crate) w2: Array2<f32>,
    pub(crate) b2: Array1<f32>,
}

impl Network {
    /// He initialisation (normal, deviation `sqrt(2 / fan_in)`), zero biases, from `rng`.
    pub fn he(inputs: usize, hidden: usize, classes: usize, rng: &mut Rng) -> Network {
        let mut layer = |fan_in: usize, fan_out: usize| {
            let deviation = (2.0 / fan_in as f64).sqrt();
            Array2::from_shape_fn((fan_in, fan_out), |_| (rng.normal() * deviation) as f32)
        };
        let w1 = layer(inputs, hidden);
        let w2 = layer(hidden, classes);
        Network {
            w1,
            b1: Array1::zeros(hidden),
            w2,
            b2: Array1::zeros(classes),
        }
    }

    /// Number of input features.
    pub fn inputs(&self) -> usize {
        self.w1.nrows()
    }

    /// Number of hidden units.
    pub fn hidden(&self) -> usize {
        self.w1.ncols()
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.w2.ncols()
    }

    /// The serving form; fails when a weight is not finite (training diverged).
    pub fn to_mlp(&self) -> Result<Mlp, ShapeError> {
        let flat = |matrix: &Array2<f32>| matrix.iter().copied().collect();
        let dimension = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Mlp::from_parts(MlpParts {
            inputs: dimension(self.inputs()),
            hidden: dimension(self.hidden()),
            classes: dimension(self.classes()),
            w1: flat(&self.w1),
            b1: self.b1.to_vec(),
            w2: flat(&self.w2),
            b2: self.b2.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn he_init_has_the_right_spread() {
        let network = Network::he(64, 200, 10, &mut Rng::new(2));
        let n = network.w1.len() as f64;
        let var = network.w1.iter().map(|w| (*w as f64).powi(2)).sum::<f64>() / n;
        assert!((var - 2.0 / 64.0).abs() < 0.003, "variance {var}");
        assert!(network.b1.iter().all(|b| *b == 0.0));
    }

    #[test]
    fn the_serving_form_keeps_every_weight_in_order() {
        let network = Network::he(3, 4, 5, &mut Rng::new(1));
        let mlp = network.to_mlp().unwrap();
        assert_eq!((mlp.inputs(), mlp.hidden(), mlp.classes()), (3, 4, 5));
        assert_eq!(mlp.parts().w1[4 + 2], network.w1[(1, 2)]);
        assert_eq!(mlp.parts().w2[5 * 3 + 4], network.w2[(3, 4)]);
        let mut diverged = network.clone();
        diverged.w2[(0, 1)] = f32::NAN;
        assert_eq!(
            diverged.to_mlp().unwrap_err().to_string(),
            "w2[1] is not finite"
        );
    }
}
