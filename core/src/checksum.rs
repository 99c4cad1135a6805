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

/// The CRC-32 of zlib, PNG and the SciDAC checksums (IEEE 802.3 polynomial,
/// reflected, initial value and final xor `0xffff_ffff`):
/// `crc32(b"123456789") == 0xcbf4_3926`.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}
