//! The flash and RAM a linked firmware takes, read from its ELF section
//! headers (ELF32, little-endian: what `thumbv7em-none-eabihf` links).
//!
//! Flash holds every allocated section with contents in the image
//! (`.vector_table`, `.text`, `.rodata`, and `.data`'s initial values);
//! RAM holds every allocated, writable section (`.data`, `.bss`,
//! `.uninit`). The stack is not in the ELF: the firmware measures its
//! high-water mark at run time (`stack N bytes`) and the caller adds it.

use std::path::Path;

/// What a firmware takes, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes stored in flash.
    pub flash: u64,
    /// Bytes of RAM the statics take (without the stack).
    pub ram: u64,
}

const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u32 = 0x1;
const SHF_ALLOC: u32 = 0x2;
const SECTION_HEADER_LEN: usize = 40;

/// [`footprint`] of the ELF file at `path`.
pub fn footprint_of_file(path: &Path) -> Result<Footprint, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    footprint(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The flash and RAM of a linked ELF32 little-endian image.
pub fn footprint(elf: &[u8]) -> Result<Footprint, String> {
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if elf.get(4..6) != Some([1u8, 1].as_slice()) {
        return Err("not a 32-bit little-endian ELF file (a Cortex-M firmware is one)".into());
    }
    let table = u32_at(elf, 0x20)? as usize;
    let entry_len = u16_at(elf, 0x2e)? as usize;
    let count = u16_at(elf, 0x30)? as usize;
    if count > 0 && entry_len != SECTION_HEADER_LEN {
        return Err(format!(
            "section headers of {entry_len} bytes; ELF32's are {SECTION_HEADER_LEN}"
        ));
    }
    let mut footprint = Footprint::default();
    for i in 0..count {
        let header = table
            .checked_add(i * SECTION_HEADER_LEN)
            .ok_or("the section header table lies past the end of the file")?;
        let kind = u32_at(elf, header + 4)?;
        let flags = u32_at(elf, header + 8)?;
        let size = u64::from(u32_at(elf, header + 20)?);
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind != SHT_NOBITS {
            footprint.flash += size;
        }
        if flags & SHF_WRITE != 0 {
            footprint.ram += size;
        }
    }
    Ok(footprint)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, String> {
    at.checked_add(4)
        .and_then(|end| bytes.get(at..end))
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("the file ends before byte {at} of its headers"))
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, String> {
    at.checked_add(2)
        .and_then(|end| bytes.get(at..end))
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("the file ends before byte {at} of its headers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF32 file with the sections `(type, flags, size)`, after a null
    /// section, as a linker writes its header table.
    fn elf(sections: &[(u32, u32, u32)]) -> Vec<u8> {
        let mut bytes = vec![0u8; 52];
        bytes[..6].copy_from_slice(b"\x7fELF\x01\x01");
        bytes[0x20..0x24].copy_from_slice(&52u32.to_le_bytes());
        bytes[0x2e..0x30].copy_from_slice(&40u16.to_le_bytes());
        bytes[0x30..0x32].copy_from_slice(&(sections.len() as u16 + 1).to_le_bytes());
        bytes.extend([0u8; 40]);
        for &(kind, flags, size) in sections {
            let mut header = [0u8; 40];
            header[4..8].copy_from_slice(&kind.to_le_bytes());
            header[8..12].copy_from_slice(&flags.to_le_bytes());
            header[20..24].copy_from_slice(&size.to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    const PROGBITS: u32 = 1;
    const EXEC: u32 = 0x4;

    #[test]
    fn flash_is_the_loaded_contents_and_ram_the_writable_sections() {
        let image = elf(&[
            (PROGBITS, SHF_ALLOC, 0x400),               // .vector_table
            (PROGBITS, SHF_ALLOC | EXEC, 10_000),       // .text
            (PROGBITS, SHF_ALLOC, 20_000),              // .rodata
            (PROGBITS, SHF_ALLOC | SHF_WRITE, 300),     // .data
            (SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 4_000), // .bss
            (PROGBITS, 0, 99_999),                      // .debug_info
            (3, 0, 500),                                // .shstrtab
        ]);
        assert_eq!(
            footprint(&image),
            Ok(Footprint {
                flash: 0x400 + 10_000 + 20_000 + 300,
                ram: 300 + 4_000
            })
        );
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        assert!(footprint(b"").unwrap_err().contains("not an ELF"));
        let mut wide = elf(&[]);
        wide[4] = 2;
        assert!(footprint(&wide).unwrap_err().contains("32-bit"));
        let image = elf(&[(PROGBITS, SHF_ALLOC, 8)]);
        assert!(
            footprint(&image[..image.len() - 30])
                .unwrap_err()
                .contains("ends before")
        );
        let mut far = elf(&[]);
        far[0x20..0x24].copy_from_slice(&u32::MAX.to_le_bytes());
        far[0x30] = 1;
        assert!(footprint(&far).is_err());
    }
}
