//! The 64:16:20 split into train, validation and test rows.

use crate::random::Rng;

/// Row indices of the three parts of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// 64 % of the rows.
    pub train: Vec<usize>,
    /// 16 % of the rows.
    pub validation: Vec<usize>,
    /// 20 % of the rows.
    pub test: Vec<usize>,
}

/// Splits `n` rows like two scikit-learn `train_test_split(test_size=0.2)` calls: 20 % test,
/// then 20 % of the rest as validation, so 64:16:20. Seeded; training and `evaluate` rebuild
/// the same split from the seed stored in the model.
pub fn split(n: usize, seed: u64) -> Split {
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let test_len = (n * 2).div_ceil(10);
    let rest = n - test_len;
    let validation_len = (rest * 2).div_ceil(10);
    let test = order[..test_len].to_vec();
    let validation = order[test_len..test_len + validation_len].to_vec();
    let train = order[test_len + validation_len..].to_vec();
    Split {
        train,
        validation,
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_64_16_20_and_covers_every_row_once() {
        let parts = split(1022, 9);
        assert_eq!(
            (parts.train.len(), parts.validation.len(), parts.test.len()),
            (653, 164, 205)
        );
        let mut all: Vec<usize> = [parts.train, parts.validation, parts.test].concat();
        all.sort();
        assert_eq!(all, (0..1022).collect::<Vec<_>>());
        assert_eq!(split(50, 1), split(50, 1));
        assert_ne!(split(50, 1), split(50, 2));
    }
}
