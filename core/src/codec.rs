//! The artifact's payload, both ways, field by field.
//!
//! The bytes are bincode 2's standard encoding with little-endian, fixed-width integers (a
//! test holds this against bincode itself): integers and floats as their little-endian bytes,
//! text and lists as a `u64` length then their contents, fixed-size arrays as their elements,
//! enums as a `u32` variant index. The [`ModelParts`], in order:
//!
//! | part | fields |
//! | --- | --- |
//! | metadata | code_version (text), config (objective, epochs u32, hidden u32, batch_size u32, optimizer, learning_rate f32, seed u64), training_data_sha256 (text), catalog_sha256 (text), rows u64, split_sizes 3 × u64, test (accuracy f64, top10 f64, rows u64), epochs (list of epoch u32, train_loss f64, train_accuracy f64, val_loss f64, val_accuracy f64) |
//! | scaler | mean 3 × f64, scale 3 × f64 |
//! | labels | list of u64 |
//! | mlp | inputs u32, hidden u32, classes u32, w1, b1, w2, b2 (lists of f32; w2's elements are IEEE binary16, 2 bytes each, in format 4) |
//! | catalog | list of (id u64, title text, poster text, vote_average f64, popularity f64) |
//! | input | variant u32: 0 features; 1 recent movies, then its weights (list of f32) |
//!
//! Format 4 differs from format 3 in w2's elements only ([`Storage::F16`]): the header's
//! version says which, so a payload has one reading and a model one encoding.
//!
//! Written here rather than through serde: the browser decodes every model it shows, and a
//! reader this size is a fraction of serde's (with the float formatter its errors bring).
//! Reading never allocates more than the input could hold: a length is checked against the
//! bytes left before anything is reserved, and text is checked as UTF-8 in place.

use crate::labels::LabelEncoder;
use crate::mlp::{Mlp, MlpParts};
use crate::parts::{
    CatalogEntry, EpochReport, Input, Metadata, ModelParts, Objective, Optimizer, Storage,
    TestMetrics, TrainConfig,
};
use crate::scaler::{Scaler, FEATURES};

/// The largest payload [`from_bytes`] accepts (64 MiB; the demo model is about 22 KB).
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;

/// The payload of a model.
pub(crate) fn to_bytes(parts: &ModelParts) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(1024 + 4 * parts.mlp.parts().w2.len()));
    let ModelParts {
        metadata,
        scaler,
        labels,
        mlp,
        catalog,
        input,
        storage,
    } = parts;
    out.text(&metadata.code_version);
    let config = &metadata.config;
    out.u32(match config.objective {
        Objective::Item => 0,
        Objective::CoWatch => 1,
        Objective::Next => 2,
    });
    out.u32(config.epochs);
    out.u32(config.hidden);
    out.u32(config.batch_size);
    out.u32(match config.optimizer {
        Optimizer::Sgd => 0,
        Optimizer::Adam => 1,
    });
    out.f32(config.learning_rate);
    out.u64(config.seed);
    out.text(&metadata.training_data_sha256);
    out.text(&metadata.catalog_sha256);
    out.u64(metadata.rows);
    metadata.split_sizes.iter().for_each(|&n| out.u64(n));
    out.f64(metadata.test.accuracy);
    out.f64(metadata.test.top10);
    out.u64(metadata.test.rows);
    out.u64(metadata.epochs.len() as u64);
    for epoch in &metadata.epochs {
        out.u32(epoch.epoch);
        out.f64(epoch.train_loss);
        out.f64(epoch.train_accuracy);
        out.f64(epoch.val_loss);
        out.f64(epoch.val_accuracy);
    }
    scaler.mean.iter().for_each(|&v| out.f64(v));
    scaler.scale.iter().for_each(|&v| out.f64(v));
    out.u64(labels.len() as u64);
    labels.classes().iter().for_each(|&id| out.u64(id));
    let weights = mlp.parts();
    out.u32(weights.inputs);
    out.u32(weights.hidden);
    out.u32(weights.classes);
    for (name, values) in [
        ("w1", &weights.w1),
        ("b1", &weights.b1),
        ("w2", &weights.w2),
        ("b2", &weights.b2),
    ] {
        out.u64(values.len() as u64);
        // One loop with the element's writer chosen once (two loops cost the page 0.4 KB).
        let write: fn(&mut Writer, f32) = match storage {
            Storage::F16 if name == "w2" => Writer::f16,
            _ => Writer::f32,
        };
        values.iter().for_each(|&v| write(&mut out, v));
    }
    out.u64(catalog.len() as u64);
    for entry in catalog {
        out.u64(entry.id);
        out.text(&entry.title);
        out.text(&entry.poster);
        out.f64(entry.vote_average);
        out.f64(entry.popularity);
    }
    match input {
        Input::Features => out.u32(0),
        Input::Recent { weights } => {
            out.u32(1);
            out.u64(weights.len() as u64);
            weights.iter().for_each(|&w| out.f32(w));
        }
    }
    out.0
}

/// The parts a payload of the given storage holds, or what is wrong with it (see the module
/// docs).
pub(crate) fn from_bytes<'a>(bytes: &'a [u8], storage: Storage) -> Result<ModelParts, String> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(format!(
            "{} bytes is above the {MAX_PAYLOAD}-byte limit",
            bytes.len()
        ));
    }
    let mut input = Reader { bytes, at: 0 };
    let metadata = Metadata {
        code_version: input.text("code_version")?,
        config: TrainConfig {
            objective: match input.u32("objective")? {
                0 => Objective::Item,
                1 => Objective::CoWatch,
                2 => Objective::Next,
                other => return Err(format!("objective {other} is not a known objective")),
            },
            epochs: input.u32("epochs")?,
            hidden: input.u32("hidden")?,
            batch_size: input.u32("batch_size")?,
            optimizer: match input.u32("optimizer")? {
                0 => Optimizer::Sgd,
                1 => Optimizer::Adam,
                other => return Err(format!("optimizer {other} is not a known optimizer")),
            },
            learning_rate: input.f32("learning_rate")?,
            seed: input.u64("seed")?,
        },
        training_data_sha256: input.text("training_data_sha256")?,
        catalog_sha256: input.text("catalog_sha256")?,
        rows: input.u64("rows")?,
        split_sizes: [
            input.u64("split_sizes")?,
            input.u64("split_sizes")?,
            input.u64("split_sizes")?,
        ],
        test: TestMetrics {
            accuracy: input.f64("test.accuracy")?,
            top10: input.f64("test.top10")?,
            rows: input.u64("test.rows")?,
        },
        epochs: input.list("epochs", 36, |input| {
            Ok(EpochReport {
                epoch: input.u32("epoch")?,
                train_loss: input.f64("train_loss")?,
                train_accuracy: input.f64("train_accuracy")?,
                val_loss: input.f64("val_loss")?,
                val_accuracy: input.f64("val_accuracy")?,
            })
        })?,
    };
    let mut scaler = Scaler {
        mean: [0.0; FEATURES],
        scale: [0.0; FEATURES],
    };
    for value in scaler.mean.iter_mut().chain(scaler.scale.iter_mut()) {
        *value = input.f64("scaler")?;
    }
    let classes = input.list("labels", 8, |input| input.u64("labels"))?;
    let labels =
        LabelEncoder::from_sorted(classes).ok_or("class ids are not strictly ascending")?;
    let mut weights = MlpParts {
        inputs: input.u32("mlp.inputs")?,
        hidden: input.u32("mlp.hidden")?,
        classes: input.u32("mlp.classes")?,
        w1: Vec::new(),
        b1: Vec::new(),
        w2: Vec::new(),
        b2: Vec::new(),
    };
    for (name, values) in [
        ("w1", &mut weights.w1),
        ("b1", &mut weights.b1),
        ("w2", &mut weights.w2),
        ("b2", &mut weights.b2),
    ] {
        // One list reader with the element's reader chosen once (as in `to_bytes`).
        let (size, read): (usize, ReadF32<'a>) = match storage {
            Storage::F16 if name == "w2" => (2, Reader::f16),
            _ => (4, Reader::f32),
        };
        *values = input.list(name, size, |input| read(input, name))?;
    }
    let mlp = Mlp::from_parts(weights).map_err(|error| error.to_string())?;
    let catalog = input.list("catalog", 40, |input| {
        Ok(CatalogEntry {
            id: input.u64("catalog id")?,
            title: input.text("title")?,
            poster: input.text("poster")?,
            vote_average: input.f64("vote_average")?,
            popularity: input.f64("popularity")?,
        })
    })?;
    let network_input = match input.u32("input")? {
        0 => Input::Features,
        1 => Input::Recent {
            weights: input.list("recency weights", 4, |input| input.f32("recency weights"))?,
        },
        other => {
            return Err(format!(
                "input {other} is not a known kind of network input"
            ))
        }
    };
    let left = bytes.len() - input.at;
    if left > 0 {
        return Err(format!("{left} bytes left over after the model"));
    }
    Ok(ModelParts {
        metadata,
        scaler,
        labels,
        mlp,
        catalog,
        input: network_input,
        storage,
    })
}

/// The `f32` a binary16 value (its bits) equals: exact, since every binary16 value is an
/// `f32` value; integer operations and one exact product, so the same everywhere.
pub(crate) fn f32_from_f16(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from(bits >> 10) & 0x1f;
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match exponent {
        // Subnormal (or zero): mantissa · 2^-24, both factors exact f32s, so is the product.
        0 => (mantissa as f32 * f32::from_bits(0x3380_0000)).to_bits(),
        // Infinity or NaN (which `Mlp::from_parts` then refuses).
        0x1f => 0x7f80_0000 | (mantissa << 13),
        // Normal: rebias the exponent from 15 to 127, widen the mantissa from 10 bits to 23.
        _ => ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// The binary16 value nearest to `value` (ties to even; beyond 65,504 infinity), its bits.
pub(crate) fn f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = (bits >> 16) as u16 & 0x8000;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        return sign | 0x7c00 | if mantissa == 0 { 0 } else { 0x200 };
    }
    // Keep the top bits of `significand`, dropping `shift` bits, rounded to nearest, ties to
    // even; a carry out of the mantissa moves into the exponent, which is also right.
    let rounded = |significand: u32, shift: u32| -> u16 {
        let kept = significand >> shift;
        let rest = significand & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        (kept + u32::from(rest > half || (rest == half && kept & 1 == 1))) as u16
    };
    let half_exponent = exponent - 127 + 15;
    if half_exponent >= 0x1f {
        sign | 0x7c00
    } else if half_exponent > 0 {
        sign | rounded(((half_exponent as u32) << 23) | mantissa, 13)
    } else {
        // A binary16 subnormal: the significand with its leading 1, in units of 2^-24.
        let shift = (14 - half_exponent) as u32;
        if shift > 24 {
            return sign; // at most half of 2^-24: zero
        }
        sign | rounded(mantissa | 0x80_0000, shift)
    }
}

/// The binary16 value nearest to `value` (ties to even), as the `f32` it equals: what
/// [`Storage::F16`] keeps of a weight.
pub fn half_precision(value: f32) -> f32 {
    f32_from_f16(f16_bits(value))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn f32(&mut self, value: f32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A binary16 value, given as the `f32` it equals.
    fn f16(&mut self, value: f32) {
        self.0.extend_from_slice(&f16_bits(value).to_le_bytes());
    }

    fn f64(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn text(&mut self, value: &str) {
        self.u64(value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }
}

/// A reader of one weight.
type ReadF32<'a> = fn(&mut Reader<'a>, &str) -> Result<f32, String>;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes; `what` names the field in the error.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(format!(
                "{what}: the payload ends early ({n} bytes needed, {left} left)"
            ));
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A binary16 value, as the `f32` it equals.
    fn f16(&mut self, what: &str) -> Result<f32, String> {
        self.array(what)
            .map(|bytes| f32_from_f16(u16::from_le_bytes(bytes)))
    }

    fn f32(&mut self, what: &str) -> Result<f32, String> {
        self.array(what).map(f32::from_le_bytes)
    }

    fn f64(&mut self, what: &str) -> Result<f64, String> {
        self.array(what).map(f64::from_le_bytes)
    }

    /// A length prefix, refused when `len` elements of at least `element` bytes each could
    /// not fit in the bytes left: nothing is reserved for what cannot be there.
    fn len(&mut self, element: usize, what: &str) -> Result<usize, String> {
        let claimed = self.u64(what)?;
        let left = (self.bytes.len() - self.at) as u64;
        if claimed.saturating_mul(element as u64) > left {
            return Err(format!(
                "{what}: a length of {claimed} cannot fit in the {left} bytes left"
            ));
        }
        Ok(claimed as usize)
    }

    fn text(&mut self, what: &str) -> Result<String, String> {
        let len = self.len(1, what)?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| format!("{what} is not valid UTF-8"))
    }

    /// A list whose elements take at least `element` bytes each.
    fn list<T>(
        &mut self,
        what: &str,
        element: usize,
        mut read: impl FnMut(&mut Reader<'a>) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let len = self.len(element, what)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(read(self)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::demo_model;

    /// The payload is bincode 2's standard, little-endian, fixed-width encoding of the parts:
    /// written by bincode itself, it is byte for byte what this module writes.
    #[test]
    fn the_payload_is_exactly_what_bincode_writes() {
        let parts = demo_model().into_parts();
        let config = bincode::config::standard()
            .with_little_endian()
            .with_fixed_int_encoding();
        let by_bincode = bincode::serde::encode_to_vec(&parts, config).unwrap();
        assert_eq!(to_bytes(&parts), by_bincode);
        assert_eq!(from_bytes(&by_bincode, Storage::F32).unwrap(), parts);
    }

    #[test]
    fn lengths_that_cannot_fit_are_refused_before_anything_is_reserved() {
        let mut bytes = to_bytes(&demo_model().into_parts());
        bytes[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert_eq!(
            from_bytes(&bytes, Storage::F32).unwrap_err(),
            format!(
                "code_version: a length of {} cannot fit in the {} bytes left",
                1u64 << 60,
                bytes.len() - 8
            )
        );
    }

    #[test]
    fn unknown_variants_and_bad_text_are_named() {
        let parts = demo_model().into_parts();
        let bytes = to_bytes(&parts);
        let objective_at = 8 + parts.metadata.code_version.len();
        let mut unknown = bytes.clone();
        unknown[objective_at] = 7;
        assert_eq!(
            from_bytes(&unknown, Storage::F32).unwrap_err(),
            "objective 7 is not a known objective"
        );
        let mut garbled = bytes;
        garbled[8] = 0xFF;
        assert_eq!(
            from_bytes(&garbled, Storage::F32).unwrap_err(),
            "code_version is not valid UTF-8"
        );
    }

    #[test]
    fn every_binary16_value_decodes_exactly_and_encodes_back() {
        for bits in 0..=u16::MAX {
            let value = f32_from_f16(bits);
            // Against the definition, in f64: (-1)^s · 2^(e - 15) · 1.m, or 2^-14 · 0.m.
            let (exponent, mantissa) = (i32::from(bits >> 10 & 0x1f), f64::from(bits & 0x3ff));
            let magnitude = match exponent {
                0 => mantissa * 2f64.powi(-24),
                0x1f if mantissa == 0.0 => f64::INFINITY,
                0x1f => f64::NAN,
                _ => (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
            };
            let expected = if bits & 0x8000 != 0 {
                -magnitude
            } else {
                magnitude
            };
            if expected.is_nan() {
                assert!(value.is_nan(), "{bits:#06x}");
                continue;
            }
            assert_eq!(
                f64::from(value).to_bits(),
                expected.to_bits(),
                "{bits:#06x}"
            );
            assert_eq!(f16_bits(value), bits, "{bits:#06x}");
        }
    }

    #[test]
    fn rounding_to_binary16_is_to_the_nearest_ties_to_even() {
        // Every binary16 neighbour pair, and f32s at, around and between them.
        let check = |value: f32| {
            let rounded = f64::from(half_precision(value));
            let distance = (rounded - f64::from(value)).abs();
            let bits = f16_bits(value);
            for neighbour in [bits.wrapping_sub(1), bits.wrapping_add(1)] {
                let other = f64::from(f32_from_f16(neighbour));
                if other.is_finite()
                    && (neighbour & 0x7fff) < 0x7c00
                    && (neighbour ^ bits) & 0x8000 == 0
                {
                    let other_distance = (other - f64::from(value)).abs();
                    assert!(
                        distance <= other_distance,
                        "{value:e}: {rounded:e} or {other:e}"
                    );
                    if distance == other_distance {
                        assert_eq!(bits & 1, 0, "{value:e}: a tie goes to the even one");
                    }
                }
            }
        };
        for bits in (0..0x7bffu16).step_by(3) {
            let (low, high) = (f32_from_f16(bits), f32_from_f16(bits + 1));
            let middle = (low + high) / 2.0; // exact: both are f32s with room below
            for value in [
                low,
                middle,
                f32::from_bits(middle.to_bits() - 1),
                f32::from_bits(middle.to_bits() + 1),
            ] {
                check(value);
                check(-value);
            }
        }
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(
            f16_bits(65520.0),
            0x7c00,
            "halfway to the next power: infinity"
        );
        assert_eq!(f16_bits(1e-8), 0);
        assert_eq!(f16_bits(f32::from_bits(1)), 0);
        assert_eq!(f16_bits(-0.0), 0x8000);
    }

    #[test]
    fn a_binary16_payload_is_the_f32_one_with_two_bytes_per_output_weight() {
        let mut parts = demo_model().into_parts();
        let w2 = &parts.mlp.parts().w2;
        let rounded: Vec<f32> = w2.iter().map(|&v| half_precision(v)).collect();
        let mut weights = parts.mlp.parts().clone();
        weights.w2 = rounded;
        parts.mlp = Mlp::from_parts(weights).unwrap();
        let as_f32 = to_bytes(&parts);
        parts.storage = Storage::F16;
        let as_f16 = to_bytes(&parts);
        assert_eq!(as_f32.len() - as_f16.len(), 2 * parts.mlp.parts().w2.len());
        assert_eq!(from_bytes(&as_f16, Storage::F16).unwrap(), parts);
        assert!(from_bytes(&as_f16, Storage::F32).is_err());
    }
}
