/*!
`cinerec-learn` is how a cinerec model is learned and measured, natively: the trainer's
library. [`fit`] turns watch-log rows and a catalog into a checked [`cinerec_core::Model`];
[`metrics`] measures a model beside baselines; [`random`] is the one source of seeded draws.

Training keeps its own copy of the weights ([`Network`]) and uses fast matrix products
(ndarray), which may differ in the last bit between machines; it hands the result to core,
whose serving forward pass is the only one that ranks. None of this is needed to serve, so
the browser's WebAssembly never carries it.

The parts, in the order a run uses them: [`split`] (64:16:20), [`Examples`] (standardised
rows and targets), [`Network`] (He initialisation), the epoch loop [`train`] over batched
kernels and an optimiser with a warm-up and cosine schedule, then [`fit`] puts it together.
*/
#![deny(missing_docs)]

pub mod metrics;
pub mod random;

mod epochs;
mod fit;
mod flush;
mod job;
mod kernels;
mod lockstep;
mod network;
mod next;
mod optimizer;
mod pairs;
mod split;
mod wide;

pub use epochs::{train, Examples};
pub use fit::fit;
pub use flush::flushing_subnormals;
pub use job::{Provenance, TrainError};
pub use network::Network;
pub use next::WINDOW;
pub use optimizer::{default_epochs, default_hidden, default_learning_rate, EMBEDDING_BYTES};
pub use pairs::{pair_count, pairs, split_viewers, Pair, Pairs, Viewers, MAX_PARTNERS};
pub use split::{split, Split};
