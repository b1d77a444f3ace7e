//! Deterministic random streams.
//!
//! Every random draw in genims comes from a ChaCha stream derived from the plant seed and a
//! key naming what the stream is for (an entity kind, an entity index, a time bucket). Two
//! runs with the same seed therefore draw the same numbers in the same places, whatever the
//! thread count, the order of work, or the wall clock.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator type used everywhere.
pub type Rng = ChaCha8Rng;

/// One step of SplitMix64: a fast, well-mixed bijection on `u64`.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a hash of a label, so that streams can be named with readable strings.
pub fn label(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// A ChaCha stream keyed by `seed` and the parts of `key`.
///
/// Different keys give independent streams; the same key always gives the same stream.
pub fn stream(seed: u64, key: &[u64]) -> Rng {
    from_state(stream_state(seed, key))
}

/// The 64-bit state [`stream`] expands into its ChaCha key: the stream remade from it by
/// [`from_state`] is the same, so a parked stream need keep only these 8 bytes.
pub fn stream_state(seed: u64, key: &[u64]) -> u64 {
    let mut state = splitmix64(seed);
    for &k in key {
        state = splitmix64(state ^ splitmix64(k));
    }
    state
}

/// The stream whose state [`stream_state`] gave.
pub fn from_state(state: u64) -> Rng {
    let mut bytes = [0u8; 32];
    let mut s = state;
    for chunk in bytes.chunks_mut(8) {
        s = splitmix64(s);
        chunk.copy_from_slice(&s.to_le_bytes());
    }
    Rng::from_seed(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn same_key_same_stream() {
        let a: Vec<u64> = (0..8).map(|_| 0).scan(stream(7, &[1, 2]), |r, _| Some(r.random())).collect();
        let b: Vec<u64> = (0..8).map(|_| 0).scan(stream(7, &[1, 2]), |r, _| Some(r.random())).collect();
        assert_eq!(a, b, "the same seed and key must give the same numbers");
    }

    #[test]
    fn different_keys_differ() {
        let x: u64 = stream(7, &[1, 2]).random();
        let y: u64 = stream(7, &[2, 1]).random();
        let z: u64 = stream(8, &[1, 2]).random();
        assert_ne!(x, y, "key order must matter");
        assert_ne!(x, z, "the seed must matter");
    }
}
