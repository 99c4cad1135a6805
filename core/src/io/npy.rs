//! NumPy `.npy` files (format version 1.0): little-endian `float64`
//! (`<f8`) and `complex128` (`<c16`) arrays in C order, readable with
//! `numpy.load` alone.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    C128,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F64 => "<f8",
            Dtype::C128 => "<c16",
        }
    }
    /// Real numbers per element.
    pub fn width(self) -> usize {
        match self {
            Dtype::F64 => 1,
            Dtype::C128 => 2,
        }
    }
}

/// A decoded array: its shape, type and the real numbers (complex as re, im pairs).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub data: Vec<f64>,
}

/// Why an `.npy` file was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyError(pub String);

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "npy: {}", self.0)
    }
}
impl core::error::Error for NpyError {}

/// Encodes `data` (real numbers; complex as re, im pairs) with the given shape.
pub fn encode(shape: &[usize], dtype: Dtype, data: &[f64]) -> Vec<u8> {
    let n: usize = shape.iter().product();
    assert_eq!(data.len(), n * dtype.width(), "npy: data length does not match the shape");
    let shape_str = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| format!("{d}")).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", dtype.descr(), shape_str);
    // Pad with spaces so that magic + len + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.extend(core::iter::repeat_n(' ', (64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn field<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let k = format!("'{key}':");
    let i = header.find(&k).ok_or_else(|| NpyError(format!("header lacks '{key}'")))?;
    Ok(header[i + k.len()..].trim_start())
}

/// Decodes an `.npy` file of `<f8` or `<c16` in C order.
pub fn decode(bytes: &[u8]) -> Result<Array, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError("not an .npy file (bad magic)".into()));
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(NpyError(format!("unsupported format version {v}"))),
    };
    let header = start
        .checked_add(hlen)
        .and_then(|end: usize| bytes.get(start..end))
        .ok_or_else(|| NpyError("truncated header".into()))?;
    let header = core::str::from_utf8(header).map_err(|_| NpyError("header is not text".into()))?;
    let descr = field(header, "descr")?;
    let dtype = if descr.starts_with("'<f8'") {
        Dtype::F64
    } else if descr.starts_with("'<c16'") {
        Dtype::C128
    } else {
        return Err(NpyError(format!("unsupported dtype {}", descr.split(',').next().unwrap_or(""))));
    };
    if !field(header, "fortran_order")?.starts_with("False") {
        return Err(NpyError("Fortran-ordered arrays are not supported".into()));
    }
    let s = field(header, "shape")?;
    let close = s.find(')').filter(|_| s.starts_with('(')).ok_or_else(|| NpyError("malformed shape".into()))?;
    let shape: Vec<usize> = s[1..close]
        .split(',')
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().map_err(|_| NpyError(format!("malformed shape entry '{p}'"))))
        .collect::<Result<_, _>>()?;
    let body = &bytes[start + hlen..];
    let need = shape.iter().try_fold(dtype.width() * 8, |n: usize, &d| n.checked_mul(d));
    if need != Some(body.len()) {
        let need = need.map_or("more than can be addressed".into(), |n| format!("{n}"));
        return Err(NpyError(format!("data has {} bytes, shape {:?} needs {need}", body.len(), shape)));
    }
    let data = body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    Ok(Array { shape, dtype, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let data: Vec<f64> = (0..24).map(|i| i as f64 * 0.5 - 3.0).collect();
        let b = encode(&[2, 3, 2], Dtype::C128, &data);
        assert_eq!((b.len() - data.len() * 8) % 64, 0, "header aligned to 64 bytes");
        let a = decode(&b).unwrap();
        assert_eq!(a.shape, [2, 3, 2]);
        assert_eq!(a.dtype, Dtype::C128);
        assert_eq!(a.data, data);
        let b1 = encode(&[5], Dtype::F64, &data[..5]);
        assert_eq!(decode(&b1).unwrap().shape, [5]);
        assert!(decode(&b[..b.len() - 8]).is_err());
        assert!(decode(b"hello world").is_err());
        // Found by the fuzzer: an empty shape text, and a shape whose size overflows.
        let hostile = |shape: &str| {
            let h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
            b.extend_from_slice(h.as_bytes());
            b.extend_from_slice(&[0; 16]);
            decode(&b)
        };
        assert!(hostile(")").is_err());
        assert!(hostile("(4294967296, 4294967296, 16)").is_err());
        assert_eq!(hostile("(2,)").unwrap().shape, [2]);
    }
}
