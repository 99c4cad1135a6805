//! ILDG gauge files: a LIME container ([`crate::io::lime`]) whose records
//! `ildg-format` (XML: `field` = `su3gauge`, `precision` = 32 or 64, `lx`,
//! `ly`, `lz`, `lt`) and `ildg-binary-data` hold the field, with a
//! `scidac-checksum` record (XML `suma`, `sumb`) beside them.
//!
//! Binary data: big-endian IEEE floats; sites in the order `t, z, y, x`
//! (x fastest); per site the four links `mu = x, y, z, t`; per link the 3×3
//! matrix row by row, `(re, im)`: 144 bytes per link in 64 bits.
//!
//! SciDAC checksum: for the site with lexicographic rank `r` (x fastest),
//! `c = crc32(the site's 4 links as stored in the file)`;
//! `suma = XOR_r rotl(c, r mod 29)`, `sumb = XOR_r rotl(c, r mod 31)`.
//!
//! fpa writes three LIME messages: the SciDAC file XML (private and user), the
//! record (SciDAC private and user record XML, `ildg-format`,
//! `ildg-binary-data`, `scidac-checksum`) and `ildg-data-lfn`
//! (`lfn://fpa/<ensemble id>/<sequence number>`). Its user XML carries the
//! average plaquette, which the reader checks when it is there.

use crate::checksum::crc32;
use crate::io::gauge_file::{
    first_non_su3, from_row_major, push_row_major, read_floats, require_4d, write_floats, Decoded, Format,
    GaugeFileError,
};
use crate::io::lime::{self, Record};
use crate::io::nersc::{Precision, WriteOptions};
use crate::lattice::{GaugeField, Geometry};
use crate::observe::average_plaquette;
use crate::su3::reunitarize;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

const F: Format = Format::Ildg;

/// Whether `bytes` start like a LIME file.
pub fn is_lime(bytes: &[u8]) -> bool {
    lime::is_lime(bytes)
}

/// The SciDAC checksums `(suma, sumb)` of binary data laid out as sites of
/// `site_bytes` bytes each, in lexicographic order.
pub fn scidac_checksum(data: &[u8], site_bytes: usize) -> (u32, u32) {
    data.chunks_exact(site_bytes).enumerate().fold((0, 0), |(a, b), (r, site)| {
        let c = crc32(site);
        (a ^ c.rotate_left((r % 29) as u32), b ^ c.rotate_left((r % 31) as u32))
    })
}

/// The text of the first `<tag>…</tag>` element in `xml`, trimmed.
fn xml_value<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml[start..start + len].trim())
}

fn record<'a>(records: &'a [Record<'a>], kind: &'static str) -> Result<&'a Record<'a>, GaugeFileError> {
    records.iter().find(|r| r.kind == kind).ok_or(GaugeFileError::MissingRecord { format: F, record: kind })
}

fn text<'a>(r: &'a Record<'a>) -> Result<&'a str, GaugeFileError> {
    // XML records are often NUL-terminated.
    let d = r.data.split(|&b| b == 0).next().unwrap_or(&[]);
    core::str::from_utf8(d).map_err(|_| GaugeFileError::BadHeader {
        format: F,
        field: r.kind.clone(),
        value: "(not UTF-8 text)".into(),
    })
}

fn bad(field: &str, value: &str) -> GaugeFileError {
    GaugeFileError::BadHeader { format: F, field: field.into(), value: value.chars().take(80).collect() }
}

fn hex(field: &str, s: &str) -> Result<u32, GaugeFileError> {
    let t = s.trim_start_matches("0x").trim_start_matches("0X");
    u32::from_str_radix(t, 16).map_err(|_| bad(field, s))
}

/// Reads and verifies an ILDG file.
pub fn decode(bytes: &[u8]) -> Result<Decoded, GaugeFileError> {
    let records = lime::parse(bytes).map_err(|e| bad("LIME container", &e.to_string()))?;
    let fmt_xml = text(record(&records, "ildg-format")?)?;
    let get = |tag: &'static str| xml_value(fmt_xml, tag).ok_or_else(|| bad("ildg-format", tag));
    let field = get("field")?;
    if field != "su3gauge" {
        return Err(bad("ildg-format field", field));
    }
    let prec = get("precision")?;
    let precision = match prec {
        "64" => Precision::F64,
        "32" => Precision::F32,
        v => return Err(bad("ildg-format precision", v)),
    };
    let mut dims = [0usize; 4];
    for (d, tag) in dims.iter_mut().zip(["lx", "ly", "lz", "lt"]) {
        let v = get(tag)?;
        *d = v.parse().ok().filter(|n| (2..=1 << 16).contains(n)).ok_or_else(|| bad(tag, v))?;
    }
    let binaries: Vec<&Record> = records.iter().filter(|r| r.kind == "ildg-binary-data").collect();
    let data = match binaries.as_slice() {
        [] => return Err(GaugeFileError::MissingRecord { format: F, record: "ildg-binary-data" }),
        [one] => one.data,
        more => {
            return Err(GaugeFileError::Unsupported {
                format: F,
                what: format!("a file with {} ildg-binary-data records", more.len()),
            })
        }
    };
    let width = if precision == Precision::F64 { 8 } else { 4 };
    let site_bytes = 4 * 18 * width;
    // Checked against the data before anything the size of the lattice is allocated.
    let expected = dims.iter().try_fold(site_bytes as u64, |v, &l| v.checked_mul(l as u64)).unwrap_or(u64::MAX);
    if (data.len() as u64) < expected {
        return Err(GaugeFileError::Truncated {
            format: F,
            part: "ildg-binary-data",
            expected,
            found: data.len() as u64,
        });
    }
    if data.len() as u64 > expected {
        return Err(GaugeFileError::TrailingData { format: F, expected, found: data.len() as u64 });
    }
    let geom = Geometry::new(&dims).map_err(|e| bad("ildg-format lx..lt", &e.to_string()))?;
    let mut verified = alloc::vec!["length", "SU(3)"];
    if let Some(ck) = records.iter().find(|r| r.kind == "scidac-checksum") {
        let xml = text(ck)?;
        let suma = hex("scidac-checksum suma", xml_value(xml, "suma").ok_or_else(|| bad("scidac-checksum", "suma"))?)?;
        let sumb = hex("scidac-checksum sumb", xml_value(xml, "sumb").ok_or_else(|| bad("scidac-checksum", "sumb"))?)?;
        let (a, b) = scidac_checksum(data, site_bytes);
        if a != suma {
            return Err(GaugeFileError::Checksum { format: F, which: "suma", header: suma, computed: a });
        }
        if b != sumb {
            return Err(GaugeFileError::Checksum { format: F, which: "sumb", header: sumb, computed: b });
        }
        verified.push("checksum");
    }
    let numbers = read_floats(data, precision, true);
    let links: Vec<_> = numbers.chunks_exact(18).map(from_row_major).collect();
    let limit = if precision == Precision::F64 { 1e-10 } else { 1e-5 };
    if let Some((l, deviation)) = first_non_su3(&links, limit) {
        return Err(GaugeFileError::NotSu3 { format: F, site: l / 4, mu: l % 4, deviation });
    }
    let mut field = GaugeField::from_links(Arc::new(geom), links);
    // fpa's own user record XML states the plaquette of the stored data.
    if let Some(p) = records.iter().find(|r| r.kind == "scidac-record-xml").and_then(|r| text(r).ok()) {
        if let Some(v) = xml_value(p, "plaquette") {
            let header: f64 = v.parse().map_err(|_| bad("scidac-record-xml plaquette", v))?;
            let computed = average_plaquette(&field);
            let tol = if precision == Precision::F64 { 1e-12 } else { 2e-6 };
            if (computed - header).abs() > tol {
                return Err(GaugeFileError::Plaquette { format: F, header, computed });
            }
            verified.push("plaquette");
        }
    }
    if precision == Precision::F32 {
        field.for_each_link_mut(|_, _, l| *l = reunitarize(l));
    }
    Ok(Decoded { field, format: F, precision, verified })
}

/// Writes a 4D field as an ILDG file (precision from `opts`).
pub fn encode(u: &GaugeField<f64>, opts: &WriteOptions) -> Result<Vec<u8>, GaugeFileError> {
    require_4d(u, F)?;
    let d = u.geometry().dims();
    let (bits, qdp, tag) = match opts.precision {
        Precision::F64 => (64, 'D', 8),
        Precision::F32 => (32, 'F', 4),
    };
    let mut numbers = Vec::with_capacity(u.links().len() * 18);
    for l in u.links() {
        push_row_major(l, &mut numbers);
    }
    let mut data = Vec::with_capacity(numbers.len() * tag);
    write_floats(&numbers, opts.precision, true, &mut data);
    let (suma, sumb) = scidac_checksum(&data, 4 * 18 * tag);
    // The plaquette of the data as stored (rounded to f32 if so).
    let stored: Vec<_> = read_floats(&data, opts.precision, true).chunks_exact(18).map(from_row_major).collect();
    let plaquette = average_plaquette(&GaugeField::from_links(u.geometry().clone(), stored));

    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    let dims = format!("{} {} {} {}", d[0], d[1], d[2], d[3]);
    let private_file =
        format!("{xml}<scidacFile><version>1.1</version><spacetime>4</spacetime><dims>{dims} </dims><volfmt>0</volfmt></scidacFile>");
    let user_file = format!("{xml}<fpa><creator>{}</creator></fpa>", escape(&opts.creator));
    let private_record = format!(
        "{xml}<scidacRecord><version>1.1</version><date>{}</date><recordtype>0</recordtype>\
         <datatype>QDP_{qdp}3_ColorMatrix</datatype><precision>{qdp}</precision><colors>3</colors>\
         <spins>1</spins><typesize>{}</typesize><datacount>4</datacount></scidacRecord>",
        escape(&opts.creation_date),
        18 * tag
    );
    let user_record = format!(
        "{xml}<fpa><ensemble>{}</ensemble><label>{}</label><sequence>{}</sequence><plaquette>{plaquette:.17e}</plaquette></fpa>",
        escape(&opts.ensemble_id),
        escape(&opts.ensemble_label),
        opts.sequence_number
    );
    let format_xml = format!(
        "{xml}<ildgFormat xmlns=\"http://www.lqcd.org/ildg\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.lqcd.org/ildg http://www.lqcd.org/ildg/filefmt.xsd\"><version>1.0</version>\
         <field>su3gauge</field><precision>{bits}</precision><lx>{}</lx><ly>{}</ly><lz>{}</lz><lt>{}</lt></ildgFormat>",
        d[0], d[1], d[2], d[3]
    );
    let checksum = format!(
        "{xml}<scidacChecksum><version>1.0</version><suma>{suma:x}</suma><sumb>{sumb:x}</sumb></scidacChecksum>"
    );
    let lfn = format!("lfn://fpa/{}/{}", opts.ensemble_id, opts.sequence_number);

    let mut out = Vec::with_capacity(data.len() + 4096);
    lime::write_record(&mut out, "scidac-private-file-xml", private_file.as_bytes(), true, false);
    lime::write_record(&mut out, "scidac-file-xml", user_file.as_bytes(), false, true);
    lime::write_record(&mut out, "scidac-private-record-xml", private_record.as_bytes(), true, false);
    lime::write_record(&mut out, "scidac-record-xml", user_record.as_bytes(), false, false);
    lime::write_record(&mut out, "ildg-format", format_xml.as_bytes(), false, false);
    lime::write_record(&mut out, "ildg-binary-data", &data, false, false);
    lime::write_record(&mut out, "scidac-checksum", checksum.as_bytes(), false, true);
    lime::write_record(&mut out, "ildg-data-lfn", lfn.as_bytes(), true, true);
    Ok(out)
}

/// `s` with the five XML special characters escaped.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o.to_string()
}
