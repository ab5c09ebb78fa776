//! Element-wise loops compiled twice: for the baseline target and for AVX-512, the widest
//! vector unit these machines have, picked at run time (the `wide!` macro). The loops use
//! only IEEE additions, multiplications, divisions, square roots, comparisons and our own
//! exp, never fused multiply-add, and reductions keep a fixed lane order, so both versions
//! compute the same bits: a machine without AVX-512 trains the same model, only slower.

pub(crate) use cinerec_core::wide;

const LANES: usize = cinerec_core::LANES;

pub(crate) use cinerec_core::lane_max;

/// The sum, in a fixed lane order.
#[inline(always)]
pub(crate) fn lane_sum(values: &[f32]) -> f32 {
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

/// The position of the first value equal to `target` (0 when there is none), searched a
/// vector at a time.
#[inline(always)]
pub(crate) fn first_index_of(values: &[f32], target: f32) -> usize {
    let mut start = 0;
    for chunk in values.chunks_exact(LANES) {
        if chunk.iter().fold(false, |found, &v| found | (v == target)) {
            break;
        }
        start += LANES;
    }
    values[start..]
        .iter()
        .position(|&v| v == target)
        .map_or(0, |offset| start + offset)
}

/// `e^x` for `x <= 0`, within 1e-5 relative error, in straight-line code that vectorises
/// (the platform's `expf` is a call per element). Training only: the ranking uses core's own
/// exp, which every platform computes to the same bit.
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
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

    #[test]
    fn first_index_of_finds_the_first_match_in_or_after_the_vectors() {
        let mut values = vec![0.0f32; 45];
        assert_eq!(first_index_of(&values, 1.0), 0, "none: 0");
        values[40] = 1.0;
        assert_eq!(first_index_of(&values, 1.0), 40, "in the remainder");
        values[17] = 1.0;
        values[20] = 1.0;
        assert_eq!(first_index_of(&values, 1.0), 17, "the first of several");
    }

    wide! {
        fn doubled_sum(values: &[f32]) -> f32 {
            lane_sum(values) * 2.0
        }
    }

    #[test]
    fn the_wide_version_and_the_baseline_agree() {
        let values: Vec<f32> = (0..1000).map(|i| 1.0 / (i as f32 + 0.37)).collect();
        assert_eq!(doubled_sum(&values), lane_sum(&values) * 2.0);
    }
}
