//! openQCD's exported gauge configurations (`export_cnfg`, the "CERN" format).
//!
//! Little-endian throughout. Header: four `i32` lattice sizes `N0 N1 N2 N3`
//! (openQCD's direction 0 is time) and one `f64`, the average plaquette
//! `⟨Re tr U_p⟩` over all `6·V` plaquettes (not divided by 3: three times
//! fpa's [`average_plaquette`]). Then, for every odd point `x`
//! (`x0 + x1 + x2 + x3` odd) in the order of `ix = x3 + N3·(x2 + N2·(x1 + N1·x0))`
//! (x3 fastest), the eight links `U(x, 0), U(x − 0̂, 0), U(x, 1), U(x − 1̂, 1), …,
//! U(x, 3), U(x − 3̂, 3)`, each 3×3 row by row as `(re, im)` f64 (144 bytes).
//! Every link touches exactly one odd point, so every link appears once; this
//! needs even lattice sizes.
//!
//! Coordinates: openQCD `(x0, x1, x2, x3)` = fpa `(t, x, y, z)`; openQCD
//! direction `0, 1, 2, 3` = fpa direction `t, x, y, z` = `3, 0, 1, 2`
//! (the mapping of Grid's and Chroma's readers).
//!
//! The reader checks the length, the plaquette (to 1e-12) and SU(3) of every link.

use crate::io::gauge_file::{
    first_non_su3, from_row_major, push_row_major, read_floats, require_4d, write_floats, Decoded, Format,
    GaugeFileError,
};
use crate::io::nersc::Precision;
use crate::lattice::{GaugeField, Geometry};
use crate::observe::average_plaquette;
use crate::su3::Mat3;
use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

const F: Format = Format::OpenQcd;
const HEADER: usize = 4 * 4 + 8;
const LINK: usize = 144;
/// fpa direction of openQCD direction `k`.
const FPA_DIR: [usize; 4] = [3, 0, 1, 2];

fn sizes(bytes: &[u8]) -> Option<[usize; 4]> {
    if bytes.len() < HEADER {
        return None;
    }
    let mut n = [0usize; 4];
    for (k, v) in n.iter_mut().enumerate() {
        let x = i32::from_le_bytes(bytes[4 * k..4 * k + 4].try_into().unwrap());
        *v = usize::try_from(x).ok().filter(|v| (2..=1 << 16).contains(v))?;
    }
    Some(n)
}

fn expected_len(n: &[usize; 4]) -> Option<u64> {
    let v = n.iter().try_fold(1u64, |a, &x| a.checked_mul(x as u64))?;
    (v / 2).checked_mul(8 * LINK as u64)?.checked_add(HEADER as u64)
}

/// Whether `bytes` have an openQCD header whose sizes match the file length
/// exactly (the format has no magic number).
pub fn looks_like(bytes: &[u8]) -> bool {
    sizes(bytes).and_then(|n| expected_len(&n)) == Some(bytes.len() as u64)
}

/// Whether `bytes` start with four plausible even openQCD lattice sizes (a
/// damaged openQCD file rather than an unknown format).
pub fn plausible_header(bytes: &[u8]) -> bool {
    sizes(bytes).is_some_and(|n| n.iter().all(|x| x % 2 == 0))
}

/// The fpa site of openQCD coordinates `(x0, x1, x2, x3)`.
fn fpa_site(g: &Geometry, x: [usize; 4]) -> usize {
    g.index(&[x[1], x[2], x[3], x[0]])
}

/// Calls `f(fpa link index)` for the links in file order.
fn for_each_link_in_file_order(g: &Geometry, n: [usize; 4], mut f: impl FnMut(usize)) {
    for x0 in 0..n[0] {
        for x1 in 0..n[1] {
            for x2 in 0..n[2] {
                for x3 in 0..n[3] {
                    if (x0 + x1 + x2 + x3) % 2 == 0 {
                        continue;
                    }
                    let site = fpa_site(g, [x0, x1, x2, x3]);
                    for dir in FPA_DIR {
                        f(4 * site + dir);
                        f(4 * g.dn(site, dir) + dir);
                    }
                }
            }
        }
    }
}

/// Reads and verifies an openQCD file.
pub fn decode(bytes: &[u8]) -> Result<Decoded, GaugeFileError> {
    let bad =
        |field: &str, value: alloc::string::String| GaugeFileError::BadHeader { format: F, field: field.into(), value };
    if bytes.len() < HEADER {
        return Err(GaugeFileError::Truncated {
            format: F,
            part: "header",
            expected: HEADER as u64,
            found: bytes.len() as u64,
        });
    }
    let n = sizes(bytes).ok_or_else(|| bad("lattice sizes", alloc::format!("{:?}", &bytes[..16])))?;
    if let Some(k) = n.iter().position(|x| x % 2 == 1) {
        return Err(bad(["N0", "N1", "N2", "N3"][k], alloc::format!("{} (openQCD lattices have even sizes)", n[k])));
    }
    let expected = expected_len(&n).ok_or_else(|| bad("lattice sizes", alloc::format!("{n:?}")))?;
    if (bytes.len() as u64) < expected {
        return Err(GaugeFileError::Truncated { format: F, part: "link data", expected, found: bytes.len() as u64 });
    }
    if bytes.len() as u64 > expected {
        return Err(GaugeFileError::TrailingData { format: F, expected, found: bytes.len() as u64 });
    }
    let header_plaq = f64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let geom = Geometry::new(&[n[1], n[2], n[3], n[0]]).map_err(|e| bad("lattice sizes", e.to_string()))?;
    let numbers = read_floats(&bytes[HEADER..], Precision::F64, false);
    let mut links = alloc::vec![Mat3::zero(); geom.n_links()];
    let mut k = 0;
    for_each_link_in_file_order(&geom, n, |l| {
        links[l] = from_row_major(&numbers[18 * k..18 * k + 18]);
        k += 1;
    });
    if let Some((l, deviation)) = first_non_su3(&links, 1e-10) {
        return Err(GaugeFileError::NotSu3 { format: F, site: l / 4, mu: l % 4, deviation });
    }
    let field = GaugeField::from_links(Arc::new(geom), links);
    let computed = 3.0 * average_plaquette(&field);
    if header_plaq.is_nan() || (computed - header_plaq).abs() > 1e-12 {
        return Err(GaugeFileError::Plaquette { format: F, header: header_plaq, computed });
    }
    Ok(Decoded { field, format: F, precision: Precision::F64, verified: alloc::vec!["length", "SU(3)", "plaquette"] })
}

/// Writes a 4D field with even sizes as an openQCD file.
pub fn encode(u: &GaugeField<f64>) -> Result<Vec<u8>, GaugeFileError> {
    require_4d(u, F)?;
    let g = u.geometry();
    let d = g.dims();
    let n = [d[3], d[0], d[1], d[2]];
    if n.iter().any(|x| x % 2 == 1) {
        return Err(GaugeFileError::Unsupported {
            format: F,
            what: alloc::format!("a lattice with an odd size ({}; openQCD needs even sizes)", g.label()),
        });
    }
    let mut out = Vec::with_capacity(HEADER + g.n_links() * LINK);
    for x in n {
        out.extend_from_slice(&(x as i32).to_le_bytes());
    }
    out.extend_from_slice(&(3.0 * average_plaquette(u)).to_le_bytes());
    let mut numbers = Vec::with_capacity(18);
    for_each_link_in_file_order(g, n, |l| {
        numbers.clear();
        push_row_major(&u.links()[l], &mut numbers);
        write_floats(&numbers, Precision::F64, false, &mut out);
    });
    Ok(out)
}
