//! Fuzzes the two input parsers (watch log and catalog): errors, never panics; a parsed log
//! writes back to text that parses to the same rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = cinerec_core::catalog::parse(bytes);
    if let Ok(log) = cinerec_core::watch_log::parse(bytes) {
        let written = cinerec_core::watch_log::write(&log.rows);
        let again = cinerec_core::watch_log::parse(written.as_bytes()).map(|log| log.rows);
        assert_eq!(again.ok(), Some(log.rows));
    }
});
