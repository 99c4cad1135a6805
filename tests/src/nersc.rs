//! NERSC gauge files: round trips and rejection of damaged files.

use crate::util::{lattice, random_field};
use fpa_core::io::nersc::{decode, encode, Endian, Layout, NerscError, Precision, WriteOptions};
use fpa_core::lattice::GaugeField;

fn sample() -> GaugeField<f64> {
    random_field(&lattice(&[4, 4, 2, 6]), None, 51)
}

fn max_link_difference(a: &GaugeField<f64>, b: &GaugeField<f64>) -> f64 {
    a.links().iter().zip(b.links()).map(|(x, y)| x.dist(y)).fold(0.0, f64::max)
}

/// Every layout, precision and byte order reads back the links that were
/// written (exactly for 3x3 doubles; to rounding where the third row is
/// rebuilt or floats are single), and the checksum is independent of the
/// byte order.
pub fn nersc_roundtrip() {
    let u = sample();
    let mut checksums = vec![];
    for layout in [Layout::Full, Layout::TwoRow] {
        for precision in [Precision::F64, Precision::F32] {
            for endian in [Endian::Big, Endian::Little] {
                let opts = WriteOptions { layout, precision, endian, ..Default::default() };
                let bytes = encode(&u, &opts).unwrap();
                let (v, h) = decode(&bytes).unwrap_or_else(|e| panic!("{layout:?} {precision:?} {endian:?}: {e}"));
                assert_eq!(h.dims, [4, 4, 2, 6]);
                assert_eq!((h.layout, h.precision, h.endian), (layout, precision, endian));
                let tol = match (layout, precision) {
                    (Layout::Full, Precision::F64) => 0.0,
                    (Layout::TwoRow, Precision::F64) => 1e-14,
                    _ => 1e-6,
                };
                let d = max_link_difference(&u, &v);
                assert!(d <= tol, "{layout:?} {precision:?} {endian:?}: links differ by {d}");
                if precision == Precision::F64 {
                    checksums.push((layout, endian, h.checksum));
                }
            }
        }
    }
    for l in [Layout::Full, Layout::TwoRow] {
        let c: Vec<u32> = checksums.iter().filter(|c| c.0 == l).map(|c| c.2).collect();
        assert_eq!(c[0], c[1], "checksum depends on byte order");
    }
}

fn replace_header_value(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    let text_end = bytes.windows(11).position(|w| w == b"END_HEADER\n").unwrap() + 11;
    let header = std::str::from_utf8(&bytes[..text_end]).unwrap();
    let mut out = String::new();
    for line in header.lines() {
        if line.starts_with(&format!("{key} =")) {
            out.push_str(&format!("{key} = {value}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let mut b = out.into_bytes();
    b.extend_from_slice(&bytes[text_end..]);
    b
}

/// A flipped byte in the data, a truncated file, and wrong headers are each
/// refused with an error that names the problem.
pub fn nersc_rejects_damaged_files() {
    let u = sample();
    let good = encode(&u, &WriteOptions::default()).unwrap();
    let data_start = good.windows(11).position(|w| w == b"END_HEADER\n").unwrap() + 11;

    // One flipped byte anywhere in the data: checksum.
    for offset in [0, 1234, good.len() - data_start - 1] {
        let mut bad = good.clone();
        bad[data_start + offset] ^= 0x10;
        match decode(&bad) {
            Err(NerscError::Checksum { .. }) => {}
            other => panic!("flipped data byte at {offset}: {other:?}"),
        }
    }
    // Truncated.
    let e = decode(&good[..good.len() - 100]).unwrap_err();
    assert!(matches!(e, NerscError::Truncated { .. }), "{e:?}");
    assert!(e.to_string().contains("truncated"));
    let e = decode(&good[..data_start - 5]).unwrap_err();
    assert!(matches!(e, NerscError::UnterminatedHeader), "{e:?}");
    // Header values that disagree with the data, or make no sense.
    let cases: [(&str, &str, &str); 7] = [
        ("PLAQUETTE", "0.3", "PLAQUETTE"),
        ("LINK_TRACE", "0.123456789", "LINK_TRACE"),
        ("DATATYPE", "4D_SU2_GAUGE", "DATATYPE"),
        ("FLOATING_POINT", "IEEE16", "FLOATING_POINT"),
        ("DIMENSION_3", "4", "truncated"),
        ("DIMENSION_2", "four", "DIMENSION_2"),
        ("CHECKSUM", "12345", "CHECKSUM"),
    ];
    for (key, value, named) in cases {
        let e = decode(&replace_header_value(&good, key, value)).unwrap_err();
        assert!(e.to_string().contains(named), "{key} = {value}: message {e} does not name {named}");
    }
    // PLAQUETTE and LINK_TRACE are checked to half a unit of their last printed digit (plus the
    // rounding of the data): the value rounded to 2 decimals passes, one unit off does not.
    let p = fpa_core::observe::average_plaquette(&u);
    let rounded = format!("{p:.2}");
    assert!(decode(&replace_header_value(&good, "PLAQUETTE", &rounded)).is_ok(), "PLAQUETTE = {rounded} for {p}");
    let off = format!("{:.2}", (p * 100.0).round() / 100.0 + 0.01);
    let e = decode(&replace_header_value(&good, "PLAQUETTE", &off)).unwrap_err();
    assert!(e.to_string().contains("PLAQUETTE"), "PLAQUETTE = {off} for {p}: {e}");
    let e = decode(&replace_header_value(&good, "DIMENSION_1", "2")).unwrap_err();
    assert!(matches!(e, NerscError::TrailingData { .. }), "{e:?}");
    // A missing field.
    let text = String::from_utf8_lossy(&good[..data_start]).replace("DIMENSION_4 = 6\n", "");
    let mut b = text.into_bytes();
    b.extend_from_slice(&good[data_start..]);
    assert_eq!(decode(&b).unwrap_err(), NerscError::MissingField("DIMENSION_4"));
    // Not a NERSC file at all.
    assert_eq!(decode(b"hello").unwrap_err(), NerscError::NotNersc);
    // A 2D field cannot be written.
    assert!(encode(&random_field(&lattice(&[4, 4]), None, 1), &WriteOptions::default()).is_err());
}
