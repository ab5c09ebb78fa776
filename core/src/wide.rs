//! Loops compiled twice: for the baseline target and for AVX-512, picked at run time (the
//! [`wide!`](crate::wide) macro), for the serving forward pass here and for training in
//! `cinerec-learn`. A body may use only IEEE additions, multiplications, divisions, square
//! roots, comparisons and our own exp, never fused multiply-add, and must keep any reduction's
//! lane order written out: then both versions compute the same bits, and a machine without
//! AVX-512 (or a browser) gets the same answer, only slower.

/// Defines a function whose body is compiled for the baseline and, on x86-64, a second time
/// with AVX-512F enabled; each call runs the wide version when the CPU has it.
#[doc(hidden)]
#[macro_export]
macro_rules! wide {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, as just checked.
                return unsafe { avx512($($arg),*) };
            }
            body($($arg),*)
        }
    };
}

/// Width of the explicit lanes below: LLVM keeps a float reduction in order (it may not
/// reassociate), so a reduction only vectorises when the lanes are written out.
#[doc(hidden)]
pub const LANES: usize = 16;

/// The largest value, a vector at a time. The same value as a sequential scan with `f32::max`:
/// a NaN is skipped either way, and which of -0 and +0 is returned for a tie cannot change
/// `v - max`.
#[inline(always)]
#[doc(hidden)]
pub fn lane_max(values: &[f32]) -> f32 {
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
