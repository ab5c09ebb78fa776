/*!
`cinerec-wasm` is cinerec in the visitor's browser: the page itself (`page`), rendered from
Rust through web-sys straight from core's `Ranking`; what the page keeps on the device
(`history`: the storage format and the rules for reading back what a visitor may have
edited); the page's rules of a private A/B test (`experiment`, for `app.js`); and
[`Recommender`], the class for JavaScript users and tests.

It adds no arithmetic of its own: decoding and ranking are `cinerec-core`'s, the very code
the server runs, so the page and `/batch-predict` agree to the bit. `Recommender` only
translates: JavaScript numbers and arrays in, typed results out, and core's errors as
`JsError`s carrying core's message.

`wasm_bindgen` attributes are gated on the target, so `cargo test -p cinerec-wasm` checks
the translations natively; `wasm-pack test --headless --chrome wasm` replays core's golden
vectors in Chromium.
*/
#![deny(missing_docs)]

mod experiment;
mod history;
#[cfg(target_family = "wasm")]
mod page;
mod recommender;

pub use experiment::{experiment_arm, experiment_period, experiment_report};
pub use recommender::{Ranked, Recommender};

#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: panics, should one happen, reach the console with
/// their message instead of an opaque `unreachable`.
#[cfg(target_family = "wasm")]
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Starts the page with the bytes of `model.bin` (fetched by the bootstrap script): decodes
/// them, renders the recommendations and wires the controls. Throws when the model cannot be
/// used; the bootstrap then shows why, with random posters, never a blank page.
#[cfg(target_family = "wasm")]
#[wasm_bindgen]
pub fn run(model: &[u8]) -> Result<(), JsError> {
    page::run(model).map_err(|error| JsError::new(&error))
}
