//! The model: everything a ranking needs, checked once, with an id computed once.
//!
//! A [`Model`] can only be made by [`Model::new`] (the trainer, through `cinerec-learn`) or by
//! [`crate::decode`] (which calls it): both run the same checks, so whoever holds a `Model`
//! holds one whose parts fit together (shapes, order, finiteness, every class in the catalog).
//! Its parts are read through accessors and never change afterwards, which is what lets the
//! id (a hash of the parts) be computed once.

use sha2::{Digest, Sha256};

use crate::codec;
use crate::labels::LabelEncoder;
use crate::mlp::Mlp;
use crate::parts::{CatalogEntry, Input, Metadata, ModelParts, Objective, Storage};
use crate::scaler::{Scaler, FEATURES};

/// A trained model with everything needed to rank. Build one with [`Model::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    parts: ModelParts,
    /// SHA-256 of the payload: the artifact's checksum.
    digest: [u8; 32],
    id: String,
    /// For a network of recent movies, the embeddings (the columns of `w2`) one class after
    /// another, laid out once here so a ranking reads a watched movie's `d` numbers in a row
    /// instead of `d` scattered ones; empty for a network of features.
    embeddings: Vec<f32>,
    /// Whether each class has an embedding (a column not all zeros: training saw the movie).
    embedded: Vec<bool>,
}

/// Parts that do not fit together; the message says which and how.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(String);

/// The longest poster file name or title a catalog entry may carry, in bytes.
const MAX_TEXT: usize = 1024;

/// The most recent events a network of recent movies may read.
pub(crate) const MAX_WINDOW: usize = 1024;

/// The largest recency weight: 1,024 of them sum to a finite f32 with room to spare.
const MAX_WEIGHT: f32 = 1e30;

impl Model {
    /// Checks that the parts fit together and makes the model; computes its id.
    pub fn new(parts: ModelParts) -> Result<Model, ModelError> {
        validate(&parts)?;
        let digest: [u8; 32] = Sha256::digest(codec::to_bytes(&parts)).into();
        let id = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let (mut embeddings, mut embedded) = (Vec::new(), Vec::new());
        if let Input::Recent { .. } = parts.input {
            let (width, classes) = (parts.mlp.hidden(), parts.mlp.classes());
            let w2 = &parts.mlp.parts().w2;
            embeddings = vec![0.0; w2.len()];
            for (unit, row) in w2.chunks_exact(classes).enumerate() {
                for (class, &value) in row.iter().enumerate() {
                    embeddings[class * width + unit] = value;
                }
            }
            embedded = embeddings
                .chunks_exact(width)
                .map(|embedding| embedding.iter().any(|&v| v != 0.0))
                .collect();
        }
        Ok(Model {
            parts,
            digest,
            id,
            embeddings,
            embedded,
        })
    }

    /// The embedding of class `class` of a network of recent movies; `None` when it has none
    /// (all zeros) or the network reads features.
    pub(crate) fn embedding(&self, class: usize) -> Option<&[f32]> {
        if !*self.embedded.get(class)? {
            return None;
        }
        let width = self.parts.mlp.hidden();
        Some(&self.embeddings[class * width..][..width])
    }

    /// SHA-256 of the artifact's payload.
    pub(crate) fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The model id: the first 16 hex digits of the SHA-256 of the artifact's payload.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How the model was made.
    pub fn metadata(&self) -> &Metadata {
        &self.parts.metadata
    }

    /// The movies the model knows, ascending by id.
    pub fn catalog(&self) -> &[CatalogEntry] {
        &self.parts.catalog
    }

    /// The catalog entry of a movie, if the model has one.
    pub fn catalog_entry(&self, id: u64) -> Option<&CatalogEntry> {
        let catalog = &self.parts.catalog;
        catalog
            .binary_search_by_key(&id, |entry| entry.id)
            .ok()
            .map(|index| &catalog[index])
    }

    /// The content ids the network scores, ascending: the movies a ranking can recommend.
    pub fn classes(&self) -> &[u64] {
        self.parts.labels.classes()
    }

    /// The network.
    pub fn mlp(&self) -> &Mlp {
        &self.parts.mlp
    }

    /// What the network reads.
    pub fn input(&self) -> &Input {
        &self.parts.input
    }

    /// The feature standardisation.
    pub fn scaler(&self) -> &Scaler {
        &self.parts.scaler
    }

    /// The label encoder (content id ↔ output index).
    pub fn labels(&self) -> &LabelEncoder {
        &self.parts.labels
    }

    /// The parts, as stored.
    pub(crate) fn parts(&self) -> &ModelParts {
        &self.parts
    }

    /// Gives the parts back, to change and check again with [`Model::new`].
    #[cfg(test)]
    pub(crate) fn into_parts(self) -> ModelParts {
        self.parts
    }
}

fn validate(parts: &ModelParts) -> Result<(), ModelError> {
    let invalid = |message: String| Err(ModelError(message));
    let ModelParts {
        scaler,
        labels,
        mlp,
        catalog,
        ..
    } = parts;
    if !scaler.is_valid() {
        return invalid(format!(
            "the scaler has a non-finite mean or a non-positive scale (mean {:?}, scale {:?})",
            scaler.mean, scaler.scale
        ));
    }
    match &parts.input {
        Input::Features if mlp.inputs() != FEATURES => {
            return invalid(format!(
                "the network takes {} features, expected {FEATURES}",
                mlp.inputs()
            ));
        }
        Input::Features => {}
        Input::Recent { weights } => {
            if mlp.inputs() != mlp.hidden() {
                return invalid(format!(
                    "a network of recent movies takes embeddings of its hidden width ({}), not {} inputs",
                    mlp.hidden(),
                    mlp.inputs()
                ));
            }
            if weights.is_empty() || weights.len() > MAX_WINDOW {
                return invalid(format!(
                    "{} recency weights (expected 1 to {MAX_WINDOW})",
                    weights.len()
                ));
            }
            // Normal and of a finite sum, so the ranking's weighted mean neither overflows nor
            // meets a subnormal (and no single weight can drown the others into infinity).
            if let Some(w) = weights
                .iter()
                .find(|w| !(w.is_finite() && (f32::MIN_POSITIVE..=MAX_WEIGHT).contains(*w)))
            {
                return invalid(format!(
                    "recency weight {w} is not a number from {} to {MAX_WEIGHT}",
                    f32::MIN_POSITIVE
                ));
            }
        }
    }
    let recent = matches!(parts.input, Input::Recent { .. });
    if recent != (parts.metadata.config.objective == Objective::Next) {
        return invalid(format!(
            "the {:?} objective does not go with this network's input",
            parts.metadata.config.objective
        ));
    }
    if labels.len() != mlp.classes() {
        return invalid(format!(
            "{} class ids for {} network outputs",
            labels.len(),
            mlp.classes()
        ));
    }
    if labels.len() < 2 {
        return invalid(format!(
            "{} classes: a ranking needs at least two",
            labels.len()
        ));
    }
    if let Some(pair) = catalog.windows(2).find(|pair| pair[0].id >= pair[1].id) {
        return invalid(format!(
            "catalog ids are not strictly ascending ({} then {})",
            pair[0].id, pair[1].id
        ));
    }
    if let Some(entry) = catalog.iter().find(|entry| {
        !(entry.vote_average.is_finite()
            && (0.0..=10.0).contains(&entry.vote_average)
            && entry.popularity.is_finite()
            && entry.popularity >= 0.0)
    }) {
        return invalid(format!(
            "catalog entry {} has vote_average {} and popularity {}",
            entry.id, entry.vote_average, entry.popularity
        ));
    }
    if let Some(entry) = catalog
        .iter()
        .find(|entry| !is_plain_file_name(&entry.poster))
    {
        return invalid(format!(
            "catalog entry {} has the poster name {:?}, not a plain file name",
            entry.id, entry.poster
        ));
    }
    if let Some(entry) = catalog.iter().find(|entry| entry.title.len() > MAX_TEXT) {
        return invalid(format!(
            "catalog entry {} has a title of {} bytes (at most {MAX_TEXT})",
            entry.id,
            entry.title.len()
        ));
    }
    if parts.storage == Storage::F16 {
        let w2 = &mlp.parts().w2;
        if let Some(index) = w2
            .iter()
            .position(|&v| codec::half_precision(v).to_bits() != v.to_bits())
        {
            return invalid(format!(
                "w2[{index}] is {}, not a binary16 value, which its storage needs",
                w2[index]
            ));
        }
    }
    let catalog_has = |id: &u64| catalog.binary_search_by_key(id, |entry| entry.id).is_ok();
    if let Some(id) = labels.classes().iter().find(|id| !catalog_has(id)) {
        return invalid(format!("class {id} has no catalog entry"));
    }
    Ok(())
}

/// A poster name is joined to a folder and a URL by the page and the server: it must not
/// climb out of the folder, hide, or need escaping.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TEXT
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The checked-in demo model (see `core/tests/data/README.md`).
    pub(crate) fn demo_model() -> Model {
        crate::decode(include_bytes!("../tests/data/model.bin")).expect("the test model loads")
    }

    fn check(change: impl FnOnce(&mut ModelParts), expected: &str) {
        let mut parts = demo_model().into_parts();
        change(&mut parts);
        let message = Model::new(parts).unwrap_err().to_string();
        assert!(message.starts_with(expected), "{message}");
    }

    #[test]
    fn the_id_is_the_payload_hash_and_follows_every_part() {
        let model = demo_model();
        assert_eq!(model.id().len(), 16);
        let mut parts = model.parts().clone();
        parts.metadata.rows += 1;
        assert_ne!(Model::new(parts).unwrap().id(), model.id());
        assert_eq!(Model::new(model.parts().clone()).unwrap().id(), model.id());
    }

    #[test]
    fn parts_that_do_not_fit_are_named() {
        let classes = demo_model().classes().len();
        check(
            |parts| parts.labels = LabelEncoder::fit(parts.labels.classes()[1..].to_vec()),
            &format!("{} class ids for {classes} network outputs", classes - 1),
        );
        let first_class = demo_model().classes()[0];
        check(
            |parts| {
                parts.catalog.remove(0);
            },
            &format!("class {first_class} has no catalog entry"),
        );
        check(|parts| parts.catalog.swap(0, 1), &{
            let catalog = demo_model().catalog().to_vec();
            format!(
                "catalog ids are not strictly ascending ({} then {})",
                catalog[1].id, catalog[0].id
            )
        });
        check(
            |parts| parts.scaler.scale[2] = 0.0,
            "the scaler has a non-finite mean or a non-positive scale",
        );
    }

    #[test]
    fn poster_names_that_could_leave_the_folder_are_refused() {
        for name in ["../x.jpg", ".hidden", "a/b.jpg", "a\\b.jpg", "", "x y.jpg"] {
            let mut parts = demo_model().into_parts();
            parts.catalog[3].poster = name.into();
            let message = Model::new(parts).unwrap_err().to_string();
            assert!(
                message.contains("not a plain file name"),
                "{name}: {message}"
            );
        }
    }

    #[test]
    fn catalog_entries_come_from_movies_with_their_poster_file_name() {
        let text =
            r#"[{"id":7,"title":"가","vote_average":7.5,"popularity":3,"poster_path":"/x.jpg"}]"#;
        let movie = &crate::catalog::parse(text.as_bytes()).unwrap().0[0];
        let entry = CatalogEntry::from(movie);
        assert_eq!((entry.id, entry.poster.as_str()), (7, "7.jpg"));
        assert_eq!((entry.vote_average, entry.popularity), (7.5, 3.0));
    }
}
