//! FNV-1a hashes: a cheap fingerprint for "are these bits the same"
//! (fields across targets and thread counts, files, settings).

/// FNV-1a (64 bit) of a byte sequence.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// FNV-1a of the little-endian bits of a sequence of `f64`.
pub fn fnv1a_f64(values: impl IntoIterator<Item = f64>) -> u64 {
    fnv1a(values.into_iter().flat_map(|x| x.to_bits().to_le_bytes()))
}
