//! Where everything goes: input sections within output sections, output
//! sections within the file, and the segments that map them.
//!
//! Loaded sections have addresses equal to their file offsets (the object
//! is loaded at a base the loader picks, so only offsets matter), and each
//! segment starts on a page of its own.

use super::input::{Input, Kind};
use super::{LinkError, PAGE};

/// Bytes of the ELF header and of one program or section header.
pub(super) const EHDR_SIZE: u64 = 64;
pub(super) const PHDR_SIZE: u64 = 56;
pub(super) const SHDR_SIZE: u64 = 64;
/// A build-id note: header, "GNU\0", 20 bytes of id.
pub(super) const NOTE_SIZE: u64 = 12 + 4 + BUILD_ID_SIZE;
pub(super) const BUILD_ID_SIZE: u64 = 20;

/// The output sections, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Id {
    Note,
    GnuHash,
    DynSym,
    DynStr,
    RelaDyn,
    Rodata,
    Text,
    Plt,
    RelRo,
    Got,
    Dynamic,
    SymTab,
    StrTab,
    ShStrTab,
}

impl Id {
    /// The section's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Id::Note => ".note.gnu.build-id",
            Id::GnuHash => ".gnu.hash",
            Id::DynSym => ".dynsym",
            Id::DynStr => ".dynstr",
            Id::RelaDyn => ".rela.dyn",
            Id::Rodata => ".rodata",
            Id::Text => ".text",
            Id::Plt => ".plt",
            Id::RelRo => ".data.rel.ro",
            Id::Got => ".got",
            Id::Dynamic => ".dynamic",
            Id::SymTab => ".symtab",
            Id::StrTab => ".strtab",
            Id::ShStrTab => ".shstrtab",
        }
    }

    /// The segment the section is loaded in.
    fn loaded(self) -> Loaded {
        match self {
            Id::Note | Id::GnuHash | Id::DynSym | Id::DynStr | Id::RelaDyn | Id::Rodata => {
                Loaded::ReadOnly
            }
            Id::Text | Id::Plt => Loaded::Code,
            Id::RelRo | Id::Got | Id::Dynamic => Loaded::Writable,
            Id::SymTab | Id::StrTab | Id::ShStrTab => Loaded::No,
        }
    }

    /// The output section holding input sections of `kind`.
    pub(super) fn of(kind: Kind) -> Id {
        match kind {
            Kind::Code => Id::Text,
            Kind::ReadOnly => Id::Rodata,
            Kind::RelRo => Id::RelRo,
        }
    }
}

/// Which loadable segment a section is in (the index of its range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loaded {
    ReadOnly = 0,
    Code = 1,
    Writable = 2,
    No = 3,
}

/// Where each input section lies within its output section.
pub(super) struct Placement {
    /// Offset of each input section in its output section.
    pub offsets: Vec<u64>,
    pub rodata: u64,
    pub text: u64,
    pub relro: u64,
    pub rodata_align: u64,
    pub relro_align: u64,
    pub text_align: u64,
}

fn align_up(at: u64, align: u64) -> Result<u64, LinkError> {
    at.checked_next_multiple_of(align)
        .ok_or_else(|| LinkError::TooLarge("addresses overflow".into()))
}

fn add(a: u64, b: u64) -> Result<u64, LinkError> {
    a.checked_add(b)
        .ok_or_else(|| LinkError::TooLarge("addresses overflow".into()))
}

impl Placement {
    /// Concatenate the input sections of each kind, in input order, each
    /// at its alignment.
    pub(super) fn of(input: &Input<'_>) -> Result<Placement, LinkError> {
        let mut p = Placement {
            offsets: Vec::with_capacity(input.sections.len()),
            rodata: 0,
            text: 0,
            relro: 0,
            rodata_align: 1,
            relro_align: 8,
            text_align: 16,
        };
        for s in &input.sections {
            let (end, align) = match s.kind {
                Kind::Code => (&mut p.text, &mut p.text_align),
                Kind::ReadOnly => (&mut p.rodata, &mut p.rodata_align),
                Kind::RelRo => (&mut p.relro, &mut p.relro_align),
            };
            let at = align_up(*end, s.align)?;
            p.offsets.push(at);
            *end = add(at, s.data.len() as u64)?;
            *align = (*align).max(s.align);
        }
        Ok(p)
    }
}

/// The sizes of the output sections (and the alignments that depend on
/// the input).
pub(super) struct Sizes {
    pub gnu_hash: u64,
    pub dynsym: u64,
    pub dynstr: u64,
    pub rela_dyn: u64,
    pub rodata: u64,
    pub text: u64,
    pub plt: u64,
    pub relro: u64,
    pub got: u64,
    pub dynamic: u64,
    pub symtab: u64,
    pub strtab: u64,
    pub rodata_align: u64,
    pub text_align: u64,
    pub relro_align: u64,
}

/// An output section's place in the file (and, if loaded, in memory).
#[derive(Clone, Copy, Debug)]
pub(super) struct OutSection {
    pub id: Id,
    pub offset: u64,
    pub size: u64,
    pub align: u64,
    /// Offset of its name in `.shstrtab`.
    pub name: u32,
}

/// A program header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Segment {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// The whole file.
pub(super) struct Layout {
    /// Sections present, in file order: section header `i + 1` is
    /// `sections[i]` (0 is the null section).
    pub sections: Vec<OutSection>,
    pub segments: Vec<Segment>,
    pub shstrtab: Vec<u8>,
    pub shoff: u64,
    pub file_size: u64,
}

impl Layout {
    /// Lay out sections of `sizes`, leaving out empty optional ones.
    pub(super) fn new(sizes: &Sizes) -> Result<Layout, LinkError> {
        use object::elf::*;
        let code = sizes.text > 0 || sizes.plt > 0;
        // Three loadable segments (two without code), the dynamic
        // section, the note, the stack and RELRO.
        let phnum = if code { 7 } else { 6 };
        let present: Vec<(Id, u64, u64)> = [
            (Id::Note, NOTE_SIZE, 4),
            (Id::GnuHash, sizes.gnu_hash, 8),
            (Id::DynSym, sizes.dynsym, 8),
            (Id::DynStr, sizes.dynstr, 1),
            (Id::RelaDyn, sizes.rela_dyn, 8),
            (Id::Rodata, sizes.rodata, sizes.rodata_align),
            (Id::Text, sizes.text, sizes.text_align),
            (Id::Plt, sizes.plt, 16),
            (Id::RelRo, sizes.relro, sizes.relro_align),
            (Id::Got, sizes.got, 8),
            (Id::Dynamic, sizes.dynamic, 8),
            (Id::SymTab, sizes.symtab, 8),
            (Id::StrTab, sizes.strtab, 1),
            (Id::ShStrTab, 0, 1),
        ]
        .into_iter()
        // Sections that may hold symbols stay even when empty, so their
        // symbols keep a section (an index of 0 would make them undefined);
        // there is no empty code (`input` drops it).
        .filter(|&(id, size, _)| {
            size > 0
                || matches!(
                    id,
                    Id::DynStr | Id::Rodata | Id::RelRo | Id::Dynamic | Id::StrTab | Id::ShStrTab
                )
        })
        .collect();
        let mut shstrtab = vec![0u8];
        let mut names = Vec::with_capacity(present.len());
        for (id, ..) in &present {
            names.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(id.name().as_bytes());
            shstrtab.push(0);
        }
        let mut at = EHDR_SIZE + phnum * PHDR_SIZE;
        let mut sections = Vec::with_capacity(present.len());
        let mut ranges = [0..at, 0..0, 0..0];
        let mut current = Loaded::ReadOnly;
        for ((id, size, align), name) in present.into_iter().zip(names) {
            let size = if id == Id::ShStrTab {
                shstrtab.len() as u64
            } else {
                size
            };
            let loaded = id.loaded();
            if loaded != current {
                // A segment starts a page of its own.
                if loaded != Loaded::No {
                    at = align_up(at, PAGE)?;
                    ranges[loaded as usize] = at..at;
                }
                current = loaded;
            }
            at = align_up(at, align)?;
            sections.push(OutSection {
                id,
                offset: at,
                size,
                align,
                name,
            });
            at = add(at, size)?;
            if loaded != Loaded::No {
                ranges[loaded as usize].end = at;
            }
        }
        let [read_only, code_range, rw_range] = ranges;
        let read_only_end = read_only.end;
        let shoff = align_up(at, 8)?;
        let file_size = add(shoff, (sections.len() as u64 + 1) * SHDR_SIZE)?;
        // The loader refuses addresses beyond 1 TiB; files that large are
        // refused long before.
        if file_size >= 1 << 40 {
            return Err(LinkError::TooLarge(format!("{file_size} bytes")));
        }
        let rw_memsz = align_up(rw_range.end, PAGE)? - rw_range.start;
        let rw_filesz = rw_range.end - rw_range.start;
        let load = |flags, offset: u64, filesz: u64, memsz: u64| Segment {
            p_type: PT_LOAD,
            flags,
            offset,
            filesz,
            memsz,
            align: PAGE,
        };
        let find = |id: Id| sections.iter().find(|s| s.id == id).copied();
        let (dynamic, note) = match (find(Id::Dynamic), find(Id::Note)) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(LinkError::Internal("no dynamic section or note".into())),
        };
        let mut segments = vec![load(PF_R, 0, read_only_end, read_only_end)];
        if code {
            let len = code_range.end - code_range.start;
            segments.push(load(PF_R | PF_X, code_range.start, len, len));
        }
        // RELRO ends on a page boundary: the loader protects whole pages
        // only, rounding its end down.
        segments.extend([
            load(PF_R | PF_W, rw_range.start, rw_filesz, rw_memsz),
            Segment {
                p_type: PT_DYNAMIC,
                flags: PF_R | PF_W,
                offset: dynamic.offset,
                filesz: dynamic.size,
                memsz: dynamic.size,
                align: 8,
            },
            Segment {
                p_type: PT_NOTE,
                flags: PF_R,
                offset: note.offset,
                filesz: note.size,
                memsz: note.size,
                align: 4,
            },
            Segment {
                p_type: PT_GNU_STACK,
                flags: PF_R | PF_W,
                offset: 0,
                filesz: 0,
                memsz: 0,
                align: 16,
            },
            Segment {
                p_type: PT_GNU_RELRO,
                flags: PF_R,
                offset: rw_range.start,
                filesz: rw_filesz,
                memsz: rw_memsz,
                align: 1,
            },
        ]);
        if segments.len() as u64 != phnum {
            return Err(LinkError::Internal("program header count".into()));
        }
        Ok(Layout {
            sections,
            segments,
            shstrtab,
            shoff,
            file_size,
        })
    }

    /// The section `id`, if present.
    pub(super) fn section(&self, id: Id) -> Option<&OutSection> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The address (and file offset) of section `id`; 0 if absent.
    pub(super) fn addr(&self, id: Id) -> u64 {
        self.section(id).map_or(0, |s| s.offset)
    }

    /// The section header index of `id`; 0 (undefined) if absent.
    pub(super) fn index(&self, id: Id) -> u16 {
        self.sections
            .iter()
            .position(|s| s.id == id)
            .map_or(0, |i| i as u16 + 1)
    }
}
