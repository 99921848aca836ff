//! Reads a CTranslate2 `model.bin` (binary format version 6, as written by CTranslate2's
//! converters since 2023): a header, then named tensors, then aliases. Only what a Whisper
//! spec holds is supported (f32, f16, small integer scalars); anything else is an error
//! naming the variable, never a panic.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

/// One model file's variables by CTranslate2 name, floats as f32 tensors.
pub struct Variables {
    pub spec: String,
    pub tensors: HashMap<String, Tensor>,
    /// Integer scalars (`encoder/num_heads`, flags).
    pub scalars: HashMap<String, i64>,
}

impl Variables {
    pub fn take(&mut self, name: &str) -> Result<Tensor, String> {
        self.tensors
            .remove(name)
            .ok_or_else(|| format!("model.bin has no variable {name}"))
    }

    pub fn scalar(&self, name: &str) -> Result<i64, String> {
        self.scalars
            .get(name)
            .copied()
            .ok_or_else(|| format!("model.bin has no scalar {name}"))
    }
}

const VERSION: u32 = 6;

/// Parses `bytes`, the whole file.
pub fn parse(bytes: &[u8]) -> Result<Variables, String> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!(
            "model.bin is CTranslate2 format version {version}; this reader knows version {VERSION}"
        ));
    }
    let spec = r.string()?;
    let _revision = r.u32()?;
    let count = r.u32()?;
    let mut tensors = HashMap::new();
    let mut scalars = HashMap::new();
    for _ in 0..count {
        let name = r.string()?;
        let rank = usize::from(r.u8()?);
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32()? as usize);
        }
        let dtype = r.u8()?;
        let len = r.u32()? as usize;
        let data = r.take(len)?;
        let elements: usize = shape.iter().product();
        let (candle_dtype, width) = match dtype {
            0 => (Some(DType::F32), 4),
            4 => (Some(DType::F16), 2),
            1 => (None, 1),
            2 => (None, 2),
            3 => (None, 4),
            other => return Err(format!("{name}: unsupported data type {other}")),
        };
        if elements * width != len {
            return Err(format!(
                "{name}: {len} bytes for shape {shape:?} of {width}-byte values"
            ));
        }
        match candle_dtype {
            Some(dt) => {
                let t = Tensor::from_raw_buffer(data, dt, &shape, &Device::Cpu)
                    .and_then(|t| t.to_dtype(DType::F32))
                    .map_err(|e| format!("{name}: {e}"))?;
                tensors.insert(name, t);
            }
            None if elements == 1 => {
                let v = match width {
                    1 => i64::from(data[0] as i8),
                    2 => i64::from(i16::from_le_bytes([data[0], data[1]])),
                    _ => i64::from(i32::from_le_bytes([data[0], data[1], data[2], data[3]])),
                };
                scalars.insert(name, v);
            }
            None => return Err(format!("{name}: integer tensors are not supported")),
        }
    }
    let aliases = r.u32()?;
    for _ in 0..aliases {
        let alias = r.string()?;
        let target = r.string()?;
        if let Some(t) = tensors.get(&target).cloned() {
            tensors.insert(alias, t);
        }
    }
    Ok(Variables {
        spec,
        tensors,
        scalars,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("model.bin is cut short at byte {}", self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A u16 length, then that many bytes ending in NUL.
    fn string(&mut self) -> Result<String, String> {
        let b = self.take(2)?;
        let n = usize::from(u16::from_le_bytes([b[0], b[1]]));
        let s = self.take(n)?;
        let s = s.strip_suffix(&[0]).unwrap_or(s);
        String::from_utf8(s.to_vec()).map_err(|_| "model.bin: a name is not UTF-8".to_string())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    fn file() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&6u32.to_le_bytes());
        string(&mut f, "WhisperSpec");
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes());
        string(&mut f, "w");
        f.push(2);
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes());
        f.push(4);
        f.extend_from_slice(&4u32.to_le_bytes());
        // f16 1.0 and -2.0
        f.extend_from_slice(&[0x00, 0x3c, 0x00, 0xc0]);
        string(&mut f, "heads");
        f.push(0);
        f.push(2);
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(&6i16.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        string(&mut f, "alias");
        string(&mut f, "w");
        f
    }

    #[test]
    fn reads_tensors_scalars_and_aliases() {
        let mut v = parse(&file()).unwrap();
        assert_eq!(v.spec, "WhisperSpec");
        assert_eq!(v.scalar("heads").unwrap(), 6);
        let w = v.take("w").unwrap();
        assert_eq!(w.to_vec2::<f32>().unwrap(), vec![vec![1.0, -2.0]]);
        assert!(v.take("alias").is_ok());
        assert!(v.take("w").is_err());
    }

    #[test]
    fn a_cut_file_or_wrong_version_is_an_error() {
        let f = file();
        for n in [0, 3, 10, 30, f.len() - 1] {
            assert!(parse(&f[..n]).is_err(), "{n}");
        }
        let mut bad = f.clone();
        bad[0] = 5;
        assert!(parse(&bad).err().unwrap().contains("version 5"));
    }
}
