//! The network `inputs → hidden (ReLU) → classes (softmax)` and its serving forward pass.
//!
//! One forward pass serves: [`Mlp::probabilities`] for a row (`evaluate`, and a next-watch
//! model's one input per history), [`Mlp::probabilities_of_rows`] for several (the server's
//! event cache) and [`Mlp::add_probabilities`] for a history's rows (the ranking of a model
//! that reads one watch's features) run the same body, `forward`. Every output starts from its
//! bias and adds its inputs' terms in input order, never fused (`mul_add`) and never through a
//! matrix-product library: the hidden layer one axpy per input, the output layer a block of
//! classes at a time in registers (skipping hidden units at zero, which leaves the bits of an
//! axpy per unit). Then this module's own [`exp`] and one fixed summation order in the softmax.
//! So x86-64 (with or without AVX-512) and wasm32 produce the same bits (see ARCHITECTURE.md,
//! parity). Training (in `cinerec-learn`) keeps its own batched copy of the weights and may use
//! fast matrix products; it hands the result over as [`MlpParts`].

use serde::{Deserialize, Serialize};

use crate::wide::LANES;

/// Weights and biases, checked: every length matches the dimensions, every value is finite.
///
/// Stored as [`MlpParts`]; deserialising runs the same checks as [`Mlp::from_parts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "MlpParts", try_from = "MlpParts")]
pub struct Mlp {
    parts: MlpParts,
    /// `w2` laid out for the serving pass: each row padded with zeros to whole blocks of
    /// [`BLOCK`] classes, so a block's accumulators can live in registers.
    w2_blocked: Vec<f32>,
}

/// The stored form of an [`Mlp`]: dimensions and flat row-major arrays. Weight matrices are
/// `[inputs][outputs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpParts {
    /// Input features.
    pub inputs: u32,
    /// Hidden units.
    pub hidden: u32,
    /// Output classes.
    pub classes: u32,
    /// `inputs × hidden` weights.
    pub w1: Vec<f32>,
    /// `hidden` biases.
    pub b1: Vec<f32>,
    /// `hidden × classes` weights.
    pub w2: Vec<f32>,
    /// `classes` biases.
    pub b2: Vec<f32>,
}

/// Why stored parts do not make a network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    /// An array has the wrong length for the stated dimensions.
    #[error("{name} has {found} values, expected {expected}")]
    Length {
        /// Array name (`w1`, `b1`, `w2`, `b2`).
        name: &'static str,
        /// Values found.
        found: usize,
        /// Values the dimensions call for.
        expected: u64,
    },
    /// A dimension is zero.
    #[error("the network has a zero dimension ({inputs} → {hidden} → {classes})")]
    ZeroDimension {
        /// Input features.
        inputs: u32,
        /// Hidden units.
        hidden: u32,
        /// Output classes.
        classes: u32,
    },
    /// A weight or bias is NaN or infinite.
    #[error("{name}[{index}] is not finite")]
    NotFinite {
        /// Array name.
        name: &'static str,
        /// Position of the first bad value.
        index: usize,
    },
}

impl From<Mlp> for MlpParts {
    fn from(mlp: Mlp) -> MlpParts {
        mlp.parts
    }
}

impl TryFrom<MlpParts> for Mlp {
    type Error = ShapeError;

    fn try_from(parts: MlpParts) -> Result<Mlp, ShapeError> {
        Mlp::from_parts(parts)
    }
}

impl Mlp {
    /// Builds a network from its parts, checking every length and value.
    pub fn from_parts(parts: MlpParts) -> Result<Mlp, ShapeError> {
        let MlpParts {
            inputs,
            hidden,
            classes,
            ..
        } = parts;
        if inputs == 0 || hidden == 0 || classes == 0 {
            return Err(ShapeError::ZeroDimension {
                inputs,
                hidden,
                classes,
            });
        }
        let (i, h, c) = (u64::from(inputs), u64::from(hidden), u64::from(classes));
        let check = |name, values: &[f32], expected: u64| {
            if values.len() as u64 != expected {
                return Err(ShapeError::Length {
                    name,
                    found: values.len(),
                    expected,
                });
            }
            match values.iter().position(|v| !v.is_finite()) {
                Some(index) => Err(ShapeError::NotFinite { name, index }),
                None => Ok(()),
            }
        };
        // u32 × u32 fits in u64, so the products cannot overflow.
        check("w1", &parts.w1, i * h)?;
        check("b1", &parts.b1, h)?;
        check("w2", &parts.w2, h * c)?;
        check("b2", &parts.b2, c)?;
        let stride = (parts.classes as usize).next_multiple_of(BLOCK);
        let w2_blocked = parts
            .w2
            .chunks_exact(parts.classes as usize)
            .flat_map(|row| {
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0.0, stride - row.len()))
            })
            .collect();
        Ok(Mlp { parts, w2_blocked })
    }

    /// The stored form.
    pub fn parts(&self) -> &MlpParts {
        &self.parts
    }

    /// Number of input features.
    pub fn inputs(&self) -> usize {
        self.parts.inputs as usize
    }

    /// Number of hidden units.
    pub fn hidden(&self) -> usize {
        self.parts.hidden as usize
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.parts.classes as usize
    }

    /// Softmax output for one standardised row, written into `out` (`classes()` long).
    ///
    /// This is the serving forward pass; see the module docs for why it is written this way.
    pub fn probabilities(&self, row: &[f32], out: &mut [f32]) {
        debug_assert_eq!(row.len(), self.inputs());
        self.probabilities_of_rows(row, out);
    }

    /// [`probabilities`](Mlp::probabilities) of each row, written one after another into
    /// `out` (`classes()` values per row).
    pub fn probabilities_of_rows(&self, rows: &[f32], out: &mut [f32]) {
        debug_assert_eq!(rows.len() % self.inputs(), 0);
        debug_assert_eq!(out.len(), rows.len() / self.inputs() * self.classes());
        forward(&self.parts, &self.w2_blocked, rows, out, false);
    }

    /// Adds the [`probabilities`](Mlp::probabilities) of each row to `sums` (`classes()`
    /// long), a row at a time in order: `rows` holds whole rows of `inputs()` values. The
    /// same bits as adding up `probabilities`' outputs, without a buffer for them.
    pub fn add_probabilities(&self, rows: &[f32], sums: &mut [f32]) {
        debug_assert_eq!(rows.len() % self.inputs(), 0);
        debug_assert_eq!(sums.len(), self.classes());
        forward(&self.parts, &self.w2_blocked, rows, sums, true);
    }
}

crate::wide! {
    /// The body of [`Mlp::probabilities`] and [`Mlp::probabilities_of_rows`] (`add` false:
    /// each row's output written to its place in `out`) and of [`Mlp::add_probabilities`]
    /// (`add` true: each added to `out`), compiled for AVX-512 too: the ranking's time is
    /// here.
    fn forward(parts: &MlpParts, w2_blocked: &[f32], rows: &[f32], out: &mut [f32], add: bool) {
        let MlpParts { w1, b1, b2, .. } = parts;
        let inputs = parts.inputs as usize;
        let hidden_units = parts.hidden as usize;
        let classes = parts.classes as usize;
        let stride = w2_blocked.len() / hidden_units;

        // The hidden layer, then the logits padded to whole blocks like `w2_blocked`'s rows.
        let mut scratch = vec![0.0f32; hidden_units + stride];
        let (hidden, logits) = scratch.split_at_mut(hidden_units);
        for (r, row) in rows.chunks_exact(inputs).enumerate() {
            hidden.copy_from_slice(b1);
            // A block of units at a time, its accumulators in registers across every input
            // (an axpy per input through memory waited on its own stores: most of a
            // next-watch ranking's time, whose inputs are 64 or more); each unit still adds
            // its inputs' terms in input order, the bits of one axpy per input.
            let mut blocks = hidden.chunks_exact_mut(BLOCK);
            for (start, block) in (0..).step_by(BLOCK).zip(&mut blocks) {
                let mut acc: [f32; BLOCK] = (&*block).try_into().expect("a whole block");
                for (x, weights) in row.iter().zip(w1.chunks_exact(hidden_units)) {
                    let weights: &[f32; BLOCK] = weights[start..start + BLOCK]
                        .try_into()
                        .expect("a whole block");
                    for (a, w) in acc.iter_mut().zip(weights) {
                        *a += x * w;
                    }
                }
                block.copy_from_slice(&acc);
            }
            let tail = blocks.into_remainder();
            let start = hidden_units - tail.len();
            for (x, weights) in row.iter().zip(w1.chunks_exact(hidden_units)) {
                axpy(*x, &weights[start..], tail);
            }
            hidden.iter_mut().for_each(|h| *h = h.max(0.0)); // ReLU
            // A block of classes at a time, its accumulators in registers across every hidden
            // unit. Each output still starts from its bias and adds its units' terms in unit
            // order, skipping units at zero (most are: skipping them is the faster way too):
            // the bits of one axpy per unit. A padding lane starts at -∞ and stays there (or
            // NaN, should an activation overflow), which the maximum skips and `exp` makes
            // exactly 0: the softmax can take whole vectors with no effect on the real lanes.
            for (start, block) in (0..).step_by(BLOCK).zip(logits.chunks_exact_mut(BLOCK)) {
                let mut acc = [f32::NEG_INFINITY; BLOCK];
                let biases = &b2[start..b2.len().min(start + BLOCK)];
                acc[..biases.len()].copy_from_slice(biases);
                for (&activation, weights) in hidden.iter().zip(w2_blocked.chunks_exact(stride)) {
                    if activation != 0.0 {
                        let weights: &[f32; BLOCK] = weights[start..start + BLOCK]
                            .try_into()
                            .expect("rows are padded to whole blocks");
                        for (a, w) in acc.iter_mut().zip(weights) {
                            *a += activation * w;
                        }
                    }
                }
                block.copy_from_slice(&acc);
            }
            softmax(logits);
            let probabilities = &logits[..classes];
            if add {
                out.iter_mut().zip(probabilities).for_each(|(sum, p)| *sum += p);
            } else {
                out[r * classes..][..classes].copy_from_slice(probabilities);
            }
        }
    }
}

/// Classes per block of the output layer: four 512-bit vectors on x86-64 (AVX-512 when the
/// CPU has it); in WebAssembly, eight 128-bit ones (64 spilled its registers, 16 was slower).
#[cfg(not(target_family = "wasm"))]
const BLOCK: usize = 64;
#[cfg(target_family = "wasm")]
const BLOCK: usize = 32;

/// `acc[j] += x * w[j]` for every j, in order. Never fused: see the module docs.
#[inline(always)]
fn axpy(x: f32, weights: &[f32], acc: &mut [f32]) {
    for (a, w) in acc.iter_mut().zip(weights) {
        *a += x * w;
    }
}

/// The numerically stable softmax of `logits`, in place, with [`exp`] and one fixed summation
/// order. `logits` is padded with -∞ to whole [`LANES`], so every loop takes whole vectors:
/// the padding changes neither the maximum nor any sum (its `exp` is exactly 0), and no
/// element is left to a scalar tail, which was a tenth of the ranking's time for 58 classes.
#[inline(always)]
pub(crate) fn softmax(logits: &mut [f32]) {
    debug_assert!(logits.len().is_multiple_of(LANES));
    let max = crate::wide::lane_max(logits);
    for lanes in logits.chunks_exact_mut(LANES) {
        for v in lanes {
            *v = exp(*v - max);
        }
    }
    // The sum's order is part of the result's bits: four running sums, element j into sum
    // j % 4 in order, then (s0 + s1) + (s2 + s3). Four, not one, so it vectorises (one long
    // chain of dependent adds was a tenth of the ranking's time); the same on every platform.
    let mut lanes = [0.0f32; 4];
    for quad in logits.chunks_exact(4) {
        for (lane, v) in lanes.iter_mut().zip(quad) {
            *lane += *v;
        }
    }
    let sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    // A probability below f32's smallest normal is 0 instead (see [`exp`] for why), decided
    // before dividing so no subnormal quotient is ever formed: `sum` is at least 1 (the
    // maximum's exp), so `limit` is normal, and `v >= limit` gives `v / sum >= MIN_POSITIVE`
    // after rounding (`limit` is at most half an ulp below `MIN_POSITIVE · sum`, and the tie
    // rounds to the even MIN_POSITIVE). Comparisons with NaN are false, so NaN stays NaN.
    let limit = f32::MIN_POSITIVE * sum;
    for lanes in logits.chunks_exact_mut(LANES) {
        for v in lanes {
            *v = if *v < limit { 0.0 } else { *v } / sum;
        }
    }
}

/// `e^x` for the softmax (`x <= 0`), the same bits on every platform, and fast.
///
/// Only IEEE `f64` additions, multiplications and comparisons and integer bit operations, so
/// x86-64 and wasm32 agree to the bit (as with `libm::expf`, which this replaced: it was 69 %
/// of the ranking's time, a call per element, where this vectorises). Accuracy: within one
/// f32 ulp of the true value where that is a normal f32 (x above about -87.3); below, exactly
/// 0, where an IEEE exp would give a subnormal (x down to about -103.9).
///
/// Why no subnormals: Intel cores take a microcode assist, some hundred cycles, for each
/// subnormal operand or result, and such a logit is easy to reach (a history of watches many
/// hours long, or just a movie the model finds very unlikely); the serving pass cannot use
/// the flush-to-zero mode training uses, because WebAssembly has none and the page must give
/// the server's bits. So the pass never forms a subnormal, by plain compare and select, the
/// same on every platform. A probability that small moves no ranking.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // e^x = 2^n · e^r with n = round(x / ln 2) and |r| <= ln(2) / 2.
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    const MAGIC_BITS: u64 = 0x4338_0000_0000_0000;
    let t = (x as f64 * core::f64::consts::LOG2_E).max(-1000.0);
    let shifted = t + MAGIC;
    let n = shifted - MAGIC;
    let r = (t - n) * core::f64::consts::LN_2;
    // Taylor series to degree 7: relative error below 6e-9 for |r| <= 0.35, far inside
    // the f32 result's half ulp (6e-8); degree 9 cost a fifth more for nothing.
    let mut p = 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low bits of `shifted` hold n; move n + 1023 into the exponent field: 2^n.
    let two_to_n = f64::from_bits(
        shifted
            .to_bits()
            .wrapping_sub(MAGIC_BITS)
            .wrapping_add(1023)
            << 52,
    );
    let e = p * two_to_n;
    // Chosen in f64, before the conversion, so the conversion never rounds to a subnormal.
    (if e < f64::from(f32::MIN_POSITIVE) {
        0.0
    } else {
        e
    }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Mlp {
        Mlp::from_parts(MlpParts {
            inputs: 2,
            hidden: 2,
            classes: 3,
            w1: vec![1.0, -1.0, 0.5, 2.0],
            b1: vec![0.0, 0.1],
            w2: vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.5],
            b2: vec![0.0, 0.0, 0.2],
        })
        .unwrap()
    }

    #[test]
    fn forward_pass_matches_a_hand_computation() {
        let mlp = tiny();
        let mut out = [0.0f32; 3];
        mlp.probabilities(&[1.0, 1.0], &mut out);
        // hidden = relu([1 + 0.5, -1 + 2 + 0.1]) = [1.5, 1.1]
        // logits = [1.5 + 0.55, 0.55, -1.5 + 0.55 + 0.2] = [2.05, 0.55, -0.75]
        let logits = [2.05f64, 0.55, -0.75];
        let total: f64 = logits.iter().map(|l| l.exp()).sum();
        for (o, l) in out.iter().zip(logits) {
            assert!((*o as f64 - l.exp() / total).abs() < 1e-6, "{out:?}");
        }
    }

    /// The documented order, written as plainly as possible: the blocked, padded pass must
    /// give these bits for any number of classes.
    fn reference(parts: &MlpParts, row: &[f32]) -> Vec<f32> {
        let (hidden, classes) = (parts.hidden as usize, parts.classes as usize);
        let mut h = parts.b1.clone();
        for (i, x) in row.iter().enumerate() {
            for (j, h) in h.iter_mut().enumerate() {
                *h += x * parts.w1[i * hidden + j];
            }
        }
        let mut logits = parts.b2.clone();
        for (u, h) in h.iter().map(|h| h.max(0.0)).enumerate() {
            if h != 0.0 {
                for (j, l) in logits.iter_mut().enumerate() {
                    *l += h * parts.w2[u * classes + j];
                }
            }
        }
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
        let e: Vec<f32> = logits.iter().map(|&l| exp(l - max)).collect();
        let mut lanes = [0.0f32; 4];
        for (j, v) in e.iter().enumerate() {
            lanes[j % 4] += v;
        }
        let sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        let limit = f32::MIN_POSITIVE * sum;
        e.iter()
            .map(|&v| if v < limit { 0.0 } else { v } / sum)
            .collect()
    }

    #[test]
    fn every_row_and_every_sum_has_the_bits_of_the_plain_order() {
        // 130 classes: whole blocks and a mostly padded last one (64-class blocks natively,
        // 32 in wasm); units that are zero for some rows and not others. 40 hidden units are
        // a tail of a block natively; 100 fed by 70 inputs (a next-watch network's shape)
        // are whole blocks of units and a tail, in both.
        for (inputs, hidden) in [(3u32, 40u32), (70, 100)] {
            plain_order(inputs, hidden, 130);
        }
    }

    fn plain_order(inputs: u32, hidden: u32, classes: u32) {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        };
        let mut values = |n: u32| (0..n).map(|_| next()).collect::<Vec<f32>>();
        let parts = MlpParts {
            inputs,
            hidden,
            classes,
            w1: values(inputs * hidden),
            b1: values(hidden),
            w2: values(hidden * classes),
            b2: values(classes),
        };
        let rows = values(inputs * 9);
        let mlp = Mlp::from_parts(parts.clone()).unwrap();
        let mut sums = vec![0.0f32; classes as usize];
        let mut expected = vec![0.0f32; classes as usize];
        for row in rows.chunks_exact(inputs as usize) {
            let plain = reference(&parts, row);
            let mut out = vec![0.0f32; classes as usize];
            mlp.probabilities(row, &mut out);
            assert_eq!(
                out.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
                plain.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
            );
            expected.iter_mut().zip(&plain).for_each(|(e, p)| *e += p);
        }
        mlp.add_probabilities(&rows, &mut sums);
        assert_eq!(
            sums.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
            expected.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn parts_round_trip() {
        let mlp = tiny();
        assert_eq!(Mlp::from_parts(mlp.parts().clone()).unwrap(), mlp);
    }

    #[test]
    fn from_parts_checks_lengths_and_values() {
        let mut parts = tiny().parts().clone();
        parts.w2.pop();
        assert_eq!(
            Mlp::from_parts(parts).unwrap_err().to_string(),
            "w2 has 5 values, expected 6"
        );
        let mut parts = tiny().parts().clone();
        parts.b1[1] = f32::NAN;
        assert_eq!(
            Mlp::from_parts(parts).unwrap_err().to_string(),
            "b1[1] is not finite"
        );
        let mut parts = tiny().parts().clone();
        parts.hidden = 0;
        assert!(matches!(
            Mlp::from_parts(parts),
            Err(ShapeError::ZeroDimension { .. })
        ));
    }

    #[test]
    fn exp_is_within_one_ulp_over_the_softmax_range() {
        let ulp_distance = |a: f32, b: f32| (a.to_bits() as i64 - b.to_bits() as i64).abs();
        let mut x = 0.0f32;
        let mut worst = 0;
        let smallest_normal = f64::from(f32::MIN_POSITIVE);
        while x > -104.0 {
            let exact = (x as f64).exp();
            let e = exp(x);
            assert!(!e.is_subnormal(), "exp({x}) = {e:e} is subnormal");
            if exact > smallest_normal * 1.000_001 {
                worst = worst.max(ulp_distance(e, exact as f32));
            } else if exact < smallest_normal * 0.999_999 {
                assert_eq!(e, 0.0, "exp({x}) is below the smallest normal");
            }
            x = f32::from_bits(x.to_bits() + 4099) * if x == 0.0 { -1.0 } else { 1.0 };
            if x == 0.0 {
                x = -1e-30;
            }
        }
        assert!(worst <= 1, "worst distance {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(
            exp(-87.0),
            (-87.0f64).exp() as f32,
            "normal, just above the limit"
        );
        assert_eq!(exp(-88.0), 0.0, "IEEE's exp would give a subnormal");
        assert_eq!(exp(-103.0), 0.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn softmax_survives_huge_logits() {
        let mut logits = [f32::NEG_INFINITY; LANES];
        logits[..3].copy_from_slice(&[1000.0, 0.0, -1000.0]);
        softmax(&mut logits);
        assert_eq!(logits[..3], [1.0, 0.0, 0.0]);
        assert!(logits[3..].iter().all(|&p| p == 0.0));
    }
}

#[cfg(test)]
mod no_subnormals {
    //! The serving pass forms no subnormal float (see [`exp`](super::exp)), on inputs that
    //! made it form many before: the demo model and watches of 6 to 83 hours.

    use crate::{decode, feature_row, Model};

    const MODEL: &[u8] = include_bytes!("../tests/data/model.bin");

    /// Each movie of the demo model watched for `seconds`, as standardised rows.
    fn rows(model: &Model, seconds: f64) -> Vec<f32> {
        model
            .classes()
            .iter()
            .flat_map(|&id| {
                let movie = model.catalog_entry(id).expect("every class has an entry");
                let raw = feature_row(movie.vote_average, movie.popularity, seconds);
                model.scaler().transform(raw)
            })
            .collect()
    }

    /// The probabilities worked out in f64 with IEEE's exp: how many would be subnormal as
    /// f32 (what the pass gave before it turned them into 0).
    fn subnormal_in_ieee(model: &Model, rows: &[f32]) -> usize {
        let parts = model.mlp().parts();
        let (hidden, classes) = (parts.hidden as usize, parts.classes as usize);
        let mut count = 0;
        for row in rows.chunks_exact(parts.inputs as usize) {
            let h: Vec<f64> = (0..hidden)
                .map(|j| {
                    let sum = row
                        .iter()
                        .enumerate()
                        .fold(f64::from(parts.b1[j]), |s, (i, x)| {
                            s + f64::from(*x) * f64::from(parts.w1[i * hidden + j])
                        });
                    sum.max(0.0)
                })
                .collect();
            let logits: Vec<f64> = (0..classes)
                .map(|k| {
                    h.iter()
                        .enumerate()
                        .fold(f64::from(parts.b2[k]), |s, (j, h)| {
                            s + h * f64::from(parts.w2[j * classes + k])
                        })
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            count += logits
                .iter()
                .filter(|l| (((*l - max).exp() / sum) as f32).is_subnormal())
                .count();
        }
        count
    }

    #[test]
    fn no_output_is_subnormal_where_ieee_gives_many() {
        let model = decode(MODEL).expect("the test model loads");
        let mlp = model.mlp();
        let classes = mlp.classes();
        let (mut would_be, mut zeros) = (0, 0);
        for hours in [0.0, 1.0, 6.0, 8.0, 11.0, 17.0, 28.0, 50.0, 83.0] {
            let rows = rows(&model, hours * 3600.0);
            would_be += subnormal_in_ieee(&model, &rows);
            let mut out = vec![0.0f32; rows.len() / mlp.inputs() * classes];
            mlp.probabilities_of_rows(&rows, &mut out);
            assert!(
                !out.iter().any(|p| p.is_subnormal()),
                "a subnormal probability at {hours} h"
            );
            zeros += out.iter().filter(|&&p| p == 0.0).count();
            let mut sums = vec![0.0f32; classes];
            mlp.add_probabilities(&rows, &mut sums);
            assert!(
                !sums.iter().any(|s| s.is_subnormal()),
                "a subnormal sum at {hours} h"
            );
        }
        // Measured: 988 of the 30,276 outputs would be subnormal with IEEE's exp.
        assert!(
            would_be > 300,
            "the inputs reach the subnormal range: {would_be}"
        );
        assert!(zeros > would_be, "{zeros} zeros");
    }
}
