/*!
`cinerec-core` is the pure heart of cinerec: everything that must behave the same in the
native trainer, in the site server and in the visitor's browser (WebAssembly).

The data flows through these modules in order:

- [`catalog`]: TMDB movies as the crawler and the demo generator write them, parsed leniently
  with a report of what was skipped;
- [`watch_log`]: the `user_id,content_id,watch_seconds,rating,popularity` CSV;
- [`scaler`] and [`labels`]: feature standardisation and the content-id label encoder;
- [`mlp`] and [`train`]: the 3 → hidden → classes network, its hand-written backward pass and
  its optimisers;
- [`artifact`]: the `model.bin` format ([`Model`], [`encode`], [`decode`]);
- [`rank`]: the one ranking function the page and the server both call;
- [`metrics`]: accuracy, top-k, HitRate@k and NDCG@k with baselines.

The crate does no I/O, reads no clock and spawns no threads: it takes bytes and slices and
returns values, which is what lets it run in a browser and be tested without files.

```
use cinerec_core::{rank, WatchEvent};
# fn demo(model: &cinerec_core::Model) -> Result<(), cinerec_core::RankError> {
let history = [WatchEvent { content_id: 42, watch_seconds: 3600.0 }];
let ranking = rank(model, &history, 10)?;
for recommendation in ranking.recommendations {
    println!("{} {:.4}", recommendation.content_id, recommendation.score);
}
# Ok(()) }
```
*/
#![deny(missing_docs)]

pub mod artifact;
pub mod catalog;
pub mod labels;
pub mod metrics;
pub mod mlp;
pub mod random;
pub mod rank;
pub mod scaler;
pub mod train;
pub mod watch_log;

pub use artifact::{decode, encode, ArtifactError, CatalogEntry, Metadata, Model};
pub use rank::{rank, RankError, Ranking, Recommendation, WatchEvent};
