//! Flush-to-zero for the training threads: subnormal floats read and written as zero while a
//! [`FlushSubnormals`] guard lives, the thread's previous mode restored when it drops.
//!
//! Why: once the network separates its classes, most softmax outputs of a row are the floor
//! of the exponential (2^-126) times a factor below one, and the gradient `(p − onehot) / b`
//! is then mostly subnormal. Intel cores take a microcode assist for every subnormal operand
//! or result (a 64×64×200 matrix product fell from 167 to 0.9 GFLOP/s on a Xeon), so the
//! backward pass ran 19× slower there; recent AMD cores barely notice. Numbers that small
//! move no weight, so training loses nothing by treating them as zero.
//!
//! The mode is per thread (x86-64: MXCSR's FTZ and DAZ bits, 15 and 6; aarch64: FPCR's FZ,
//! bit 24; elsewhere nothing is changed). It is set only inside the epoch loop's threads and
//! restored before they return, so the ranking, which must keep IEEE semantics to give the
//! bits WebAssembly gives, never runs under it: `tests::the_mode_does_not_outlive_training`
//! holds that.

use std::marker::PhantomData;

/// While alive, this thread flushes subnormal inputs and results to zero.
///
/// Not `Send`: the mode belongs to the thread that set it, and must be restored there.
#[must_use = "the mode is restored when the guard drops"]
pub(crate) struct FlushSubnormals {
    previous: Option<u64>,
    _this_thread: PhantomData<*const ()>,
}

impl FlushSubnormals {
    /// Turns flushing on for the calling thread.
    pub(crate) fn new() -> FlushSubnormals {
        let previous = control::read();
        if let Some(bits) = previous {
            control::write(bits | control::FLUSH_BITS);
        }
        FlushSubnormals {
            previous,
            _this_thread: PhantomData,
        }
    }
}

impl Drop for FlushSubnormals {
    fn drop(&mut self) {
        if let Some(bits) = self.previous {
            control::write(bits);
        }
    }
}

/// Whether the calling thread flushes subnormals now (false where the mode is not supported).
pub fn flushing_subnormals() -> bool {
    control::read().is_some_and(|bits| bits & control::FLUSH_BITS == control::FLUSH_BITS)
}

#[cfg(target_arch = "x86_64")]
mod control {
    use std::arch::asm;

    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
    pub(super) const FLUSH_BITS: u64 = 0x8040;

    pub(super) fn read() -> Option<u64> {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit control register into the given local.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        Some(u64::from(csr))
    }

    pub(super) fn write(bits: u64) {
        // Only bits 0..16 exist; the value always comes from `read`, with known bits added.
        let csr = bits as u32;
        // SAFETY: ldmxcsr loads a value read from the register with only FTZ/DAZ changed,
        // so no reserved bit is set (which would fault).
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags)) };
    }
}

#[cfg(target_arch = "aarch64")]
mod control {
    use std::arch::asm;

    /// FPCR's flush-to-zero (bit 24).
    pub(super) const FLUSH_BITS: u64 = 1 << 24;

    pub(super) fn read() -> Option<u64> {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        Some(fpcr)
    }

    pub(super) fn write(bits: u64) {
        // SAFETY: writes back a value read from FPCR with only FZ changed.
        unsafe { asm!("msr fpcr, {}", in(reg) bits, options(nomem, nostack, preserves_flags)) };
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod control {
    pub(super) const FLUSH_BITS: u64 = 0;

    pub(super) fn read() -> Option<u64> {
        None
    }

    pub(super) fn write(_bits: u64) {}
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;

    /// 1e-30 · 1e-10 = 1e-40, below f32's smallest normal (1.2e-38).
    fn subnormal_product() -> f32 {
        black_box(1e-30f32) * black_box(1e-10f32)
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn the_guard_flushes_and_restores() {
        assert!(!flushing_subnormals(), "threads start with IEEE semantics");
        assert!(subnormal_product() > 0.0);
        {
            let _guard = FlushSubnormals::new();
            assert!(flushing_subnormals());
            assert_eq!(subnormal_product(), 0.0);
            {
                let _nested = FlushSubnormals::new();
                assert!(flushing_subnormals());
            }
            assert!(
                flushing_subnormals(),
                "an inner guard restores the outer mode"
            );
        }
        assert!(!flushing_subnormals());
        assert!(subnormal_product() > 0.0, "IEEE again after the guard");
    }
}
