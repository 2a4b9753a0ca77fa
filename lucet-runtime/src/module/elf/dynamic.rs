//! The dynamic section: what each tag says, read through the addresses the
//! loader uses, with only the tags a linked lucetc object has.

use super::*;

/// Dynamic-section values, by tag.
#[derive(Default)]
pub(super) struct DynamicTables {
    pub(super) needed: Vec<u64>,
    pub(super) strtab: Option<u64>,
    pub(super) strsz: Option<u64>,
    pub(super) symtab: Option<u64>,
    pub(super) gnu_hash: Option<u64>,
    pub(super) hash: Option<u64>,
    pub(super) rela: Option<(u64, u64)>,
    pub(super) relacount: Option<u64>,
    pub(super) jmprel: Option<(u64, u64)>,
    pub(super) pltgot: Option<u64>,
    pub(super) versym: Option<u64>,
    pub(super) verneed: Option<(u64, u64)>,
}

pub(super) fn read_dynamic(image: &Image<'_>, seg: &Segment) -> Check<DynamicTables> {
    // Read through the address the loader uses, not the segment's offset.
    let at = image
        .file_offset(seg.vaddr, seg.filesz, true)
        .filter(|at| *at == seg.offset && seg.filesz == seg.memsz)
        .ok_or("the dynamic section is not inside a segment backed by the file")?;
    let count = (seg.filesz / DYN_SIZE).min(MAX_DYNAMIC);
    let mut t = DynamicTables::default();
    let mut seen = std::collections::HashSet::new();
    let (mut relasz, mut relaent, mut rela) = (None, None, None);
    let (mut pltrelsz, mut pltrel, mut jmprel) = (None, None, None);
    let (mut verneed, mut verneednum) = (None, None);
    let mut terminated = false;
    for i in 0..count {
        let tag = image.file.u64(at + i * DYN_SIZE)? as i64;
        let val = image.file.u64(at + i * DYN_SIZE + 8)?;
        if tag == elf::DT_NULL as i64 {
            terminated = true;
            break;
        }
        let Ok(tag) = u32::try_from(tag) else {
            return fail(format!("dynamic tag {tag:#x} that lucetc never emits"));
        };
        if tag != elf::DT_NEEDED && !seen.insert(tag) {
            return fail(format!("dynamic tag {tag:#x} appears twice"));
        }
        let refuse = |what: &str| fail(format!("the object has {what}, which lucetc never emits"));
        match tag {
            elf::DT_NEEDED => t.needed.push(val),
            elf::DT_STRTAB => t.strtab = Some(val),
            elf::DT_STRSZ => t.strsz = Some(val),
            elf::DT_SYMTAB => t.symtab = Some(val),
            elf::DT_SYMENT if val == SYM_SIZE => {}
            elf::DT_SYMENT => return fail(format!("symbol entries of {val} bytes")),
            elf::DT_GNU_HASH => t.gnu_hash = Some(val),
            elf::DT_HASH => t.hash = Some(val),
            elf::DT_RELA => rela = Some(val),
            elf::DT_RELASZ => relasz = Some(val),
            elf::DT_RELAENT => relaent = Some(val),
            elf::DT_RELACOUNT => t.relacount = Some(val),
            elf::DT_JMPREL => jmprel = Some(val),
            elf::DT_PLTRELSZ => pltrelsz = Some(val),
            elf::DT_PLTREL => pltrel = Some(val),
            elf::DT_PLTGOT => t.pltgot = Some(val),
            elf::DT_VERSYM => t.versym = Some(val),
            elf::DT_VERNEED => verneed = Some(val),
            elf::DT_VERNEEDNUM => verneednum = Some(val),
            elf::DT_BIND_NOW => {}
            elf::DT_FLAGS if val & !u64::from(elf::DF_BIND_NOW) == 0 => {}
            elf::DT_FLAGS_1 if val & !u64::from(elf::DF_1_NOW) == 0 => {}
            elf::DT_FLAGS | elf::DT_FLAGS_1 => {
                return fail(format!("dynamic flags {val:#x} that lucetc never sets"))
            }
            elf::DT_INIT => return refuse("a constructor (DT_INIT)"),
            elf::DT_INIT_ARRAY | elf::DT_INIT_ARRAYSZ => {
                return refuse("constructors (DT_INIT_ARRAY)")
            }
            elf::DT_PREINIT_ARRAY | elf::DT_PREINIT_ARRAYSZ => {
                return refuse("constructors (DT_PREINIT_ARRAY)")
            }
            elf::DT_FINI => return refuse("a destructor (DT_FINI)"),
            elf::DT_FINI_ARRAY | elf::DT_FINI_ARRAYSZ => {
                return refuse("destructors (DT_FINI_ARRAY)")
            }
            elf::DT_TEXTREL => return refuse("text relocations (DT_TEXTREL)"),
            elf::DT_SONAME => return refuse("a DT_SONAME (it would answer other loads by name)"),
            elf::DT_RPATH | elf::DT_RUNPATH => return refuse("a library search path"),
            elf::DT_VERDEF | elf::DT_VERDEFNUM => return refuse("version definitions"),
            other => return fail(format!("dynamic tag {other:#x} that lucetc never emits")),
        }
    }
    if !terminated {
        return fail("the dynamic section has no DT_NULL terminator");
    }
    t.rela = match (rela, relasz, relaent) {
        (None, None, _) => None,
        (Some(a), Some(sz), Some(RELA_SIZE) | None) if sz % RELA_SIZE == 0 => Some((a, sz)),
        _ => return fail("inconsistent DT_RELA, DT_RELASZ and DT_RELAENT"),
    };
    t.jmprel = match (jmprel, pltrelsz, pltrel) {
        (None, None, None) => None,
        (Some(a), Some(sz), Some(k)) if k == u64::from(elf::DT_RELA) && sz % RELA_SIZE == 0 => {
            Some((a, sz))
        }
        _ => return fail("inconsistent DT_JMPREL, DT_PLTRELSZ and DT_PLTREL"),
    };
    t.verneed = match (verneed, verneednum) {
        (None, None) => None,
        (Some(a), Some(n)) if n > 0 => Some((a, n)),
        _ => return fail("inconsistent DT_VERNEED and DT_VERNEEDNUM"),
    };
    Ok(t)
}
