//! Fuzzes the two text parsers (watch log and catalog): errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = cinerec_core::catalog::parse(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(rows) = cinerec_core::watch_log::parse(text) {
            let written = cinerec_core::watch_log::write(&rows);
            assert_eq!(cinerec_core::watch_log::parse(&written).ok(), Some(rows));
        }
    }
});
