//! The checked-in demo model (58 classes, hidden 64, a catalog with titles) mutated at every
//! byte and cut at every length: each is an error, never a panic and never a different model.

use cinerec_core::decode;

const MODEL: &[u8] = include_bytes!("data/model.bin");

#[test]
fn every_length_and_every_byte_of_a_demo_sized_artifact_is_checked() {
    assert!(
        MODEL.len() > 15_000,
        "a realistic size: {} bytes",
        MODEL.len()
    );
    assert!(decode(MODEL).is_ok());
    for len in 0..MODEL.len() {
        assert!(decode(&MODEL[..len]).is_err(), "cut at {len}");
    }
    let mut mutated = MODEL.to_vec();
    for index in 0..MODEL.len() {
        mutated[index] ^= 0xA5;
        assert!(decode(&mutated).is_err(), "byte {index} flipped");
        mutated[index] = MODEL[index];
    }
}
