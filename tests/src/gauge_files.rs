//! ILDG, openQCD and MILC gauge files: bit-exact round trips between formats,
//! the documented layouts byte by byte, and refusal of damaged files.

use crate::util::{lattice, random_field};
use fpa_core::checksum::crc32;
use fpa_core::io::gauge_file::{decode, detect, encode, Format, GaugeFileError};
use fpa_core::io::lime;
use fpa_core::io::milc;
use fpa_core::io::nersc::{Precision, WriteOptions};
use fpa_core::lattice::GaugeField;
use fpa_core::observe::average_plaquette;

fn sample() -> GaugeField<f64> {
    random_field(&lattice(&[4, 2, 6, 4]), None, 77)
}

fn same_bits(a: &GaugeField<f64>, b: &GaugeField<f64>) -> bool {
    a.geometry().dims() == b.geometry().dims()
        && a.links().iter().zip(b.links()).all(|(x, y)| {
            x.m.iter()
                .flatten()
                .zip(y.m.iter().flatten())
                .all(|(p, q)| p.re.to_bits() == q.re.to_bits() && p.im.to_bits() == q.im.to_bits())
        })
}

fn opts() -> WriteOptions {
    WriteOptions { creation_date: "2026-11-30T00:00:00Z".into(), ..Default::default() }
}

/// CRC-32 against the standard check value.
pub fn crc32_check_values() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414f_a339);
}

/// NERSC → ILDG → openQCD → NERSC keeps every bit of a double-precision
/// field; every format is recognised from its bytes; writing is deterministic.
pub fn gauge_formats_roundtrip_bit_exact() {
    let u = sample();
    let o = opts();
    let mut v = u.clone();
    for format in [Format::Nersc, Format::Ildg, Format::OpenQcd, Format::Nersc] {
        let bytes = encode(&v, format, &o).unwrap();
        assert_eq!(detect(&bytes), Some(format));
        assert_eq!(bytes, encode(&v, format, &o).unwrap(), "{format}: writing is not deterministic");
        let d = decode(&bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(d.format, format);
        assert!(d.verified.contains(&"SU(3)"));
        assert!(same_bits(&u, &d.field), "{format}: links changed");
        v = d.field;
    }
    // Single-precision ILDG: to single-precision rounding.
    let bytes = encode(&u, Format::Ildg, &WriteOptions { precision: Precision::F32, ..opts() }).unwrap();
    let d = decode(&bytes).unwrap();
    assert_eq!(d.precision, Precision::F32);
    assert!(d.verified.contains(&"checksum") && d.verified.contains(&"plaquette"), "{:?}", d.verified);
    let diff = u.links().iter().zip(d.field.links()).map(|(a, b)| a.dist(b)).fold(0.0, f64::max);
    assert!(diff < 1e-6, "f32 ILDG differs by {diff}");
    // MILC cannot be written; openQCD needs even sizes.
    assert!(matches!(encode(&u, Format::Milc, &o), Err(GaugeFileError::Unsupported { .. })));
    let odd = random_field(&lattice(&[3, 4, 4, 4]), None, 1);
    let e = encode(&odd, Format::OpenQcd, &o).unwrap_err();
    assert!(e.to_string().contains("even"), "{e}");
    // Nothing recognisable.
    let e = decode(b"definitely not a gauge field").unwrap_err();
    assert!(matches!(e, GaugeFileError::UnknownFormat { .. }), "{e}");
}

/// The ILDG binary data and SciDAC checksum laid out as documented: big-endian
/// doubles, x fastest, links x, y, z, t, rows first; the checksum from the CRC
/// of each site's 576 bytes rotated by its rank mod 29 and mod 31.
pub fn ildg_layout_and_checksum() {
    let u = sample();
    let bytes = encode(&u, Format::Ildg, &opts()).unwrap();
    let records = lime::parse(&bytes).unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    for k in ["ildg-format", "ildg-binary-data", "scidac-checksum", "ildg-data-lfn"] {
        assert!(kinds.contains(&k), "no {k} record in {kinds:?}");
    }
    let data = records.iter().find(|r| r.kind == "ildg-binary-data").unwrap().data;
    let g = u.geometry();
    let site = g.index(&[1, 1, 4, 2]);
    let mu = 2;
    // Row 1, column 2, real part: number 2·(3·1 + 2) = 10 of the link.
    let start = (4 * site + mu) * 144 + 10 * 8;
    let x = f64::from_be_bytes(data[start..start + 8].try_into().unwrap());
    assert_eq!(x.to_bits(), u.link(site, mu).m[1][2].re.to_bits());
    let (mut a, mut b) = (0u32, 0u32);
    for (r, s) in data.chunks(576).enumerate() {
        let c = crc32(s);
        a ^= c.rotate_left((r % 29) as u32);
        b ^= c.rotate_left((r % 31) as u32);
    }
    let xml = std::str::from_utf8(records.iter().find(|r| r.kind == "scidac-checksum").unwrap().data).unwrap();
    assert!(xml.contains(&format!("<suma>{a:x}</suma>")) && xml.contains(&format!("<sumb>{b:x}</sumb>")), "{xml}");
    let fmt = std::str::from_utf8(records.iter().find(|r| r.kind == "ildg-format").unwrap().data).unwrap();
    for t in
        ["<lx>4</lx>", "<ly>2</ly>", "<lz>6</lz>", "<lt>4</lt>", "<precision>64</precision>", "<field>su3gauge</field>"]
    {
        assert!(fmt.contains(t), "{t} not in {fmt}");
    }
    // Records are padded to 8 bytes and carry message flags.
    assert_eq!(bytes.len() % 8, 0);
    assert!(records[0].message_begin && records.last().unwrap().message_end);
}

/// Rebuilds a LIME file with `edit` applied to each record's type and data.
fn relime(bytes: &[u8], edit: impl Fn(&str, &[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for r in lime::parse(bytes).unwrap() {
        if let Some(d) = edit(&r.kind, r.data) {
            lime::write_record(&mut out, &r.kind, &d, r.message_begin, r.message_end);
        }
    }
    out
}

fn replace_in(kind: &'static str, from: &'static str, to: &'static str) -> impl Fn(&str, &[u8]) -> Option<Vec<u8>> {
    move |k, d| {
        if k == kind {
            Some(String::from_utf8_lossy(d).replace(from, to).into_bytes())
        } else {
            Some(d.to_vec())
        }
    }
}

fn expect_err(bytes: &[u8], named: &str, what: &str) {
    match decode(bytes) {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => assert!(e.to_string().contains(named), "{what}: message {e:?} does not name {named}"),
    }
}

/// Flipped bytes, truncation, missing records and wrong headers in ILDG files
/// are refused with messages that name the problem.
pub fn ildg_rejects_damaged_files() {
    let u = sample();
    let good = encode(&u, Format::Ildg, &opts()).unwrap();
    let data_at = good.windows(16).position(|w| w == b"ildg-binary-data").unwrap() + 128;
    for off in [0, 999, 4 * 2 * 6 * 4 * 576 - 1] {
        let mut b = good.clone();
        b[data_at + off] ^= 0x01;
        expect_err(&b, "checksum", &format!("flipped data byte {off}"));
    }
    expect_err(&good[..good.len() - 300], "truncated", "truncated file");
    expect_err(&good[..100], "truncated", "truncated header");
    let mut b = good.clone();
    b[0] = 0x46;
    assert_eq!(detect(&b), None);
    expect_err(&relime(&good, |k, d| (k != "ildg-format").then(|| d.to_vec())), "ildg-format", "no format record");
    expect_err(&relime(&good, |k, d| (k != "ildg-binary-data").then(|| d.to_vec())), "ildg-binary-data", "no data");
    expect_err(
        &relime(&good, replace_in("ildg-format", "<precision>64", "<precision>48")),
        "precision",
        "precision 48",
    );
    expect_err(&relime(&good, replace_in("ildg-format", "<lz>6</lz>", "<lz>8</lz>")), "truncated", "lz too large");
    expect_err(&relime(&good, replace_in("ildg-format", "<lz>6</lz>", "<lz>2</lz>")), "announces", "lz too small");
    expect_err(&relime(&good, replace_in("ildg-format", "su3gauge", "su2gauge")), "field", "SU(2)");
    expect_err(&relime(&good, replace_in("scidac-checksum", "<suma>", "<suma>1")), "suma", "wrong suma");
    // A tampered plaquette in fpa's record XML.
    let p = format!("{:.17e}", average_plaquette(&u));
    let b = relime(&good, |k, d| {
        let s = String::from_utf8_lossy(d);
        Some(if k == "scidac-record-xml" { s.replace(&p, "0.5").into_bytes() } else { d.to_vec() })
    });
    expect_err(&b, "plaquette", "plaquette");
    // A link that is not in SU(3), with a checksum that matches it.
    let mut v = u.clone();
    v.link_mut(5, 1).m[0][0].re += 1e-6;
    let b = encode(&v, Format::Ildg, &opts()).unwrap();
    expect_err(&b, "SU(3)", "non-SU(3) link");
    // Without a checksum record the file is read, and says so.
    let d = decode(&relime(&good, |k, d| (k != "scidac-checksum").then(|| d.to_vec()))).unwrap();
    assert!(!d.verified.contains(&"checksum"));
}

/// The openQCD layout as documented: header sizes (T, L1, L2, L3), the plaquette
/// not divided by 3, then 8 links per odd point with x3 (fpa z) fastest.
pub fn openqcd_layout() {
    let u = sample(); // fpa (x, y, z, t) = (4, 2, 6, 4)
    let bytes = encode(&u, Format::OpenQcd, &opts()).unwrap();
    let int = |k: usize| i32::from_le_bytes(bytes[4 * k..4 * k + 4].try_into().unwrap());
    assert_eq!([int(0), int(1), int(2), int(3)], [4, 4, 2, 6]);
    let plaq = f64::from_le_bytes(bytes[16..24].try_into().unwrap());
    assert!((plaq - 3.0 * average_plaquette(&u)).abs() < 1e-15);
    let g = u.geometry();
    let link_at = |k: usize| {
        let x: Vec<f64> =
            (0..18).map(|i| f64::from_le_bytes(bytes[24 + 144 * k + 8 * i..][..8].try_into().unwrap())).collect();
        x
    };
    let stored = |site: usize, mu: usize| {
        let mut x = vec![];
        for z in u.link(site, mu).m.iter().flatten() {
            x.push(z.re);
            x.push(z.im);
        }
        x
    };
    // First odd point in openQCD order: (x0, x1, x2, x3) = (0, 0, 0, 1) = fpa (x, y, z, t) = (0, 0, 1, 0).
    let p = g.index(&[0, 0, 1, 0]);
    assert_eq!(link_at(0), stored(p, 3), "U(x, 0) is fpa's time link");
    assert_eq!(link_at(1), stored(g.index(&[0, 0, 1, 3]), 3), "U(x - 0, 0)");
    assert_eq!(link_at(2), stored(p, 0), "U(x, 1) is fpa's x link");
    assert_eq!(link_at(3), stored(g.index(&[3, 0, 1, 0]), 0), "U(x - 1, 1)");
    assert_eq!(link_at(7), stored(g.index(&[0, 0, 0, 0]), 2), "U(x - 3, 3) is fpa's z link");
    // Second odd point: (0, 0, 0, 3).
    assert_eq!(link_at(8), stored(g.index(&[0, 0, 3, 0]), 3));
    assert_eq!(bytes.len(), 24 + 4 * 2 * 6 * 4 / 2 * 8 * 144);
}

/// Damaged openQCD files: truncated, too long, a wrong plaquette, a link off SU(3).
pub fn openqcd_rejects_damaged_files() {
    let u = sample();
    let good = encode(&u, Format::OpenQcd, &opts()).unwrap();
    // The format has no magic number: a file with a plausible header and the
    // wrong length is reported as a damaged openQCD file.
    expect_err(&good[..good.len() - 8], "openQCD file is truncated", "truncated");
    let mut long = good.clone();
    long.extend_from_slice(&[0; 8]);
    expect_err(&long, "announces", "trailing data");
    let mut b = good.clone();
    b[16..24].copy_from_slice(&1.5f64.to_le_bytes());
    expect_err(&b, "plaquette", "wrong plaquette");
    let mut b = good.clone();
    b[24 + 144 * 10 + 3] ^= 0x40;
    expect_err(&b, "SU(3)", "flipped link byte");
    let mut b = good.clone();
    b[0..4].copy_from_slice(&5i32.to_le_bytes()); // odd size, wrong length
    assert!(fpa_core::io::openqcd::decode(&b).is_err());
}

/// A MILC file written here from the format description (independently of the
/// reader), in natural order and with a site list, in both byte orders.
fn milc_bytes(u: &GaugeField<f64>, big: bool, site_list: bool) -> Vec<u8> {
    let w32 = |x: u32, out: &mut Vec<u8>| out.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    let g = u.geometry();
    let v = g.volume();
    let mut out = vec![];
    w32(20103, &mut out);
    for &d in g.dims() {
        w32(d as u32, &mut out);
    }
    let mut stamp = b"Mon Nov 30 12:00:00 2026".to_vec();
    stamp.resize(64, 0);
    out.extend_from_slice(&stamp);
    w32(u32::from(site_list), &mut out);
    // Sites in reverse order when a list is given.
    let order: Vec<usize> = if site_list { (0..v).rev().collect() } else { (0..v).collect() };
    if site_list {
        for &s in &order {
            w32(s as u32, &mut out);
        }
    }
    let mut words = vec![];
    for &s in &order {
        for mu in 0..4 {
            for z in u.link(s, mu).m.iter().flatten() {
                words.push((z.re as f32).to_bits());
                words.push((z.im as f32).to_bits());
            }
        }
    }
    let (mut s29, mut s31) = (0u32, 0u32);
    for (k, w) in words.iter().enumerate() {
        s29 ^= w.rotate_left((k % 29) as u32);
        s31 ^= w.rotate_left((k % 31) as u32);
    }
    w32(s29, &mut out);
    w32(s31, &mut out);
    for w in words {
        w32(w, &mut out);
    }
    out
}

/// MILC files in both byte orders, natural order or with a site list, read to
/// single precision; damaged ones are refused.
pub fn milc_reads_and_refuses() {
    let u = sample();
    for big in [false, true] {
        for list in [false, true] {
            let b = milc_bytes(&u, big, list);
            assert_eq!(detect(&b), Some(Format::Milc));
            let d = decode(&b).unwrap_or_else(|e| panic!("big {big} list {list}: {e}"));
            let diff = u.links().iter().zip(d.field.links()).map(|(a, b)| a.dist(b)).fold(0.0, f64::max);
            assert!(diff < 1e-6, "big {big} list {list}: links differ by {diff}");
            assert!(d.verified.contains(&"checksum"));
            assert!(d.field.unitarity_violation() < 1e-14);
        }
    }
    let good = milc_bytes(&u, false, false);
    let mut b = good.clone();
    b[96 + 777] ^= 0x02;
    expect_err(&b, "sum29", "flipped data byte");
    expect_err(&good[..good.len() - 4], "truncated", "truncated");
    let mut b = good.clone();
    b[88] ^= 1;
    expect_err(&b, "sum29", "wrong stored checksum");
    let mut b = milc_bytes(&u, false, true);
    b[88..92].copy_from_slice(&1u32.to_le_bytes()); // a site listed twice
    expect_err(&b, "site list", "duplicate site");
    let mut b = good.clone();
    b[4..8].copy_from_slice(&0u32.to_le_bytes());
    expect_err(&b, "nx", "zero size");
    assert_eq!(milc::byte_order(&good), Some(false));
}

/// Headers that claim enormous lattices are refused from the data length,
/// before anything of the lattice's size is allocated (each of these would
/// need gigabytes of neighbour tables).
pub fn enormous_headers_are_refused_cheaply() {
    let u = sample();
    let nersc = encode(&u, Format::Nersc, &opts()).unwrap();
    let end = nersc.windows(11).position(|w| w == b"END_HEADER\n").unwrap() + 11;
    let text = String::from_utf8_lossy(&nersc[..end]).to_string();
    let huge = text.replace("DIMENSION_1 = 4", "DIMENSION_1 = 65536").replace("DIMENSION_2 = 2", "DIMENSION_2 = 65536");
    let mut b = huge.into_bytes();
    b.extend_from_slice(&[0; 64]);
    // 4·10¹² bytes of data: truncated on 64-bit targets, beyond the address space on wasm32.
    let e = decode(&b).unwrap_err().to_string();
    assert!(e.contains("truncated") || e.contains("too large to address"), "NERSC 65536^2 x 6 x 4: {e}");
    let ildg = encode(&u, Format::Ildg, &opts()).unwrap();
    let b = relime(&ildg, replace_in("ildg-format", "<lx>4</lx>", "<lx>65536</lx>"));
    expect_err(&b, "truncated", "ILDG lx = 65536");
    let b = relime(&ildg, replace_in("ildg-format", "<lx>4</lx><ly>2</ly>", "<lx>65536</lx><ly>65536</ly>"));
    expect_err(&b, "truncated", "ILDG 65536^2");
    let mut m = milc_bytes(&u, false, true);
    for k in 0..4 {
        m[4 + 4 * k..8 + 4 * k].copy_from_slice(&65536u32.to_le_bytes());
    }
    expect_err(&m, "nx", "MILC 65536^4");
    let mut m = milc_bytes(&u, false, true);
    m[4..8].copy_from_slice(&60000u32.to_le_bytes());
    expect_err(&m, "truncated", "MILC 60000 x 2 x 6 x 4 with a site list");
    let mut q = encode(&u, Format::OpenQcd, &opts()).unwrap();
    for k in 0..4 {
        q[4 * k..4 * k + 4].copy_from_slice(&65536i32.to_le_bytes());
    }
    expect_err(&q, "lattice sizes", "openQCD 65536^4");
    q[0..4].copy_from_slice(&4i32.to_le_bytes());
    expect_err(&q, "truncated", "openQCD 4 x 65536^3");
}
