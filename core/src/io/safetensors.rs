//! The safetensors format (as written by the `safetensors` Python package):
//! an 8-byte little-endian header length, a JSON header mapping tensor names
//! to `{dtype, shape, data_offsets}` (plus an optional `__metadata__` map of
//! strings), then the little-endian tensor data. fpa writes `F64`; it reads
//! `F64` and `F32`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde_json::{Map, Value};

/// A tensor read from or written to a file.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Why a file was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct SafetensorsError(pub String);

impl fmt::Display for SafetensorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "safetensors: {}", self.0)
    }
}
impl core::error::Error for SafetensorsError {}

/// Encodes tensors (in the given order) and string metadata.
pub fn encode(tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = Map::new();
    if !metadata.is_empty() {
        let m: Map<String, Value> = metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        header.insert("__metadata__".into(), Value::Object(m));
    }
    let mut off = 0usize;
    for t in tensors {
        assert_eq!(t.shape.iter().product::<usize>(), t.data.len(), "tensor {} has a wrong shape", t.name);
        let mut e = Map::new();
        e.insert("dtype".into(), Value::String("F64".into()));
        e.insert("shape".into(), Value::Array(t.shape.iter().map(|&d| Value::from(d as u64)).collect()));
        let end = off + 8 * t.data.len();
        e.insert("data_offsets".into(), Value::Array(alloc::vec![Value::from(off as u64), Value::from(end as u64)]));
        header.insert(t.name.clone(), Value::Object(e));
        off = end;
    }
    let mut h = serde_json::to_string(&Value::Object(header)).expect("json");
    while !(8 + h.len()).is_multiple_of(8) {
        h.push(' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    for t in tensors {
        for x in &t.data {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Decodes a file: tensors in data order, and the metadata.
pub fn decode(bytes: &[u8]) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), SafetensorsError> {
    let err = |m: String| SafetensorsError(m);
    if bytes.len() < 8 {
        return Err(err("file is shorter than its 8-byte header length".into()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header =
        bytes.get(8..8usize.saturating_add(n)).ok_or_else(|| err(format!("header of {n} bytes is truncated")))?;
    let text = core::str::from_utf8(header).map_err(|_| err("header is not UTF-8".into()))?;
    let v: Value = serde_json::from_str(text).map_err(|e| err(format!("header is not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| err("header is not a JSON object".into()))?;
    let data = &bytes[8 + n..];
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, e) in obj {
        if name == "__metadata__" {
            for (k, val) in e.as_object().ok_or_else(|| err("__metadata__ is not an object".into()))? {
                metadata.insert(k.clone(), val.as_str().unwrap_or_default().into());
            }
            continue;
        }
        let dtype = e["dtype"].as_str().ok_or_else(|| err(format!("{name}: no dtype")))?;
        let width = match dtype {
            "F64" => 8,
            "F32" => 4,
            d => return Err(err(format!("{name}: dtype {d} is not supported (F64, F32)"))),
        };
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .ok_or_else(|| err(format!("{name}: no shape")))?
            .iter()
            .map(|d| d.as_u64().map(|x| x as usize).ok_or_else(|| err(format!("{name}: bad shape"))))
            .collect::<Result<_, _>>()?;
        let offs = e["data_offsets"].as_array().ok_or_else(|| err(format!("{name}: no data_offsets")))?;
        let (b, en) = match (offs.first().and_then(Value::as_u64), offs.get(1).and_then(Value::as_u64)) {
            (Some(b), Some(en)) if b <= en => (b as usize, en as usize),
            _ => return Err(err(format!("{name}: bad data_offsets"))),
        };
        let count: usize = shape.iter().product();
        if en - b != count * width {
            return Err(err(format!("{name}: {} bytes for shape {shape:?} of {dtype}", en - b)));
        }
        let raw = data.get(b..en).ok_or_else(|| err(format!("{name}: data is truncated")))?;
        let vals: Vec<f64> = if width == 8 {
            raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
        } else {
            raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()
        };
        tensors.push((b, NamedTensor { name: name.clone(), shape, data: vals }));
    }
    tensors.sort_by_key(|t| t.0);
    Ok((tensors.into_iter().map(|t| t.1).collect(), metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let t = alloc::vec![
            NamedTensor { name: "a".into(), shape: alloc::vec![2, 3], data: (0..6).map(|i| i as f64).collect() },
            NamedTensor { name: "b.weight".into(), shape: alloc::vec![1], data: alloc::vec![-0.5] },
        ];
        let mut m = BTreeMap::new();
        m.insert("spec".into(), "{\"x\":1}".into());
        let b = encode(&t, &m);
        assert_eq!(u64::from_le_bytes(b[..8].try_into().unwrap()) % 8, 0);
        let (t2, m2) = decode(&b).unwrap();
        assert_eq!(t, t2);
        assert_eq!(m, m2);
        assert!(decode(&b[..b.len() - 3]).is_err());
        assert!(decode(b"\x05\0\0\0\0\0\0\0{}").is_err());
    }
}
