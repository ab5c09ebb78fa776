//! The next-watch network: from the movies a viewer watched last to the movie they watch next.
//!
//! A movie is a learned embedding (one column of `d` numbers); a history becomes the weighted
//! mean of the embeddings of its latest events, the weights learned per position (latest
//! first), then one ReLU layer of width `d`, then a logit per movie: the dot product of the
//! hidden layer with the movie's embedding (the same one: input and output are tied, which
//! halves the model) plus a bias per movie. Training maximises the softmax probability of each
//! viewer's next watch given the watches before it. The result is handed to core as an
//! [`Mlp`] (`d → d → movies`, the embeddings are its output layer) and an
//! [`Input::Recent`], so the ranking runs core's one serving forward pass.
//!
//! The split is by time within each viewer: the last watch is the test target, the one
//! before it the validation target, the earlier ones the training targets (their own
//! earlier watches as input). So `evaluate` on the training log measures each viewer's last
//! watch, which no step trained on.
//!
//! The embeddings are stored as binary16 ([`Storage::F16`]): training runs in f32 and rounds
//! them once at the end, and the test figures are the rounded model's.
//!
//! Movies the training targets and inputs never name (a catalog is larger than its logs) get
//! no embedding (zeros) and a bias from their catalog features: a least-squares fit of the
//! trained movies' biases on `ln(1 + popularity)` and the rating.

use std::collections::BTreeMap;

use cinerec_core::catalog::Movie;
use cinerec_core::watch_log::WatchRow;
use cinerec_core::{
    half_precision, rank, CatalogEntry, EpochReport, Input, LabelEncoder, Metadata, Mlp, MlpParts,
    Model, ModelParts, Scaler, Storage, TestMetrics, TrainConfig, WatchEvent, FEATURES,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, Axis};

use crate::flush::FlushSubnormals;
use crate::job::{Provenance, TrainError};
use crate::metrics::ranked_test_metrics;
use crate::optimizer::{schedule, Moments, Step};
use crate::random::Rng;
use crate::wide::fast_exp;

/// How many of the latest watches the network reads.
pub const WINDOW: usize = 20;

/// The first recency weights: each watch counts 0.8 of the one after it (training moves them).
const INITIAL_DECAY: f64 = 0.8;

/// A training example: the class indexes of the latest watches before the target (latest
/// first, `WINDOW` of them, padded with the class count), and the target's class.
struct Examples {
    inputs: Vec<u32>,
    targets: Vec<usize>,
}

impl Examples {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn window(&self, example: usize) -> &[u32] {
        &self.inputs[example * WINDOW..(example + 1) * WINDOW]
    }
}

/// The rows of each viewer, in log order (the log keeps each viewer's watches in time order).
pub(crate) fn viewers(rows: &[WatchRow]) -> BTreeMap<u64, Vec<usize>> {
    let mut by_viewer: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        by_viewer.entry(row.user_id).or_default().push(index);
    }
    by_viewer
}

/// The training, validation and test targets: row indexes, by position from each viewer's end.
pub(crate) fn split(by_viewer: &BTreeMap<u64, Vec<usize>>) -> [Vec<usize>; 3] {
    let mut parts = [Vec::new(), Vec::new(), Vec::new()];
    for watches in by_viewer.values() {
        let n = watches.len();
        for (position, &row) in watches.iter().enumerate().skip(1) {
            let part = if position + 1 == n {
                2
            } else if position + 2 == n {
                1
            } else {
                0
            };
            parts[part].push(row);
        }
    }
    parts
}

/// Trains the next-watch network on `rows` (see the module docs).
pub(crate) fn fit(
    rows: &[WatchRow],
    catalog: &[Movie],
    config: &TrainConfig,
    provenance: Provenance,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Model, TrainError> {
    let watched = LabelEncoder::fit(rows.iter().map(|row| row.content_id));
    if watched.len() < 2 {
        return Err(TrainError::SingleClass(watched.classes()[0]));
    }
    let labels = LabelEncoder::fit(
        catalog
            .iter()
            .map(|movie| movie.id)
            .chain(rows.iter().map(|row| row.content_id)),
    );
    if labels.len() < 2 {
        return Err(TrainError::SingleClass(labels.classes()[0]));
    }
    let class_of = |row: usize| {
        labels
            .index_of(rows[row].content_id)
            .expect("every content id of the log is a class")
    };
    let by_viewer = viewers(rows);
    let [train_rows, validation_rows, test_rows] = split(&by_viewer);
    if train_rows.is_empty() || validation_rows.is_empty() || test_rows.is_empty() {
        return Err(TrainError::TooFewWatches(format!(
            "{} viewers with {} rows: too few to learn the next watch (each viewer's last \
             watch is for testing, the one before for validation, earlier ones for training, \
             so some viewers need three watches or more)",
            by_viewer.len(),
            rows.len()
        )));
    }
    let classes = labels.len();
    let position: Vec<(u64, usize)> = {
        let mut position = vec![(0, 0); rows.len()];
        for (&viewer, watches) in &by_viewer {
            for (at, &row) in watches.iter().enumerate() {
                position[row] = (viewer, at);
            }
        }
        position
    };
    let examples = |targets: &[usize]| {
        let mut inputs = Vec::with_capacity(targets.len() * WINDOW);
        for &row in targets {
            let (viewer, at) = position[row];
            let earlier = &by_viewer[&viewer][..at];
            let latest_first = earlier.iter().rev().take(WINDOW);
            inputs.extend(latest_first.map(|&r| class_of(r) as u32));
            inputs.resize(inputs.len().next_multiple_of(WINDOW), classes as u32);
        }
        Examples {
            inputs,
            targets: targets.iter().map(|&row| class_of(row)).collect(),
        }
    };
    let (train_set, validation_set) = (examples(&train_rows), examples(&validation_rows));

    let mut rng = Rng::new(config.seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let mut network = Network::new(config.hidden as usize, classes, &train_set, &mut rng);
    let epochs = network.train(&train_set, &validation_set, config, &mut rng, on_epoch);
    network.give_untrained_movies_a_prior(&train_set, &labels, catalog);
    let (mlp, weights) = network.into_parts()?;

    let mut entries: Vec<CatalogEntry> = catalog.iter().map(CatalogEntry::from).collect();
    entries.sort_by_key(|entry| entry.id);
    let parts = ModelParts {
        metadata: Metadata {
            code_version: format!("cinerec-learn {}", env!("CARGO_PKG_VERSION")),
            config: config.clone(),
            training_data_sha256: provenance.training_data_sha256,
            catalog_sha256: provenance.catalog_sha256,
            rows: rows.len() as u64,
            split_sizes: [train_rows.len(), validation_rows.len(), test_rows.len()]
                .map(|n| n as u64),
            test: TestMetrics {
                accuracy: 0.0,
                top10: 0.0,
                rows: 0,
            },
            epochs,
        },
        scaler: Scaler {
            mean: [0.0; FEATURES],
            scale: [1.0; FEATURES],
        },
        labels,
        mlp,
        catalog: entries,
        input: Input::Recent { weights },
        storage: Storage::F16,
    };
    // The test figures come from the model as it serves: core's ranking of each viewer's
    // watches before the last one, watched movies left out.
    let model = Model::new(parts.clone())?;
    let test = test_metrics(&model, rows, &by_viewer, &test_rows, &position);
    let mut parts = parts;
    parts.metadata.test = test;
    Ok(Model::new(parts)?)
}

fn test_metrics(
    model: &Model,
    rows: &[WatchRow],
    by_viewer: &BTreeMap<u64, Vec<usize>>,
    test_rows: &[usize],
    position: &[(u64, usize)],
) -> TestMetrics {
    let rankings: Vec<(u64, Vec<u64>)> = test_rows
        .iter()
        .map(|&row| {
            let (viewer, at) = position[row];
            let history: Vec<WatchEvent> = by_viewer[&viewer][..at]
                .iter()
                .map(|&r| WatchEvent {
                    content_id: rows[r].content_id,
                    watch_seconds: rows[r].watch_seconds,
                })
                .collect();
            // The log's watch times were checked when it was read: a refusal is a miss.
            let ids = rank(model, &history, 10)
                .map(|ranking| {
                    ranking
                        .recommendations
                        .iter()
                        .map(|r| r.content_id)
                        .collect()
                })
                .unwrap_or_default();
            (rows[row].content_id, ids)
        })
        .collect();
    ranked_test_metrics(rankings.iter().map(|(target, ids)| (*target, &ids[..])))
}

/// The trainable weights and Adam's moments.
struct Network {
    /// Embeddings, one column per movie (`d × classes`): input and output layer at once.
    embeddings: Array2<f32>,
    /// Hidden layer (`d × d`) and its biases.
    w1: Array2<f32>,
    b1: Array1<f32>,
    /// A bias per movie.
    bias: Array1<f32>,
    /// Logarithms of the recency weights, latest first.
    recency: Array1<f32>,
    moments: [Moments; 5],
}

/// One batch's buffers.
struct Batch {
    input: Array2<f32>,
    totals: Vec<f32>,
    hidden_in: Array2<f32>,
    hidden: Array2<f32>,
    scores: Array2<f32>,
    grad_hidden: Array2<f32>,
    grad_input: Array2<f32>,
    grad_embeddings: Array2<f32>,
    grad_w1: Array2<f32>,
    grad_b1: Array1<f32>,
    grad_bias: Array1<f32>,
    grad_recency: Array1<f32>,
}

impl Batch {
    /// The gradients [`Network::gradients`] left, in the order of [`Network::parameters`].
    fn gradients(&self) -> [&[f32]; 5] {
        [
            self.grad_embeddings.as_slice().expect("standard layout"),
            self.grad_w1.as_slice().expect("standard layout"),
            self.grad_b1.as_slice().expect("contiguous"),
            self.grad_bias.as_slice().expect("contiguous"),
            self.grad_recency.as_slice().expect("contiguous"),
        ]
    }
}

impl Network {
    fn new(width: usize, classes: usize, train: &Examples, rng: &mut Rng) -> Network {
        let embeddings = Array2::from_shape_fn((width, classes), |_| rng.normal() as f32 * 0.05);
        let he = (2.0 / width as f64).sqrt();
        let w1 = Array2::from_shape_fn((width, width), |_| (rng.normal() * he) as f32);
        // Start from popularity: the bias of a movie is the log of its share of the targets.
        let mut counts = vec![1.0f64; classes];
        train.targets.iter().for_each(|&t| counts[t] += 1.0);
        let total: f64 = counts.iter().sum();
        let bias = counts.iter().map(|c| (c / total).ln() as f32).collect();
        let recency = (0..WINDOW)
            .map(|p| (p as f64 * INITIAL_DECAY.ln()) as f32)
            .collect();
        let optimizer = cinerec_core::Optimizer::Adam;
        Network {
            moments: [width * classes, width * width, width, classes, WINDOW]
                .map(|len| Moments::new(len, optimizer)),
            embeddings,
            w1,
            b1: Array1::zeros(width),
            bias,
            recency,
        }
    }

    fn width(&self) -> usize {
        self.w1.nrows()
    }

    fn classes(&self) -> usize {
        self.bias.len()
    }

    fn batch(&self, size: usize) -> Batch {
        let (d, c) = (self.width(), self.classes());
        Batch {
            input: Array2::zeros((size, d)),
            totals: vec![0.0; size],
            hidden_in: Array2::zeros((size, d)),
            hidden: Array2::zeros((size, d)),
            scores: Array2::zeros((size, c)),
            grad_hidden: Array2::zeros((size, d)),
            grad_input: Array2::zeros((size, d)),
            grad_embeddings: Array2::zeros((d, c)),
            grad_w1: Array2::zeros((d, d)),
            grad_b1: Array1::zeros(d),
            grad_bias: Array1::zeros(c),
            grad_recency: Array1::zeros(WINDOW),
        }
    }

    /// The forward pass of `chunk` (example indexes) into `batch`; leaves the softmax in
    /// `scores` and returns the summed cross-entropy and the number of right first guesses.
    fn forward(&self, examples: &Examples, chunk: &[usize], batch: &mut Batch) -> (f64, usize) {
        let b = chunk.len();
        let classes = self.classes() as u32;
        let weights: Vec<f32> = self.recency.iter().map(|a| a.exp()).collect();
        batch.input.fill(0.0);
        for (row, &example) in chunk.iter().enumerate() {
            let mut total = 0.0f32;
            let mut input = batch.input.row_mut(row);
            for (&class, &weight) in examples.window(example).iter().zip(&weights) {
                if class == classes {
                    break;
                }
                input.scaled_add(weight, &self.embeddings.column(class as usize));
                total += weight;
            }
            if total > 0.0 {
                input /= total;
            }
            batch.totals[row] = total;
        }
        let input = batch.input.slice(s![..b, ..]);
        let mut hidden_in = batch.hidden_in.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &input, &self.w1, 0.0, &mut hidden_in);
        hidden_in += &self.b1;
        let mut hidden = batch.hidden.slice_mut(s![..b, ..]);
        hidden.zip_mut_with(&hidden_in, |h, &z| *h = z.max(0.0));
        let mut scores = batch.scores.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &hidden, &self.embeddings, 0.0, &mut scores);
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (mut row, &example) in scores.rows_mut().into_iter().zip(chunk) {
            row += &self.bias;
            let row = row.as_slice_mut().expect("rows of a standard-layout batch");
            let (mut max, mut best) = (f32::NEG_INFINITY, 0);
            for (class, &v) in row.iter().enumerate() {
                if v > max {
                    (max, best) = (v, class);
                }
            }
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = fast_exp(*v - max);
                sum += *v;
            }
            let scale = 1.0 / sum;
            row.iter_mut().for_each(|v| *v *= scale);
            let target = examples.targets[example];
            loss -= f64::from(row[target].max(1e-12)).ln();
            correct += usize::from(best == target);
        }
        (loss, correct)
    }

    /// The backward pass of the batch `forward` left: the gradients of the batch's mean
    /// cross-entropy into `batch` (its softmax is overwritten).
    fn gradients(&self, examples: &Examples, chunk: &[usize], batch: &mut Batch) {
        let b = chunk.len();
        let classes = self.classes() as u32;
        let mut scores = batch.scores.slice_mut(s![..b, ..]);
        for (mut row, &example) in scores.rows_mut().into_iter().zip(chunk) {
            row[examples.targets[example]] -= 1.0;
        }
        scores /= b as f32;
        let grad_logits = batch.scores.slice(s![..b, ..]);
        let hidden = batch.hidden.slice(s![..b, ..]);
        general_mat_mul(
            1.0,
            &hidden.t(),
            &grad_logits,
            0.0,
            &mut batch.grad_embeddings,
        );
        batch.grad_bias.assign(&grad_logits.sum_axis(Axis(0)));
        let mut grad_hidden = batch.grad_hidden.slice_mut(s![..b, ..]);
        general_mat_mul(
            1.0,
            &grad_logits,
            &self.embeddings.t(),
            0.0,
            &mut grad_hidden,
        );
        let hidden_in = batch.hidden_in.slice(s![..b, ..]);
        grad_hidden.zip_mut_with(&hidden_in, |g, &z| {
            if z <= 0.0 {
                *g = 0.0
            }
        });
        let input = batch.input.slice(s![..b, ..]);
        let grad_hidden = batch.grad_hidden.slice(s![..b, ..]);
        general_mat_mul(1.0, &input.t(), &grad_hidden, 0.0, &mut batch.grad_w1);
        batch.grad_b1.assign(&grad_hidden.sum_axis(Axis(0)));
        let mut grad_input = batch.grad_input.slice_mut(s![..b, ..]);
        general_mat_mul(1.0, &grad_hidden, &self.w1.t(), 0.0, &mut grad_input);

        // Through the weighted mean: into the embeddings of the inputs and the recency weights.
        let weights: Vec<f32> = self.recency.iter().map(|a| a.exp()).collect();
        batch.grad_recency.fill(0.0);
        for (row, &example) in chunk.iter().enumerate() {
            let total = batch.totals[row];
            if total == 0.0 {
                continue;
            }
            let grad_input = batch.grad_input.row(row);
            let input = batch.input.row(row);
            for (p, (&class, &weight)) in examples.window(example).iter().zip(&weights).enumerate()
            {
                if class == classes {
                    break;
                }
                let share = weight / total;
                let embedding = self.embeddings.column(class as usize);
                let along: f32 = embedding
                    .iter()
                    .zip(input)
                    .zip(grad_input)
                    .map(|((e, u), g)| (e - u) * g)
                    .sum();
                batch.grad_recency[p] += share * along;
                batch
                    .grad_embeddings
                    .column_mut(class as usize)
                    .scaled_add(share, &grad_input);
            }
        }
    }

    /// The trainable tensors as flat slices and their optimiser moments, in the order of
    /// [`Batch::gradients`].
    fn parameters(&mut self) -> ([&mut [f32]; 5], &mut [Moments; 5]) {
        let Network {
            embeddings,
            w1,
            b1,
            bias,
            recency,
            moments,
        } = self;
        let tensors = [
            flat(embeddings),
            flat(w1),
            b1.as_slice_mut().expect("contiguous"),
            bias.as_slice_mut().expect("contiguous"),
            recency.as_slice_mut().expect("contiguous"),
        ];
        (tensors, moments)
    }

    /// One optimiser step with the gradients in `batch`.
    fn step(&mut self, batch: &Batch, step: &Step) {
        let (tensors, moments) = self.parameters();
        for ((tensor, gradient), moments) in tensors.into_iter().zip(batch.gradients()).zip(moments)
        {
            step.apply(tensor, gradient, moments);
        }
    }

    fn train(
        &mut self,
        train: &Examples,
        validation: &Examples,
        config: &TrainConfig,
        rng: &mut Rng,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Vec<EpochReport> {
        // Subnormal gradients cost Intel cores a microcode assist each (see `flush`).
        let _flush = FlushSubnormals::new();
        let size = (config.batch_size as usize).clamp(1, train.len().max(1));
        let mut batch = self.batch(size);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let steps_per_epoch = order.len().div_ceil(size);
        let total_steps = (config.epochs as usize)
            .saturating_mul(steps_per_epoch)
            .max(1);
        let mut steps_done = 0usize;
        let mut reports = Vec::new();
        for epoch in 1..=config.epochs {
            rng.shuffle(&mut order);
            let (mut loss, mut correct) = (0.0, 0);
            for chunk in order.chunks(size) {
                let (l, c) = self.forward(train, chunk, &mut batch);
                loss += l;
                correct += c;
                steps_done += 1;
                let rate = config.learning_rate * schedule(steps_done - 1, total_steps) as f32;
                let step = Step::new(
                    config.optimizer,
                    steps_done.min(i32::MAX as usize) as i32,
                    rate,
                );
                self.gradients(train, chunk, &mut batch);
                self.step(&batch, &step);
            }
            let (mut val_loss, mut val_correct) = (0.0, 0);
            let all: Vec<usize> = (0..validation.len()).collect();
            for chunk in all.chunks(size) {
                let (l, c) = self.forward(validation, chunk, &mut batch);
                val_loss += l;
                val_correct += c;
            }
            let mean = |total: f64, n: usize| if n == 0 { 0.0 } else { total / n as f64 };
            let report = EpochReport {
                epoch,
                train_loss: mean(loss, train.len()),
                train_accuracy: mean(correct as f64, train.len()),
                val_loss: mean(val_loss, validation.len()),
                val_accuracy: mean(val_correct as f64, validation.len()),
            };
            on_epoch(&report);
            reports.push(report);
        }
        reports
    }

    /// Movies no training example names keep no embedding, and take a bias from their
    /// catalog features (see the module docs).
    fn give_untrained_movies_a_prior(
        &mut self,
        train: &Examples,
        labels: &LabelEncoder,
        catalog: &[Movie],
    ) {
        let classes = self.classes();
        let mut trained = vec![false; classes];
        train.targets.iter().for_each(|&t| trained[t] = true);
        train
            .inputs
            .iter()
            .filter(|&&c| (c as usize) < classes)
            .for_each(|&c| trained[c as usize] = true);
        if trained.iter().all(|&t| t) {
            return;
        }
        let mut features = vec![[1.0, 0.0, 0.0]; classes];
        for movie in catalog {
            if let Some(class) = labels.index_of(movie.id) {
                features[class] = [1.0, movie.popularity.max(0.0).ln_1p(), movie.vote_average];
            }
        }
        let fitted: Vec<(usize, f64)> = (0..classes)
            .filter(|&c| trained[c])
            .map(|c| (c, f64::from(self.bias[c])))
            .collect();
        let beta = least_squares(
            fitted.iter().map(|&(c, y)| (features[c], y)),
            fitted.iter().map(|&(_, y)| y).fold(f64::INFINITY, f64::min),
        );
        for class in (0..classes).filter(|&c| !trained[c]) {
            let x = features[class];
            self.bias[class] = (beta[0] * x[0] + beta[1] * x[1] + beta[2] * x[2]) as f32;
            self.embeddings.column_mut(class).fill(0.0);
        }
    }

    /// The network as core serves it: an [`Mlp`] whose output layer is the embeddings, and the
    /// recency weights.
    fn into_parts(self) -> Result<(Mlp, Vec<f32>), TrainError> {
        let (width, classes) = (self.width(), self.classes());
        let mlp = Mlp::from_parts(MlpParts {
            inputs: width as u32,
            hidden: width as u32,
            classes: classes as u32,
            w1: self.w1.iter().copied().collect(),
            b1: self.b1.to_vec(),
            // Stored as binary16 (`Storage::F16`): half the bytes of a large catalog's model.
            w2: self.embeddings.iter().map(|&v| half_precision(v)).collect(),
            b2: self.bias.to_vec(),
        })
        .map_err(TrainError::Diverged)?;
        let weights: Vec<f32> = self.recency.iter().map(|a| a.exp()).collect();
        if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(TrainError::Config(format!(
                "training left recency weights that are not positive numbers: {weights:?}"
            )));
        }
        Ok((mlp, weights))
    }
}

/// The least-squares fit `y ≈ β·x` of three features (a little ridge keeps it solvable);
/// `fallback` as the constant when the system is singular.
#[allow(clippy::needless_range_loop)] // indexes read as the textbook's elimination
fn least_squares(points: impl Iterator<Item = ([f64; 3], f64)>, fallback: f64) -> [f64; 3] {
    let mut a = [[0.0f64; 3]; 3];
    let mut b = [0.0f64; 3];
    for (x, y) in points {
        for i in 0..3 {
            b[i] += x[i] * y;
            for j in 0..3 {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    (0..3).for_each(|i| a[i][i] += 1e-6);
    // Gaussian elimination with partial pivoting on the 3 × 3 system.
    for column in 0..3 {
        let pivot = (column..3)
            .max_by(|&i, &j| a[i][column].abs().total_cmp(&a[j][column].abs()))
            .unwrap_or(column);
        a.swap(column, pivot);
        b.swap(column, pivot);
        if a[column][column].abs() < 1e-12 {
            return [fallback, 0.0, 0.0];
        }
        for row in column + 1..3 {
            let factor = a[row][column] / a[column][column];
            for k in column..3 {
                a[row][k] -= factor * a[column][k];
            }
            b[row] -= factor * b[column];
        }
    }
    let mut beta = [0.0f64; 3];
    for row in (0..3).rev() {
        let known: f64 = (row + 1..3).map(|k| a[row][k] * beta[k]).sum();
        beta[row] = (b[row] - known) / a[row][row];
    }
    if beta.iter().all(|v| v.is_finite()) {
        beta
    } else {
        [fallback, 0.0, 0.0]
    }
}

fn flat(matrix: &mut Array2<f32>) -> &mut [f32] {
    matrix
        .as_slice_mut()
        .expect("weights are kept in standard layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinerec_core::{Objective, Optimizer};

    fn catalog(ids: &[u64]) -> Vec<Movie> {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(r#"{{"id":{id},"title":"영화 {id}","vote_average":6,"popularity":{id}}}"#)
            })
            .collect();
        cinerec_core::catalog::parse(format!("[{}]", entries.join(",")).as_bytes())
            .unwrap()
            .0
    }

    /// Every viewer watches a cycle of five movies from a different start: the next watch
    /// is always the movie after the last one.
    fn cyclic_rows() -> Vec<WatchRow> {
        let mut rows = Vec::new();
        for user in 0..60u64 {
            for step in 0..8u64 {
                rows.push(WatchRow {
                    user_id: user,
                    content_id: 10 + (user + step) % 5,
                    watch_seconds: 3600.0,
                    rating: 6.0,
                    popularity: 1.0,
                });
            }
        }
        rows
    }

    fn config() -> TrainConfig {
        TrainConfig {
            objective: Objective::Next,
            epochs: 30,
            hidden: 16,
            batch_size: 32,
            optimizer: Optimizer::Adam,
            learning_rate: 0.02,
            seed: 5,
        }
    }

    fn train(rows: &[WatchRow], ids: &[u64]) -> Model {
        let provenance = Provenance {
            training_data_sha256: "log".into(),
            catalog_sha256: "catalog".into(),
        };
        fit(rows, &catalog(ids), &config(), provenance, &mut |_| {}).unwrap()
    }

    #[test]
    fn it_learns_which_movie_comes_next_and_ranks_a_movie_nobody_watched() {
        // Movie 99 is in the catalog only: no training example names it.
        let model = train(&cyclic_rows(), &[10, 11, 12, 13, 14, 99]);
        assert!(matches!(model.input(), Input::Recent { .. }));
        let watched = |ids: &[u64]| -> Vec<WatchEvent> {
            ids.iter()
                .map(|&content_id| WatchEvent {
                    content_id,
                    watch_seconds: 3600.0,
                })
                .collect()
        };
        for start in 0..5u64 {
            let history = watched(&[10 + start % 5, 10 + (start + 1) % 5]);
            let ranking = rank(&model, &history, 10).unwrap();
            assert_eq!(ranking.recommendations[0].content_id, 10 + (start + 2) % 5);
            assert!(ranking.recommendations.iter().any(|r| r.content_id == 99));
        }
        // A movie without an embedding takes no place in the window: watching 99 last leaves
        // the others' scores as they were.
        let without = rank(&model, &watched(&[10, 11]), 10).unwrap();
        let with = rank(&model, &watched(&[10, 11, 99]), 10).unwrap();
        let scores = |ranking: &cinerec_core::Ranking| -> Vec<(u64, u32)> {
            ranking
                .recommendations
                .iter()
                .filter(|r| r.content_id != 99)
                .map(|r| (r.content_id, r.score.to_bits()))
                .collect()
        };
        assert_eq!(scores(&with), scores(&without));
        // Each viewer's last watch is a test target (a repeat here, so the ranking, which
        // leaves watched movies out, cannot hit it).
        assert_eq!(model.metadata().test.rows, 60);
    }

    #[test]
    fn same_seed_same_bytes() {
        let ids = [10, 11, 12, 13, 14];
        let (a, b) = (train(&cyclic_rows(), &ids), train(&cyclic_rows(), &ids));
        assert_eq!(cinerec_core::encode(&a), cinerec_core::encode(&b));
    }

    /// The backward pass against finite differences of the forward pass's mean
    /// cross-entropy, for a few weights of every tensor: the embeddings both as inputs (through
    /// the weighted mean) and as outputs, the hidden layer, the biases and the recency weights.
    #[test]
    fn the_gradients_are_the_loss_finite_differences() {
        let (width, classes) = (4, 6);
        let mut rng = Rng::new(3);
        // Windows of one to five watches (padded with `classes`), one target each.
        let mut inputs = Vec::new();
        let mut targets = Vec::new();
        for example in 0..7usize {
            let watched = 1 + example % 5;
            inputs.extend((0..WINDOW).map(|p| {
                if p < watched {
                    ((example * 5 + p * 3) % classes) as u32
                } else {
                    classes as u32
                }
            }));
            targets.push((example * 2 + 1) % classes);
        }
        let examples = Examples { inputs, targets };
        let mut network = Network::new(width, classes, &examples, &mut rng);
        // Larger embeddings than the initial 0.05, so every path carries a real gradient.
        network.embeddings.mapv_inplace(|v| v * 10.0);
        network.b1.fill(0.1);
        let chunk: Vec<usize> = (0..examples.len()).collect();
        let mut batch = network.batch(chunk.len());
        let loss = |network: &Network| {
            let mut batch = network.batch(chunk.len());
            network.forward(&examples, &chunk, &mut batch).0 / chunk.len() as f64
        };
        network.forward(&examples, &chunk, &mut batch);
        network.gradients(&examples, &chunk, &mut batch);
        let analytic: Vec<Vec<f32>> = batch.gradients().iter().map(|g| g.to_vec()).collect();
        let epsilon = 1e-3f32;
        let mut checked = 0;
        for (tensor, gradient) in analytic.iter().enumerate() {
            for index in (0..gradient.len()).step_by(gradient.len().div_ceil(6)) {
                let original = network.parameters().0[tensor][index];
                network.parameters().0[tensor][index] = original + epsilon;
                let above = loss(&network);
                network.parameters().0[tensor][index] = original - epsilon;
                let below = loss(&network);
                network.parameters().0[tensor][index] = original;
                let numeric = (above - below) / (2.0 * f64::from(epsilon));
                let analytic = f64::from(gradient[index]);
                assert!(
                    (numeric - analytic).abs() <= 1e-4 + 0.01 * analytic.abs(),
                    "tensor {tensor}[{index}]: backward {analytic:.6}, finite differences {numeric:.6}"
                );
                checked += usize::from(analytic.abs() > 1e-3);
            }
        }
        assert!(checked >= 20, "only {checked} gradients were far from zero");
    }

    #[test]
    fn the_prior_follows_popularity() {
        let beta = least_squares(
            (0..10).map(|i| ([1.0, i as f64, 5.0], 2.0 * i as f64 - 1.0)),
            0.0,
        );
        assert!((beta[1] - 2.0).abs() < 1e-3, "{beta:?}");
    }
}
