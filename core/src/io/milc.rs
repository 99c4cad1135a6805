//! MILC's version-5 binary gauge files (read only).
//!
//! All words are in the byte order of the machine that wrote the file, which
//! the reader recognises from the magic number 20103. Header (88 bytes):
//! `i32` magic, `i32` sizes `nx ny nz nt`, a 64-byte time stamp, `i32` order
//! (0: sites in natural order; otherwise a list of `nx·ny·nz·nt` `i32` site
//! indices `x + nx(y + ny(z + nz t))` follows, giving the site of each entry).
//! Then two `u32` checksums `sum29`, `sum31`, then per site the four links
//! `mu = x, y, z, t`, each 3×3 row by row as `(re, im)` in 32-bit floats.
//!
//! Checksums: with `w_k` the `k`-th 32-bit word of the link data in file order
//! (as a number, after byte-order correction),
//! `sum29 = XOR_k rotl(w_k, k mod 29)` and `sum31 = XOR_k rotl(w_k, k mod 31)`.
//! The reader checks both, the length, the site list and SU(3) of every link
//! (to single precision), then re-unitarises the links in double precision.

use crate::io::gauge_file::{first_non_su3, from_row_major, read_floats, Decoded, Format, GaugeFileError};
use crate::io::nersc::Precision;
use crate::lattice::{GaugeField, Geometry};
use crate::su3::{reunitarize, Mat3};
use alloc::format;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

const F: Format = Format::Milc;
/// MILC's magic number for version-5 gauge files.
pub const MAGIC: i32 = 20103;
const HEADER: usize = 88;
const SITE: usize = 4 * 18 * 4;

/// `Some(big_endian)` if `bytes` start with MILC's magic number.
pub fn byte_order(bytes: &[u8]) -> Option<bool> {
    let m: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    if i32::from_le_bytes(m) == MAGIC {
        Some(false)
    } else if i32::from_be_bytes(m) == MAGIC {
        Some(true)
    } else {
        None
    }
}

/// `(sum29, sum31)` of 32-bit words in file order.
pub fn checksums(words: impl Iterator<Item = u32>) -> (u32, u32) {
    words
        .enumerate()
        .fold((0, 0), |(a, b), (k, w)| (a ^ w.rotate_left((k % 29) as u32), b ^ w.rotate_left((k % 31) as u32)))
}

/// Reads and verifies a MILC file.
pub fn decode(bytes: &[u8]) -> Result<Decoded, GaugeFileError> {
    let bad =
        |field: &str, value: alloc::string::String| GaugeFileError::BadHeader { format: F, field: field.into(), value };
    let big = byte_order(bytes).ok_or_else(|| bad("magic number", format!("{:?}", bytes.get(..4))))?;
    let truncated = |part, expected: usize| GaugeFileError::Truncated {
        format: F,
        part,
        expected: expected as u64,
        found: bytes.len() as u64,
    };
    if bytes.len() < HEADER + 8 {
        return Err(truncated("header", HEADER + 8));
    }
    let word = |at: usize| {
        let a: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let mut dims = [0usize; 4];
    for (k, d) in dims.iter_mut().enumerate() {
        let v = word(4 + 4 * k) as i32;
        *d = usize::try_from(v)
            .ok()
            .filter(|n| (2..=1 << 16).contains(n))
            .ok_or_else(|| bad(["nx", "ny", "nz", "nt"][k], v.to_string()))?;
    }
    // The length check comes before anything the size of the lattice is allocated.
    let volume = dims
        .iter()
        .try_fold(1usize, |v, &l| v.checked_mul(l))
        .filter(|v| v.checked_mul(SITE + 4).is_some())
        .ok_or_else(|| bad("nx ny nz nt", format!("{dims:?} (too large to address)")))?;
    let order = word(84) as i32;
    let list_bytes = if order == 0 { 0 } else { 4 * volume };
    let data_start = HEADER + list_bytes + 8;
    let expected = data_start + volume * SITE;
    if bytes.len() < expected {
        return Err(truncated("link data", expected));
    }
    if bytes.len() > expected {
        return Err(GaugeFileError::TrailingData { format: F, expected: expected as u64, found: bytes.len() as u64 });
    }
    let geom = Geometry::new(&dims).map_err(|e| bad("nx ny nz nt", e.to_string()))?;
    // The site of each entry in file order.
    let sites: Vec<usize> = if order == 0 {
        (0..volume).collect()
    } else {
        let mut seen = alloc::vec![false; volume];
        let mut s = Vec::with_capacity(volume);
        for k in 0..volume {
            let v = word(HEADER + 4 * k) as usize;
            if v >= volume || seen[v] {
                return Err(bad("site list", format!("entry {k} is {v}: not a permutation of the {volume} sites")));
            }
            seen[v] = true;
            s.push(v);
        }
        s
    };
    let (sum29, sum31) = (word(HEADER + list_bytes), word(HEADER + list_bytes + 4));
    let data = &bytes[data_start..];
    let (a, b) = checksums((0..data.len() / 4).map(|k| word(data_start + 4 * k)));
    if a != sum29 {
        return Err(GaugeFileError::Checksum { format: F, which: "sum29", header: sum29, computed: a });
    }
    if b != sum31 {
        return Err(GaugeFileError::Checksum { format: F, which: "sum31", header: sum31, computed: b });
    }
    let numbers = read_floats(data, Precision::F32, big);
    let mut links = alloc::vec![Mat3::zero(); geom.n_links()];
    for (entry, &site) in sites.iter().enumerate() {
        for mu in 0..4 {
            let k = 18 * (4 * entry + mu);
            links[4 * site + mu] = from_row_major(&numbers[k..k + 18]);
        }
    }
    if let Some((l, deviation)) = first_non_su3(&links, 1e-5) {
        return Err(GaugeFileError::NotSu3 { format: F, site: l / 4, mu: l % 4, deviation });
    }
    for l in links.iter_mut() {
        *l = reunitarize(l);
    }
    Ok(Decoded {
        field: GaugeField::from_links(Arc::new(geom), links),
        format: F,
        precision: Precision::F32,
        verified: alloc::vec!["length", "checksum", "SU(3)"],
    })
}
