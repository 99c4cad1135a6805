//! The LIME container (c-lime, used by ILDG and SciDAC files): a sequence of
//! records, each a 144-byte header followed by its data, zero-padded to a
//! multiple of 8 bytes.
//!
//! Header, big-endian: bytes 0–3 magic `0x456789ab`; 4–5 version (1);
//! 6–7 flags (`0x8000` message begin, `0x4000` message end); 8–15 the data
//! length in bytes (without padding); 16–143 the record type, an ASCII string
//! padded with NULs.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The LIME magic number.
pub const MAGIC: u32 = 0x4567_89ab;
const HEADER: usize = 144;
const TYPE_LEN: usize = 128;

/// One record of a LIME file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record type, e.g. `ildg-binary-data`.
    pub kind: String,
    pub data: &'a [u8],
    pub message_begin: bool,
    pub message_end: bool,
}

/// Why a LIME file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimeError {
    /// A record header at `offset` does not start with the magic number.
    BadMagic {
        offset: usize,
    },
    BadVersion {
        offset: usize,
        version: u16,
    },
    /// The file ends inside the header or data of the record at `offset`.
    Truncated {
        offset: usize,
        expected: u64,
        found: u64,
    },
    BadType {
        offset: usize,
    },
}

impl fmt::Display for LimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimeError::BadMagic { offset } => write!(f, "LIME record at byte {offset} lacks the magic number 456789ab"),
            LimeError::BadVersion { offset, version } => {
                write!(f, "LIME record at byte {offset} has version {version} (only 1 is defined)")
            }
            LimeError::Truncated { offset, expected, found } => write!(
                f,
                "LIME file is truncated: the record at byte {offset} needs {expected} bytes, {found} are left"
            ),
            LimeError::BadType { offset } => write!(f, "LIME record at byte {offset} has a type that is not ASCII"),
        }
    }
}

/// Whether `bytes` start like a LIME file.
pub fn is_lime(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == MAGIC
}

/// All records of a LIME file, in file order. The data slices borrow `bytes`;
/// a length that runs past the end of the file is refused before anything is
/// allocated for it.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record<'_>>, LimeError> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let left = (bytes.len() - pos) as u64;
        if left < HEADER as u64 {
            return Err(LimeError::Truncated { offset: pos, expected: HEADER as u64, found: left });
        }
        let h = &bytes[pos..pos + HEADER];
        if !is_lime(h) {
            return Err(LimeError::BadMagic { offset: pos });
        }
        let version = u16::from_be_bytes([h[4], h[5]]);
        if version != 1 {
            return Err(LimeError::BadVersion { offset: pos, version });
        }
        let flags = u16::from_be_bytes([h[6], h[7]]);
        let len = u64::from_be_bytes(h[8..16].try_into().unwrap());
        let name = &h[16..];
        let end = name.iter().position(|&b| b == 0).unwrap_or(TYPE_LEN);
        if !name[..end].iter().all(|b| b.is_ascii_graphic()) {
            return Err(LimeError::BadType { offset: pos });
        }
        if len > left - HEADER as u64 {
            return Err(LimeError::Truncated { offset: pos, expected: HEADER as u64 + len, found: left });
        }
        let start = pos + HEADER;
        let len = len as usize;
        records.push(Record {
            kind: String::from_utf8_lossy(&name[..end]).into_owned(),
            data: &bytes[start..start + len],
            message_begin: flags & 0x8000 != 0,
            message_end: flags & 0x4000 != 0,
        });
        // Padding to 8 bytes; a last record without it is accepted.
        pos = (start + len).next_multiple_of(8).min(bytes.len());
    }
    Ok(records)
}

/// Appends one record (header, data, zero padding) to `out`.
///
/// Panics if `kind` is longer than 127 bytes (a programming error: the types
/// fpa writes are fixed strings).
pub fn write_record(out: &mut Vec<u8>, kind: &str, data: &[u8], message_begin: bool, message_end: bool) {
    assert!(kind.len() < TYPE_LEN, "LIME record type too long");
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    let flags = (u16::from(message_begin) << 15) | (u16::from(message_end) << 14);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    let mut name = [0u8; TYPE_LEN];
    name[..kind.len()].copy_from_slice(kind.as_bytes());
    out.extend_from_slice(&name);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(8), 0);
}
