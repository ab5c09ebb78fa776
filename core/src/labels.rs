//! The label encoder: content ids ↔ class indices, in ascending id order.

use serde::{Deserialize, Serialize};

/// Sorted, distinct content ids; a class index is a position in this list.
///
/// Deserialising refuses a list that is not strictly ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u64>", into = "Vec<u64>")]
pub struct LabelEncoder {
    classes: Vec<u64>,
}

impl TryFrom<Vec<u64>> for LabelEncoder {
    type Error = &'static str;

    fn try_from(classes: Vec<u64>) -> Result<LabelEncoder, Self::Error> {
        LabelEncoder::from_sorted(classes).ok_or("class ids are not strictly ascending")
    }
}

impl From<LabelEncoder> for Vec<u64> {
    fn from(encoder: LabelEncoder) -> Vec<u64> {
        encoder.classes
    }
}

impl LabelEncoder {
    /// Learns the classes from any list of ids (order and repeats do not matter).
    pub fn fit(ids: impl IntoIterator<Item = u64>) -> LabelEncoder {
        let mut classes: Vec<u64> = ids.into_iter().collect();
        classes.sort_unstable();
        classes.dedup();
        LabelEncoder { classes }
    }

    /// Rebuilds an encoder from a stored list, which must be strictly ascending.
    pub(crate) fn from_sorted(classes: Vec<u64>) -> Option<LabelEncoder> {
        classes
            .windows(2)
            .all(|pair| pair[0] < pair[1])
            .then_some(LabelEncoder { classes })
    }

    /// The class index of a content id, if the id is a class.
    pub fn index_of(&self, content_id: u64) -> Option<usize> {
        self.classes.binary_search(&content_id).ok()
    }

    /// The content ids, in class-index order.
    pub fn classes(&self) -> &[u64] {
        &self.classes
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_sorted_and_distinct() {
        let encoder = LabelEncoder::fit([30, 10, 20, 10]);
        assert_eq!(encoder.classes(), [10, 20, 30]);
        assert_eq!(encoder.index_of(20), Some(1));
        assert_eq!(encoder.index_of(25), None);
    }

    #[test]
    fn from_sorted_refuses_unsorted_or_repeated_ids() {
        assert!(LabelEncoder::from_sorted(vec![1, 2, 3]).is_some());
        assert!(LabelEncoder::from_sorted(vec![1, 1]).is_none());
        assert!(LabelEncoder::from_sorted(vec![2, 1]).is_none());
    }
}
