//! Fuzzes the `model.bin` loader: any bytes give a model or an error, never a panic.
//!
//! Run: `cargo +nightly fuzz run decode_model` (from the repository root); seed the corpus
//! with a real artifact to start from the interesting part: see the README.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(model) = cinerec_core::decode(bytes) {
        // A model that loads must also rank without panicking.
        let _ = cinerec_core::rank(&model, &[], 10);
        assert_eq!(cinerec_core::encode(&model), bytes, "a loaded model re-encodes to its bytes");
    }
});
