//! [`fit`]: from watch-log rows and a catalog to a checked [`Model`], the whole training job.
//!
//! Make the objective's pairs and split them (see `pairs`), fit the scaler on the training
//! rows, encode the labels, train, measure the test pairs through the serving forward pass
//! (so the reported figures are what is served), and put the model together with
//! [`Model::new`], which checks it as `decode` would.

use cinerec_core::watch_log::WatchRow;
use cinerec_core::{
    catalog::Movie, feature_row, CatalogEntry, EpochReport, Input, LabelEncoder, Metadata, Model,
    ModelParts, Objective, Scaler, Storage, TrainConfig, FEATURES,
};
use ndarray::Array2;

use crate::epochs::{train, Examples};
use crate::job::{Provenance, TrainError};
use crate::metrics;
use crate::network::Network;
use crate::pairs::{pairs, Pair};
use crate::random::Rng;

/// Trains on `rows`; `catalog` gives every movie the page may show (each content id of the
/// log must be one of them); `on_epoch` hears about each epoch as it ends.
pub fn fit(
    rows: &[WatchRow],
    catalog: &[Movie],
    config: &TrainConfig,
    provenance: Provenance,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Model, TrainError> {
    check_config(config)?;
    if rows.is_empty() {
        return Err(TrainError::Empty);
    }
    if config.objective == Objective::Next {
        return crate::next::fit(rows, catalog, config, provenance, on_epoch);
    }
    let labels = LabelEncoder::fit(rows.iter().map(|r| r.content_id));
    if labels.len() < 2 {
        return Err(TrainError::SingleClass(labels.classes()[0]));
    }
    let parts = pairs(rows, config.objective, config.seed);
    if parts.train.is_empty() || parts.validation.is_empty() || parts.test.is_empty() {
        return Err(TrainError::TooFew(match config.objective {
            Objective::Item | Objective::Next => format!("only {} rows", rows.len()),
            Objective::CoWatch => format!(
                "{} pairs of movies watched by the same viewer ({} rows)",
                parts.train.len() + parts.validation.len() + parts.test.len(),
                rows.len()
            ),
        }));
    }

    let raw = |index: usize| {
        let row = &rows[index];
        feature_row(row.rating, row.popularity, row.watch_seconds)
    };
    let scaler = Scaler::fit(
        &parts
            .scaler_rows
            .iter()
            .map(|&i| raw(i))
            .collect::<Vec<_>>(),
    );
    let examples = |pairs: &[Pair]| {
        let mut features = Array2::<f32>::zeros((pairs.len(), FEATURES));
        let mut targets = Vec::with_capacity(pairs.len());
        for (mut out, pair) in features.rows_mut().into_iter().zip(pairs) {
            for (cell, value) in out.iter_mut().zip(scaler.transform(raw(pair.row))) {
                *cell = value;
            }
            let class = labels
                .index_of(pair.target)
                .expect("every content id of the log is a class");
            targets.push(class);
        }
        Examples { features, targets }
    };
    let (train_set, validation_set) = (examples(&parts.train), examples(&parts.validation));

    let mut rng = Rng::new(config.seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut network = Network::he(FEATURES, config.hidden as usize, labels.len(), &mut rng);
    let epochs = train(
        &mut network,
        &train_set,
        &validation_set,
        config,
        &mut rng,
        on_epoch,
    );
    let mlp = network.to_mlp().map_err(TrainError::Diverged)?;
    let test = metrics::classification(
        &mlp,
        &scaler,
        &labels,
        parts.test.iter().map(|pair| (&rows[pair.row], pair.target)),
    );

    let mut entries: Vec<CatalogEntry> = catalog.iter().map(CatalogEntry::from).collect();
    entries.sort_by_key(|entry| entry.id);
    let metadata = Metadata {
        code_version: format!("cinerec-learn {}", env!("CARGO_PKG_VERSION")),
        config: config.clone(),
        training_data_sha256: provenance.training_data_sha256,
        catalog_sha256: provenance.catalog_sha256,
        rows: rows.len() as u64,
        split_sizes: [parts.train.len(), parts.validation.len(), parts.test.len()]
            .map(|n| n as u64),
        test,
        epochs,
    };
    Ok(Model::new(ModelParts {
        metadata,
        scaler,
        labels,
        mlp,
        catalog: entries,
        input: Input::Features,
        storage: Storage::F32,
    })?)
}

fn check_config(config: &TrainConfig) -> Result<(), TrainError> {
    let bad = |message: String| Err(TrainError::Config(message));
    if config.epochs == 0 {
        return bad("epochs must be at least 1".into());
    }
    if config.hidden == 0 {
        return bad("hidden must be at least 1".into());
    }
    if config.batch_size == 0 {
        return bad("batch size must be at least 1".into());
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return bad(format!(
            "learning rate {} must be a positive number",
            config.learning_rate
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinerec_core::Optimizer;

    fn config(optimizer: Optimizer) -> TrainConfig {
        TrainConfig {
            objective: Objective::Item,
            epochs: 30,
            hidden: 16,
            batch_size: 8,
            optimizer,
            learning_rate: crate::default_learning_rate(optimizer, Objective::Item),
            seed: 3,
        }
    }

    /// Three movies whose ratings alone separate them.
    fn separable_rows() -> Vec<WatchRow> {
        (0..120)
            .map(|i| {
                let movie = (i % 3) as u64;
                WatchRow {
                    user_id: i as u64,
                    content_id: 100 + movie,
                    watch_seconds: 100.0 * (i % 7) as f64,
                    rating: 3.0 + 2.0 * movie as f64,
                    popularity: 50.0,
                }
            })
            .collect()
    }

    /// `fit` with a catalog made of the rows' movies.
    fn fit_rows(rows: &[WatchRow], config: &TrainConfig) -> Result<Model, TrainError> {
        let entries: Vec<String> = (100..103)
            .map(|id| {
                format!(r#"{{"id":{id},"title":"영화 {id}","vote_average":5,"popularity":50}}"#)
            })
            .collect();
        let text = format!("[{}]", entries.join(","));
        let (movies, _) = cinerec_core::catalog::parse(text.as_bytes()).unwrap();
        let provenance = Provenance {
            training_data_sha256: "log".into(),
            catalog_sha256: "catalog".into(),
        };
        fit(rows, &movies, config, provenance, &mut |_| {})
    }

    #[test]
    fn both_optimizers_learn_a_separable_problem() {
        for optimizer in [Optimizer::Sgd, Optimizer::Adam] {
            let fitted = fit_rows(&separable_rows(), &config(optimizer)).unwrap();
            let metadata = fitted.metadata();
            let first = &metadata.epochs[0];
            let last = metadata.epochs.last().unwrap();
            assert!(last.train_loss < first.train_loss, "{optimizer:?}");
            assert_eq!(metadata.test.accuracy, 1.0, "{optimizer:?}");
        }
    }

    #[test]
    fn same_seed_same_network() {
        let a = fit_rows(&separable_rows(), &config(Optimizer::Adam)).unwrap();
        let b = fit_rows(&separable_rows(), &config(Optimizer::Adam)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
    }

    #[test]
    fn refuses_logs_it_cannot_learn_from() {
        let rows = separable_rows();
        let cfg = config(Optimizer::Adam);
        assert_eq!(fit_rows(&[], &cfg).unwrap_err(), TrainError::Empty);
        let single: Vec<WatchRow> = rows
            .iter()
            .filter(|r| r.content_id == 100)
            .copied()
            .collect();
        assert_eq!(
            fit_rows(&single, &cfg).unwrap_err().to_string(),
            "the watch log has a single content id (100); a ranking needs at least two"
        );
        assert_eq!(
            fit_rows(&rows[..2], &cfg).unwrap_err().to_string(),
            "only 2 rows: too few to split 64:16:20 into train, validation and test"
        );
        let zero_lr = TrainConfig {
            learning_rate: 0.0,
            ..cfg
        };
        assert!(matches!(
            fit_rows(&rows, &zero_lr),
            Err(TrainError::Config(_))
        ));
    }
}
