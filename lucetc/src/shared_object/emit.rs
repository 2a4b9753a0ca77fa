//! Writing the file: headers, then every section at the offset the layout
//! gave it, then the section headers.

use super::dynamic::DynamicSymbols;
use super::input::{Input, Target};
use super::layout::{Id, Layout, Placement, BUILD_ID_SIZE, EHDR_SIZE, PHDR_SIZE, SHDR_SIZE};
use super::relocate::{Linkage, Relocated};
use super::symtab::SymbolTable;
use super::LinkError;
use object::elf;
use object::pod::bytes_of;
use object::{LittleEndian as LE, U16, U32, U64};
use sha2::{Digest, Sha256};

/// Everything the file is made of.
pub(super) struct Parts<'a> {
    /// The relocatable object (its hash is the build id).
    pub object: &'a [u8],
    pub input: &'a Input<'a>,
    pub placement: &'a Placement,
    pub linkage: &'a Linkage,
    pub dynamic: &'a DynamicSymbols,
    pub symtab: &'a SymbolTable,
    pub layout: &'a Layout,
    pub relocated: &'a Relocated,
}

/// The shared object's bytes.
pub(super) fn file(p: &Parts<'_>) -> Result<Vec<u8>, LinkError> {
    let layout = p.layout;
    let mut out = Vec::with_capacity(layout.file_size as usize);
    out.extend_from_slice(bytes_of(&file_header(layout)));
    for s in &layout.segments {
        let phdr = elf::ProgramHeader64::<LE> {
            p_type: U32::new(LE, s.p_type),
            p_flags: U32::new(LE, s.flags),
            p_offset: U64::new(LE, s.offset),
            p_vaddr: U64::new(LE, s.offset),
            p_paddr: U64::new(LE, s.offset),
            p_filesz: U64::new(LE, s.filesz),
            p_memsz: U64::new(LE, s.memsz),
            p_align: U64::new(LE, s.align),
        };
        out.extend_from_slice(bytes_of(&phdr));
    }
    // Where each input symbol is in the output: address and section index.
    let addr = |sym: usize| match p.input.symbols[sym].target {
        Target::Defined { section, value } => {
            let id = Id::of(p.input.sections[section].kind);
            Some((
                layout.addr(id) + p.placement.offsets[section] + value,
                layout.index(id),
            ))
        }
        _ => None,
    };
    for s in &layout.sections {
        pad_to(&mut out, s.offset)?;
        let start = out.len();
        match s.id {
            Id::Note => build_id_note(&mut out, p.object),
            Id::GnuHash => out.extend_from_slice(p.dynamic.gnu_hash()),
            Id::DynSym => out.extend_from_slice(&p.dynamic.dynsym(p.input, addr)),
            Id::DynStr => out.extend_from_slice(p.dynamic.dynstr()),
            Id::RelaDyn => {
                for r in &p.relocated.relocs {
                    let rela = elf::Rela64::<LE> {
                        r_offset: U64::new(LE, r.offset),
                        r_info: U64::new(LE, (u64::from(r.symbol) << 32) | u64::from(r.kind)),
                        r_addend: object::I64::new(LE, r.addend),
                    };
                    out.extend_from_slice(bytes_of(&rela));
                }
            }
            Id::Rodata => out.extend_from_slice(&p.relocated.rodata),
            Id::Text => out.extend_from_slice(&p.relocated.text),
            Id::Plt => out.extend_from_slice(&p.relocated.plt),
            Id::RelRo => out.extend_from_slice(&p.relocated.relro),
            Id::Got => out.extend_from_slice(&p.relocated.got),
            Id::Dynamic => out.extend_from_slice(&p.dynamic.dynamic(p.linkage, layout)),
            Id::SymTab => out.extend_from_slice(&p.symtab.bytes(p.input, addr)),
            Id::StrTab => out.extend_from_slice(p.symtab.strtab()),
            Id::ShStrTab => out.extend_from_slice(&layout.shstrtab),
        }
        if (out.len() - start) as u64 != s.size {
            return Err(LinkError::Internal(format!(
                "{} is {} bytes, laid out as {}",
                s.id.name(),
                out.len() - start,
                s.size
            )));
        }
    }
    pad_to(&mut out, layout.shoff)?;
    out.extend_from_slice(&[0u8; SHDR_SIZE as usize]);
    for s in &layout.sections {
        out.extend_from_slice(bytes_of(&section_header(p, s.id, s)));
    }
    if out.len() as u64 != layout.file_size {
        return Err(LinkError::Internal("file size".into()));
    }
    Ok(out)
}

/// Zeros up to `offset`, which must not be behind.
fn pad_to(out: &mut Vec<u8>, offset: u64) -> Result<(), LinkError> {
    let len = out.len() as u64;
    if len > offset {
        return Err(LinkError::Internal(format!(
            "contents at {len:#x} overrun the next section at {offset:#x}"
        )));
    }
    out.resize(offset as usize, 0);
    Ok(())
}

fn file_header(layout: &Layout) -> elf::FileHeader64<LE> {
    elf::FileHeader64 {
        e_ident: elf::Ident {
            magic: elf::ELFMAG,
            class: elf::ELFCLASS64,
            data: elf::ELFDATA2LSB,
            version: elf::EV_CURRENT,
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            padding: [0; 7],
        },
        e_type: U16::new(LE, elf::ET_DYN),
        e_machine: U16::new(LE, elf::EM_X86_64),
        e_version: U32::new(LE, u32::from(elf::EV_CURRENT)),
        e_entry: U64::new(LE, 0),
        e_phoff: U64::new(LE, EHDR_SIZE),
        e_shoff: U64::new(LE, layout.shoff),
        e_flags: U32::new(LE, 0),
        e_ehsize: U16::new(LE, EHDR_SIZE as u16),
        e_phentsize: U16::new(LE, PHDR_SIZE as u16),
        e_phnum: U16::new(LE, layout.segments.len() as u16),
        e_shentsize: U16::new(LE, SHDR_SIZE as u16),
        e_shnum: U16::new(LE, layout.sections.len() as u16 + 1),
        e_shstrndx: U16::new(LE, layout.index(Id::ShStrTab)),
    }
}

/// A GNU build-id note: the first bytes of the SHA-256 of the relocatable
/// object, which determines the output.
fn build_id_note(out: &mut Vec<u8>, object: &[u8]) {
    let hash = Sha256::digest(object);
    for word in [4, BUILD_ID_SIZE as u32, elf::NT_GNU_BUILD_ID] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(elf::ELF_NOTE_GNU);
    out.push(0);
    out.extend_from_slice(&hash[..BUILD_ID_SIZE as usize]);
}

fn section_header(
    p: &Parts<'_>,
    id: Id,
    s: &super::layout::OutSection,
) -> elf::SectionHeader64<LE> {
    use elf::*;
    let layout = p.layout;
    let alloc = u64::from(SHF_ALLOC);
    let (sh_type, flags, link, info, entsize) = match id {
        Id::Note => (SHT_NOTE, alloc, 0, 0, 0),
        Id::GnuHash => (SHT_GNU_HASH, alloc, layout.index(Id::DynSym), 0, 0),
        // sh_info: the first non-local symbol (there are no local ones).
        Id::DynSym => (SHT_DYNSYM, alloc, layout.index(Id::DynStr), 1, 24),
        Id::DynStr => (SHT_STRTAB, alloc, 0, 0, 0),
        Id::RelaDyn => (SHT_RELA, alloc, layout.index(Id::DynSym), 0, 24),
        Id::Rodata => (SHT_PROGBITS, alloc, 0, 0, 0),
        Id::Text | Id::Plt => (SHT_PROGBITS, alloc | u64::from(SHF_EXECINSTR), 0, 0, 0),
        Id::RelRo => (SHT_PROGBITS, alloc | u64::from(SHF_WRITE), 0, 0, 0),
        Id::Got => (SHT_PROGBITS, alloc | u64::from(SHF_WRITE), 0, 0, 8),
        Id::Dynamic => (
            SHT_DYNAMIC,
            alloc | u64::from(SHF_WRITE),
            layout.index(Id::DynStr),
            0,
            16,
        ),
        Id::SymTab => (
            SHT_SYMTAB,
            0,
            layout.index(Id::StrTab),
            p.symtab.first_global(),
            24,
        ),
        Id::StrTab | Id::ShStrTab => (SHT_STRTAB, 0, 0, 0, 0),
    };
    let loaded = flags & alloc != 0;
    SectionHeader64 {
        sh_name: U32::new(LE, s.name),
        sh_type: U32::new(LE, sh_type),
        sh_flags: U64::new(LE, flags),
        sh_addr: U64::new(LE, if loaded { s.offset } else { 0 }),
        sh_offset: U64::new(LE, s.offset),
        sh_size: U64::new(LE, s.size),
        sh_link: U32::new(LE, u32::from(link)),
        sh_info: U32::new(LE, info),
        sh_addralign: U64::new(LE, s.align),
        sh_entsize: U64::new(LE, entsize),
    }
}
