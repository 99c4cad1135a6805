//! The NERSC gauge-configuration format (`4D_SU3_GAUGE` with two stored rows,
//! `4D_SU3_GAUGE_3x3` with all three).
//!
//! Layout: an ASCII header `BEGIN_HEADER … KEY = value … END_HEADER\n`, then
//! for `t, z, y, x` (x fastest), for `mu = x, y, z, t`, the matrix rows (2 or
//! 3) of 3 complex numbers `(re, im)`, in IEEE 32- or 64-bit floats of the
//! byte order named by `FLOATING_POINT` (`IEEE64BIG`, `IEEE32LITTLE`, …;
//! without a suffix, big-endian). In the two-row format the third row is
//! `conj(row₁ × row₂)`.
//!
//! Header checks on read: `CHECKSUM` is the sum modulo 2³² of the stored data
//! read as 32-bit unsigned words of the numbers (independent of the byte
//! order); `PLAQUETTE` is `⟨Re Tr U_p⟩/3`; `LINK_TRACE` is `⟨Re Tr U⟩/3`.

use crate::io::gauge_file::first_non_su3;
use crate::lattice::{GaugeField, Geometry};
use crate::observe::average_plaquette;
use crate::su3::project::third_row;
use crate::su3::{reunitarize, Complex, Mat3};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// Two stored rows or the full matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    TwoRow,
    Full,
}

/// Width of the stored floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// Byte order of the stored floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Big,
    Little,
}

/// What goes into a written file.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub layout: Layout,
    pub precision: Precision,
    pub endian: Endian,
    pub ensemble_id: String,
    pub ensemble_label: String,
    pub sequence_number: u64,
    pub creator: String,
    pub creation_date: String,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            layout: Layout::Full,
            precision: Precision::F64,
            endian: Endian::Big,
            ensemble_id: "fpa".into(),
            ensemble_label: String::new(),
            sequence_number: 0,
            creator: "fpa".into(),
            creation_date: String::new(),
        }
    }
}

/// The parsed header of a file that was read.
#[derive(Clone, Debug)]
pub struct Header {
    /// All `KEY = value` pairs in file order.
    pub fields: Vec<(String, String)>,
    pub dims: [usize; 4],
    pub layout: Layout,
    pub precision: Precision,
    pub endian: Endian,
    pub checksum: u32,
    pub plaquette: f64,
    pub link_trace: f64,
}

impl Header {
    /// The value of a header field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Why a file was refused. Every variant names the offending field or part.
#[derive(Clone, Debug, PartialEq)]
pub enum NerscError {
    NotNersc,
    UnterminatedHeader,
    MalformedLine(String),
    MissingField(&'static str),
    BadField { field: String, value: String },
    Truncated { expected: usize, found: usize },
    TrailingData { expected: usize, found: usize },
    Checksum { header: u32, computed: u32 },
    Plaquette { header: f64, computed: f64 },
    LinkTrace { header: f64, computed: f64 },
    NotSu3 { site: usize, mu: usize, deviation: f64 },
    NotFourDimensional(usize),
}

impl fmt::Display for NerscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NerscError::*;
        match self {
            NotNersc => write!(f, "not a NERSC gauge file: it does not start with BEGIN_HEADER"),
            UnterminatedHeader => write!(f, "NERSC header has no END_HEADER line"),
            MalformedLine(l) => write!(f, "NERSC header line is not 'KEY = value': {l:?}"),
            MissingField(k) => write!(f, "NERSC header lacks the field {k}"),
            BadField { field, value } => write!(f, "NERSC header field {field} has an unusable value {value:?}"),
            Truncated { expected, found } => write!(
                f,
                "NERSC file is truncated: the header announces {expected} bytes of link data, the file has {found}"
            ),
            TrailingData { expected, found } => {
                write!(f, "NERSC file has {found} bytes of link data where the header announces {expected}")
            }
            Checksum { header, computed } => {
                write!(f, "CHECKSUM mismatch: header says {header:x}, data sum to {computed:x} (corrupt data)")
            }
            Plaquette { header, computed } => {
                write!(f, "PLAQUETTE mismatch: header says {header}, links give {computed}")
            }
            LinkTrace { header, computed } => {
                write!(f, "LINK_TRACE mismatch: header says {header}, links give {computed}")
            }
            NotSu3 { site, mu, deviation } => {
                write!(f, "link at site {site}, direction {mu} is not in SU(3) (deviation {deviation:.2e})")
            }
            NotFourDimensional(d) => write!(f, "NERSC files hold 4D lattices; this one is {d}D"),
        }
    }
}

fn float_label(p: Precision, e: Endian) -> &'static str {
    match (p, e) {
        (Precision::F32, Endian::Big) => "IEEE32BIG",
        (Precision::F32, Endian::Little) => "IEEE32LITTLE",
        (Precision::F64, Endian::Big) => "IEEE64BIG",
        (Precision::F64, Endian::Little) => "IEEE64LITTLE",
    }
}

/// `Re Tr U / 3` averaged over all links.
pub fn link_trace(u: &GaugeField<f64>) -> f64 {
    let s: f64 = crate::par::sum(u.links().len(), |l| u.links()[l].re_tr());
    s / (3.0 * u.links().len() as f64)
}

/// The stored numbers of one link (rows × 3 × (re, im)).
fn stored_numbers(u: &Mat3<f64>, rows: usize, out: &mut Vec<f64>) {
    for row in u.m.iter().take(rows) {
        for z in row {
            out.push(z.re);
            out.push(z.im);
        }
    }
}

/// Encodes a 4D field as a NERSC file.
pub fn encode(u: &GaugeField<f64>, opts: &WriteOptions) -> Result<Vec<u8>, NerscError> {
    let g = u.geometry();
    if g.nd() != 4 {
        return Err(NerscError::NotFourDimensional(g.nd()));
    }
    let rows = match opts.layout {
        Layout::TwoRow => 2,
        Layout::Full => 3,
    };
    let mut numbers = Vec::with_capacity(u.links().len() * rows * 6);
    for link in u.links() {
        stored_numbers(link, rows, &mut numbers);
    }
    let mut data = Vec::with_capacity(numbers.len() * 8);
    let mut checksum = 0u32;
    for &x in &numbers {
        match opts.precision {
            Precision::F64 => {
                let bits = x.to_bits();
                checksum = checksum.wrapping_add(bits as u32).wrapping_add((bits >> 32) as u32);
                data.extend_from_slice(&match opts.endian {
                    Endian::Big => bits.to_be_bytes(),
                    Endian::Little => bits.to_le_bytes(),
                });
            }
            Precision::F32 => {
                let bits = (x as f32).to_bits();
                checksum = checksum.wrapping_add(bits);
                data.extend_from_slice(&match opts.endian {
                    Endian::Big => bits.to_be_bytes(),
                    Endian::Little => bits.to_le_bytes(),
                });
            }
        }
    }
    // Header values describe the data as stored (rounded to f32 if so).
    let stored = if opts.precision == Precision::F32 { round_f32(u) } else { u.clone() };
    let d = g.dims();
    let datatype = match opts.layout {
        Layout::TwoRow => "4D_SU3_GAUGE",
        Layout::Full => "4D_SU3_GAUGE_3x3",
    };
    let fields: Vec<(&str, String)> = alloc::vec![
        ("HDR_VERSION", "1.0".into()),
        ("DATATYPE", datatype.into()),
        ("STORAGE_FORMAT", "1.0".into()),
        ("DIMENSION_1", d[0].to_string()),
        ("DIMENSION_2", d[1].to_string()),
        ("DIMENSION_3", d[2].to_string()),
        ("DIMENSION_4", d[3].to_string()),
        ("LINK_TRACE", format!("{:.15}", link_trace(&stored))),
        ("PLAQUETTE", format!("{:.15}", average_plaquette(&stored))),
        ("BOUNDARY_1", "PERIODIC".into()),
        ("BOUNDARY_2", "PERIODIC".into()),
        ("BOUNDARY_3", "PERIODIC".into()),
        ("BOUNDARY_4", "PERIODIC".into()),
        ("CHECKSUM", format!("{checksum:x}")),
        ("ENSEMBLE_ID", opts.ensemble_id.clone()),
        ("ENSEMBLE_LABEL", opts.ensemble_label.clone()),
        ("SEQUENCE_NUMBER", opts.sequence_number.to_string()),
        ("CREATOR", opts.creator.clone()),
        ("CREATION_DATE", opts.creation_date.clone()),
        ("FLOATING_POINT", float_label(opts.precision, opts.endian).into()),
    ];
    let mut out = Vec::with_capacity(data.len() + 1024);
    out.extend_from_slice(b"BEGIN_HEADER\n");
    for (k, v) in fields {
        out.extend_from_slice(format!("{k} = {v}\n").as_bytes());
    }
    out.extend_from_slice(b"END_HEADER\n");
    out.extend_from_slice(&data);
    Ok(out)
}

fn round_f32(u: &GaugeField<f64>) -> GaugeField<f64> {
    let mut r = u.clone();
    r.for_each_link_mut(|_, _, l| {
        for z in l.m.iter_mut().flatten() {
            *z = Complex::new(z.re as f32 as f64, z.im as f32 as f64);
        }
    });
    r
}

/// Smallest change the printed decimal `s` can resolve (one unit in its last digit).
fn printed_resolution(s: &str) -> f64 {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let decimals = mantissa.find('.').map_or(0, |i| mantissa.len() - i - 1) as i32;
    libm::pow(10.0, (exp - decimals) as f64)
}

fn parse_header(bytes: &[u8]) -> Result<(Vec<(String, String)>, usize), NerscError> {
    const BEGIN: &[u8] = b"BEGIN_HEADER";
    if !bytes.starts_with(BEGIN) {
        return Err(NerscError::NotNersc);
    }
    let mut fields = Vec::new();
    let mut pos = 0;
    let mut first = true;
    loop {
        let rest = &bytes[pos..];
        let nl = rest.iter().position(|&b| b == b'\n').ok_or(NerscError::UnterminatedHeader)?;
        let line =
            core::str::from_utf8(&rest[..nl]).map_err(|_| NerscError::MalformedLine(lossy(&rest[..nl.min(80)])))?;
        let line = line.trim_end_matches('\r');
        pos += nl + 1;
        if first {
            first = false;
            continue;
        }
        let t = line.trim();
        if t == "END_HEADER" {
            return Ok((fields, pos));
        }
        if t.is_empty() {
            continue;
        }
        let eq = t.find('=').ok_or_else(|| NerscError::MalformedLine(t.into()))?;
        fields.push((t[..eq].trim().to_string(), t[eq + 1..].trim().to_string()));
        if pos > 1 << 20 {
            return Err(NerscError::UnterminatedHeader);
        }
    }
}

/// The printable ASCII of a byte string (for error messages).
fn lossy(b: &[u8]) -> String {
    b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' }).collect()
}

/// Decodes a NERSC file and verifies its header against the data.
pub fn decode(bytes: &[u8]) -> Result<(GaugeField<f64>, Header), NerscError> {
    let (fields, data_start) = parse_header(bytes)?;
    let get = |k: &'static str| -> Result<&str, NerscError> {
        fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).ok_or(NerscError::MissingField(k))
    };
    let bad = |k: &str, v: &str| NerscError::BadField { field: k.into(), value: v.into() };

    let layout = match get("DATATYPE")? {
        "4D_SU3_GAUGE" => Layout::TwoRow,
        "4D_SU3_GAUGE_3x3" => Layout::Full,
        v => return Err(bad("DATATYPE", v)),
    };
    let fp = get("FLOATING_POINT")?;
    let (precision, endian) = match fp {
        "IEEE32" | "IEEE32BIG" => (Precision::F32, Endian::Big),
        "IEEE32LITTLE" => (Precision::F32, Endian::Little),
        "IEEE64" | "IEEE64BIG" => (Precision::F64, Endian::Big),
        "IEEE64LITTLE" => (Precision::F64, Endian::Little),
        v => return Err(bad("FLOATING_POINT", v)),
    };
    const DIM_KEYS: [&str; 4] = ["DIMENSION_1", "DIMENSION_2", "DIMENSION_3", "DIMENSION_4"];
    let mut dims = [0usize; 4];
    for (i, k) in DIM_KEYS.iter().enumerate() {
        let v = get(k)?;
        dims[i] = v.parse().ok().filter(|&n: &usize| (2..=1 << 16).contains(&n)).ok_or_else(|| bad(k, v))?;
    }
    let cs = get("CHECKSUM")?;
    let checksum = u32::from_str_radix(cs.trim_start_matches("0x").trim_start_matches("0X"), 16)
        .map_err(|_| bad("CHECKSUM", cs))?;
    let pl = get("PLAQUETTE")?;
    let plaquette: f64 = pl.parse().map_err(|_| bad("PLAQUETTE", pl))?;
    let lt = get("LINK_TRACE")?;
    let link_trace_hdr: f64 = lt.parse().map_err(|_| bad("LINK_TRACE", lt))?;
    for k in ["BOUNDARY_1", "BOUNDARY_2", "BOUNDARY_3", "BOUNDARY_4"] {
        if let Ok(v) = get(k) {
            if v != "PERIODIC" {
                return Err(bad(k, v));
            }
        }
    }

    let rows = if layout == Layout::TwoRow { 2 } else { 3 };
    let width = if precision == Precision::F64 { 8 } else { 4 };
    let per_link = rows * 6;
    // The length check comes before anything the size of the lattice is
    // allocated: a header may claim any dimensions.
    let expected = dims
        .iter()
        .try_fold(4 * per_link * width, |v: usize, &l| v.checked_mul(l))
        .ok_or_else(|| bad("DIMENSION_*", "(a lattice too large to address)"))?;
    let data = &bytes[data_start..];
    if data.len() < expected {
        return Err(NerscError::Truncated { expected, found: data.len() });
    }
    if data.len() > expected {
        return Err(NerscError::TrailingData { expected, found: data.len() });
    }
    let geom = Geometry::new(&dims).map_err(|e| bad("DIMENSION_*", &e.to_string()))?;

    let mut sum = 0u32;
    let mut numbers = Vec::with_capacity(geom.n_links() * per_link);
    for w in data.chunks_exact(width) {
        let x = match (precision, endian) {
            (Precision::F64, e) => {
                let a: [u8; 8] = w.try_into().unwrap();
                let bits = if e == Endian::Big { u64::from_be_bytes(a) } else { u64::from_le_bytes(a) };
                sum = sum.wrapping_add(bits as u32).wrapping_add((bits >> 32) as u32);
                f64::from_bits(bits)
            }
            (Precision::F32, e) => {
                let a: [u8; 4] = w.try_into().unwrap();
                let bits = if e == Endian::Big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) };
                sum = sum.wrapping_add(bits);
                f32::from_bits(bits) as f64
            }
        };
        numbers.push(x);
    }
    if sum != checksum {
        return Err(NerscError::Checksum { header: checksum, computed: sum });
    }

    let mut links = Vec::with_capacity(geom.n_links());
    for chunk in numbers.chunks_exact(per_link) {
        let mut m = Mat3::zero();
        for r in 0..rows {
            for c in 0..3 {
                m.m[r][c] = Complex::new(chunk[6 * r + 2 * c], chunk[6 * r + 2 * c + 1]);
            }
        }
        if rows == 2 {
            m.m[2] = third_row(&m.m[0], &m.m[1]);
        }
        links.push(m);
    }
    // Unitarity: f64 data must be SU(3) to rounding, f32 to single precision.
    let limit = if precision == Precision::F64 { 1e-10 } else { 1e-5 };
    if let Some((l, deviation)) = first_non_su3(&links, limit) {
        return Err(NerscError::NotSu3 { site: l / 4, mu: l % 4, deviation });
    }
    let mut field = GaugeField::from_links(Arc::new(geom), links);

    let data_eps = if precision == Precision::F64 { 1e-12 } else { 2e-6 };
    let computed = average_plaquette(&field);
    if (computed - plaquette).abs() > 0.5 * printed_resolution(pl) + data_eps {
        return Err(NerscError::Plaquette { header: plaquette, computed });
    }
    let computed = link_trace(&field);
    if (computed - link_trace_hdr).abs() > 0.5 * printed_resolution(lt) + data_eps {
        return Err(NerscError::LinkTrace { header: link_trace_hdr, computed });
    }
    if precision == Precision::F32 {
        field.for_each_link_mut(|_, _, l| *l = reunitarize(l));
    }
    let header = Header { fields, dims, layout, precision, endian, checksum, plaquette, link_trace: link_trace_hdr };
    Ok((field, header))
}
impl core::error::Error for NerscError {}
