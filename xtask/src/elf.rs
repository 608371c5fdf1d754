//! Just enough of 32-bit little-endian ELF to read section and symbol sizes
//! of a firmware (no dependency; every read is bounds-checked).

use anyhow::{bail, Context, Result};

/// One section header.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub kind: u32,
    pub flags: u32,
    pub size: u32,
}

/// One symbol of `.symtab`.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub size: u32,
    /// STT_* type (2 = function, 1 = object).
    pub kind: u8,
}

pub const SHF_ALLOC: u32 = 0x2;
pub const SHT_NOBITS: u32 = 8;
const SHT_SYMTAB: u32 = 2;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;

pub struct Elf {
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    let s = b.get(off..off.saturating_add(2)).context("ELF truncated")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    let s = b.get(off..off.saturating_add(4)).context("ELF truncated")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn idx(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// NUL-terminated string at `off` in the string table `tab`.
fn str_at(tab: &[u8], off: u32) -> String {
    let rest = tab.get(idx(off)..).unwrap_or(&[]);
    let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

struct RawSection {
    name: u32,
    kind: u32,
    flags: u32,
    offset: u32,
    size: u32,
    link: u32,
}

impl Elf {
    pub fn parse(b: &[u8]) -> Result<Elf> {
        if b.get(..4) != Some(b"\x7fELF".as_slice()) {
            bail!("not an ELF file");
        }
        if b.get(4) != Some(&1) || b.get(5) != Some(&1) {
            bail!("not a 32-bit little-endian ELF (a Cortex-M firmware)");
        }
        let shoff = idx(u32_at(b, 0x20)?);
        let shentsize = usize::from(u16_at(b, 0x2E)?);
        let shnum = usize::from(u16_at(b, 0x30)?);
        let shstrndx = usize::from(u16_at(b, 0x32)?);
        if shentsize < 40 {
            bail!("ELF section header size {shentsize} too small");
        }
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff
                .checked_add(i.checked_mul(shentsize).context("ELF overflow")?)
                .context("ELF overflow")?;
            raw.push(RawSection {
                name: u32_at(b, h)?,
                kind: u32_at(b, h + 4)?,
                flags: u32_at(b, h + 8)?,
                offset: u32_at(b, h + 16)?,
                size: u32_at(b, h + 20)?,
                link: u32_at(b, h + 24)?,
            });
        }
        let data = |s: &RawSection| -> &[u8] {
            let start = idx(s.offset);
            b.get(start..start.saturating_add(idx(s.size)))
                .unwrap_or(&[])
        };
        let shstr = raw.get(shstrndx).map(data).unwrap_or(&[]);
        let sections = raw
            .iter()
            .map(|s| Section {
                name: str_at(shstr, s.name),
                kind: s.kind,
                flags: s.flags,
                size: s.size,
            })
            .collect();
        let mut symbols = Vec::new();
        if let Some(symtab) = raw.iter().find(|s| s.kind == SHT_SYMTAB) {
            let strtab = raw.get(idx(symtab.link)).map(data).unwrap_or(&[]);
            for e in data(symtab).chunks_exact(16) {
                symbols.push(Symbol {
                    name: str_at(strtab, u32_at(e, 0)?),
                    size: u32_at(e, 8)?,
                    kind: e[12] & 0xf,
                });
            }
        }
        Ok(Elf { sections, symbols })
    }

    /// Size of the section called `name` (0 when absent).
    pub fn section_size(&self, name: &str) -> u32 {
        self.sections
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.size)
            .sum()
    }

    /// Bytes of allocated sections whose name starts with one of `prefixes`.
    pub fn alloc_size(&self, prefixes: &[&str], nobits: bool) -> u32 {
        self.sections
            .iter()
            .filter(|s| s.flags & SHF_ALLOC != 0 && (s.kind == SHT_NOBITS) == nobits)
            .filter(|s| prefixes.iter().any(|p| s.name.starts_with(p)))
            .map(|s| s.size)
            .sum()
    }
}
