//! Gauge-field files in the formats of the field: NERSC, ILDG (LIME), openQCD
//! and MILC, one entry point that recognises the format from the bytes.
//!
//! Every reader verifies what its format can verify (checksums, the plaquette
//! in the header, SU(3) of every link, the exact data length) and refuses a
//! file with a [`GaugeFileError`] that names the format and the problem.
//! All four store the same field: `U_mu(x)` is the link from `x` to `x + mu`,
//! a 3×3 complex matrix stored row by row (`U[a][b]`, `b` fastest, `(re, im)`).

use crate::io::nersc::{self, Layout, NerscError, Precision, WriteOptions};
use crate::io::{ildg, milc, openqcd};
use crate::lattice::GaugeField;
use crate::su3::{Complex, Mat3};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A gauge-file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NERSC archive (`BEGIN_HEADER … END_HEADER`), see [`nersc`].
    Nersc,
    /// ILDG: a LIME file with `ildg-format`, `ildg-binary-data` and a SciDAC
    /// checksum, see [`ildg`].
    Ildg,
    /// openQCD's exported configurations (the "CERN" format), see [`openqcd`].
    OpenQcd,
    /// MILC's version-5 binary files (read only), see [`milc`].
    Milc,
}

impl Format {
    /// All formats, in the order `detect` tries them.
    pub const ALL: [Format; 4] = [Format::Nersc, Format::Ildg, Format::Milc, Format::OpenQcd];

    /// The lower-case name used on command lines (`nersc`, `ildg`, `openqcd`, `milc`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Nersc => "nersc",
            Format::Ildg => "ildg",
            Format::OpenQcd => "openqcd",
            Format::Milc => "milc",
        }
    }

    /// The format with this name (case-insensitive).
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(s))
    }

    /// Whether fpa can write this format (MILC is read only).
    pub fn writable(self) -> bool {
        self != Format::Milc
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Nersc => "NERSC",
            Format::Ildg => "ILDG",
            Format::OpenQcd => "openQCD",
            Format::Milc => "MILC",
        })
    }
}

/// Why a gauge file was refused. Every variant names the format and the part
/// of the file at fault.
#[derive(Clone, Debug, PartialEq)]
pub enum GaugeFileError {
    /// The bytes match none of the formats.
    UnknownFormat {
        len: usize,
    },
    Nersc(NerscError),
    Truncated {
        format: Format,
        part: &'static str,
        expected: u64,
        found: u64,
    },
    TrailingData {
        format: Format,
        expected: u64,
        found: u64,
    },
    BadHeader {
        format: Format,
        field: String,
        value: String,
    },
    MissingRecord {
        format: Format,
        record: &'static str,
    },
    Checksum {
        format: Format,
        which: &'static str,
        header: u32,
        computed: u32,
    },
    Plaquette {
        format: Format,
        header: f64,
        computed: f64,
    },
    NotSu3 {
        format: Format,
        site: usize,
        mu: usize,
        deviation: f64,
    },
    Unsupported {
        format: Format,
        what: String,
    },
}

impl fmt::Display for GaugeFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GaugeFileError::*;
        match self {
            UnknownFormat { len } => write!(
                f,
                "not a gauge file in a known format ({len} bytes; NERSC, ILDG/LIME, openQCD and MILC are recognised)"
            ),
            Nersc(e) => e.fmt(f),
            Truncated { format, part, expected, found } => {
                write!(f, "{format} file is truncated: its {part} needs {expected} bytes, the file has {found}")
            }
            TrailingData { format, expected, found } => {
                write!(f, "{format} file has {found} bytes where its header announces {expected}")
            }
            BadHeader { format, field, value } => write!(f, "{format} header field {field} has an unusable value {value:?}"),
            MissingRecord { format, record } => write!(f, "{format} file has no {record} record"),
            Checksum { format, which, header, computed } => write!(
                f,
                "{format} checksum {which} mismatch: the file says {header:x}, the data give {computed:x} (corrupt data)"
            ),
            Plaquette { format, header, computed } => {
                write!(f, "{format} plaquette mismatch: the header says {header}, the links give {computed}")
            }
            NotSu3 { format, site, mu, deviation } => write!(
                f,
                "{format} file: link at site {site}, direction {mu} is not in SU(3) (deviation {deviation:.2e})"
            ),
            Unsupported { format, what } => write!(f, "{format} file: {what} is not supported"),
        }
    }
}

impl core::error::Error for GaugeFileError {}

impl From<NerscError> for GaugeFileError {
    fn from(e: NerscError) -> Self {
        GaugeFileError::Nersc(e)
    }
}

/// A field read from a file, with what the file said about itself.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub field: GaugeField<f64>,
    pub format: Format,
    /// Width of the stored numbers.
    pub precision: Precision,
    /// The checks the file allowed and passed (`"checksum"`, `"plaquette"`, …).
    pub verified: Vec<&'static str>,
}

/// The format of a gauge file, recognised from its first bytes (and, for
/// openQCD, which has no magic number, from its exact length).
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"BEGIN_HEADER") {
        return Some(Format::Nersc);
    }
    if ildg::is_lime(bytes) {
        return Some(Format::Ildg);
    }
    if milc::byte_order(bytes).is_some() {
        return Some(Format::Milc);
    }
    if openqcd::looks_like(bytes) {
        return Some(Format::OpenQcd);
    }
    None
}

/// The writable formats by the names the C ABI and the Python package take:
/// `nersc` (`4D_SU3_GAUGE_3x3`), `nersc-2row` (`4D_SU3_GAUGE`), `ildg`, `openqcd`.
pub fn write_format(name: &str) -> Option<(Format, Layout)> {
    match name {
        "nersc" => Some((Format::Nersc, Layout::Full)),
        "nersc-2row" => Some((Format::Nersc, Layout::TwoRow)),
        "ildg" => Some((Format::Ildg, Layout::Full)),
        "openqcd" => Some((Format::OpenQcd, Layout::Full)),
        _ => None,
    }
}

/// Reads a gauge file of any supported format, with all its checks.
pub fn decode(bytes: &[u8]) -> Result<Decoded, GaugeFileError> {
    match detect(bytes) {
        Some(Format::Nersc) => {
            let (field, h) = nersc::decode(bytes)?;
            Ok(Decoded {
                field,
                format: Format::Nersc,
                precision: h.precision,
                verified: alloc::vec!["checksum", "plaquette", "link trace", "SU(3)", "length"],
            })
        }
        Some(Format::Ildg) => ildg::decode(bytes),
        Some(Format::Milc) => milc::decode(bytes),
        Some(Format::OpenQcd) => openqcd::decode(bytes),
        // openQCD has no magic number: a file that starts like one but has the
        // wrong length gets openQCD's own message (truncated, too long).
        None if openqcd::plausible_header(bytes) => openqcd::decode(bytes),
        None => Err(GaugeFileError::UnknownFormat { len: bytes.len() }),
    }
}

/// Writes a 4D field in `format`. NERSC uses all of `opts`; ILDG its precision,
/// creator, date and ensemble label (as the logical file name); openQCD none
/// (always f64, little-endian). MILC cannot be written.
pub fn encode(u: &GaugeField<f64>, format: Format, opts: &WriteOptions) -> Result<Vec<u8>, GaugeFileError> {
    match format {
        Format::Nersc => Ok(nersc::encode(u, opts)?),
        Format::Ildg => ildg::encode(u, opts),
        Format::OpenQcd => openqcd::encode(u),
        Format::Milc => Err(GaugeFileError::Unsupported { format, what: "writing (fpa reads MILC files only)".into() }),
    }
}

/// Refuses anything but a 4D field (all formats here are 4D).
pub(crate) fn require_4d(u: &GaugeField<f64>, format: Format) -> Result<(), GaugeFileError> {
    let nd = u.geometry().nd();
    if nd != 4 {
        return Err(GaugeFileError::Unsupported { format, what: alloc::format!("a {nd}D lattice") });
    }
    Ok(())
}

/// The 18 numbers of a link, row by row, `(re, im)`.
pub(crate) fn push_row_major(m: &Mat3<f64>, out: &mut Vec<f64>) {
    for z in m.m.iter().flatten() {
        out.push(z.re);
        out.push(z.im);
    }
}

/// A link from its 18 numbers, row by row, `(re, im)`.
pub(crate) fn from_row_major(x: &[f64]) -> Mat3<f64> {
    let mut m = Mat3::zero();
    for (k, z) in m.m.iter_mut().flatten().enumerate() {
        *z = Complex::new(x[2 * k], x[2 * k + 1]);
    }
    m
}

/// Distance of a link from SU(3): `max(‖UU† − 1‖, |det U − 1|)`, infinite for
/// non-finite entries.
pub(crate) fn su3_deviation(m: &Mat3<f64>) -> f64 {
    if !m.is_finite() {
        return f64::INFINITY;
    }
    (*m * m.adj()).dist(&Mat3::identity()).max((m.det() - Complex::one()).abs())
}

/// The first link (index `4·site + mu`) further than `limit` from SU(3).
pub(crate) fn first_non_su3(links: &[Mat3<f64>], limit: f64) -> Option<(usize, f64)> {
    links.iter().enumerate().map(|(l, m)| (l, su3_deviation(m))).find(|&(_, d)| d > limit)
}

/// Reads `n` floats of width `precision` and the given byte order.
pub(crate) fn read_floats(data: &[u8], precision: Precision, big_endian: bool) -> Vec<f64> {
    match precision {
        Precision::F64 => data
            .chunks_exact(8)
            .map(|w| {
                let a: [u8; 8] = w.try_into().unwrap();
                f64::from_bits(if big_endian { u64::from_be_bytes(a) } else { u64::from_le_bytes(a) })
            })
            .collect(),
        Precision::F32 => data
            .chunks_exact(4)
            .map(|w| {
                let a: [u8; 4] = w.try_into().unwrap();
                f32::from_bits(if big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }) as f64
            })
            .collect(),
    }
}

/// Appends floats of width `precision` in the given byte order.
pub(crate) fn write_floats(x: &[f64], precision: Precision, big_endian: bool, out: &mut Vec<u8>) {
    for &v in x {
        match (precision, big_endian) {
            (Precision::F64, true) => out.extend_from_slice(&v.to_be_bytes()),
            (Precision::F64, false) => out.extend_from_slice(&v.to_le_bytes()),
            (Precision::F32, true) => out.extend_from_slice(&(v as f32).to_be_bytes()),
            (Precision::F32, false) => out.extend_from_slice(&(v as f32).to_le_bytes()),
        }
    }
}
