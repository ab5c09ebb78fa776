/*!
`cinerec-core` is what must behave the same in the native trainer, the site server and the
visitor's browser (WebAssembly): what a model is, how it is stored, and how it ranks.

Two stories meet here. **Serving**: [`decode`] turns the bytes of `model.bin` into a checked
[`Model`], and [`rank`] turns a visitor's history of [`WatchEvent`]s into [`Recommendation`]s
that carry what the page shows (title, poster, rating). **Inputs**, read by the trainer and
the server: the TMDB [`catalog`] and the [`watch_log`] CSV. Training itself lives in
`cinerec-learn`, which builds a [`Model`] from [`ModelParts`] through [`Model::new`], the one
constructor, so every model is checked the same way, whoever made it.

The crate does no I/O, reads no clock, spawns no threads and draws no random numbers: it takes
bytes and slices and returns values, which is what lets it run in a browser and be tested
without files.

```
use cinerec_core::{decode, rank, WatchEvent};
# fn demo(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
let model = decode(bytes)?;
let history = [WatchEvent { content_id: 42, watch_seconds: 3600.0 }];
let ranking = rank(&model, &history, 10)?;
for recommendation in &ranking.recommendations {
    println!("{} {:.4} {}", recommendation.content_id, recommendation.score, recommendation.movie.title);
}
# Ok(()) }
```
*/
#![deny(missing_docs)]

pub mod catalog;
pub mod watch_log;

mod artifact;
mod codec;
mod labels;
mod mlp;
mod model;
mod parts;
mod rank;
mod scaler;
mod wide;

pub use artifact::{decode, encode, ArtifactError, FORMAT_VERSION};
pub use labels::LabelEncoder;
pub use mlp::{Mlp, MlpParts, ShapeError};
pub use model::{Model, ModelError};
pub use parts::{
    CatalogEntry, EpochReport, Input, Metadata, ModelParts, Objective, Optimizer, TestMetrics,
    TrainConfig,
};
pub use rank::{rank, rank_summing, RankError, Ranking, Recommendation, WatchEvent, MAX_HISTORY};
pub use scaler::{feature_row, Scaler, FEATURES};
#[doc(hidden)]
pub use wide::{lane_max, LANES};
