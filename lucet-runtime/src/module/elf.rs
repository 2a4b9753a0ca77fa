//! The structure of a shared object, checked before the dynamic loader
//! sees it.
//!
//! `dlopen` trusts the file: it runs constructors, loads the libraries the
//! file names, applies whatever relocations it lists and follows offsets in
//! its hash tables without bounds checks (corrupt `.rela.dyn`, `.dynamic` or
//! `.gnu.hash` sections crash the process inside the loader). So before the
//! loader sees a file, everything it will read is checked here, through the
//! same virtual addresses it will use, against what lucetc's link produces:
//!
//! - one x86-64 little-endian `ET_DYN` object; segments in bounds, in
//!   order, none both writable and executable, at most one executable, a
//!   non-executable stack declared, no TLS and no interpreter;
//! - only the dynamic tags a linked lucetc object has: no constructors or
//!   destructors (`DT_INIT*`, `DT_PREINIT_ARRAY`, `DT_FINI*`), no search
//!   paths, `DT_SONAME`, filters or text relocations, and no `DT_NEEDED`
//!   but libc and libm (the C compiler driver's link may add them);
//! - symbol, string, hash, version and relocation tables inside read-only
//!   segments, every index and offset in them in range, hash chains that
//!   end; symbols neither TLS nor IFUNC (whose resolvers would run inside
//!   `dlopen`), and imports only of the libc/libm functions Cranelift calls;
//! - relocations only of the kinds lucetc's objects need (`RELATIVE`, `64`,
//!   `GLOB_DAT`, `JUMP_SLOT`: no `IRELATIVE`, which runs code), each
//!   writing 8 bytes inside a writable segment and outside `.dynamic`;
//! - sections inside the file;
//! - the module-data and function-table symbols defined exactly once, the
//!   module data in read-only memory backed by the file.

use object::elf;
use std::ops::Range;

/// A loadable segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    /// Address relative to the load base.
    pub vaddr: u64,
    /// Bytes in memory.
    pub memsz: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Bytes from the file.
    pub filesz: u64,
    /// `PF_R | PF_W | PF_X`.
    pub flags: u32,
}

impl Segment {
    fn writable(&self) -> bool {
        self.flags & elf::PF_W != 0
    }

    fn executable(&self) -> bool {
        self.flags & elf::PF_X != 0
    }

    fn end(&self) -> u64 {
        self.vaddr + self.memsz
    }
}

/// Where a symbol's bytes are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SymbolLocation {
    /// Address relative to the load base.
    pub vaddr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// What the checks found: enough to find everything after `dlopen`.
#[derive(Debug)]
pub(crate) struct ElfLayout {
    /// Loadable segments, in address order.
    pub loads: Vec<Segment>,
    /// The executable segment's address range (empty if there is no code).
    pub code: Range<u64>,
    /// The serialized module data.
    pub module_data: SymbolLocation,
    /// Where the module data lies in the file.
    pub module_data_offset: usize,
    /// The function table.
    pub function_table: SymbolLocation,
    /// The dynamic section's address.
    pub dynamic: u64,
    /// `DT_NEEDED` libraries.
    pub needed: Vec<String>,
}

/// Libraries lucetc's link may depend on: libm because it links with
/// `-lm` (Cranelift calls `floor` and friends on CPUs without SSE4.1), libc
/// for the C compiler driver's default `-lc` (`memcpy`).
const ALLOWED_NEEDED: &[&str] = &["libm.so.6", "libc.so.6"];

/// The only functions Cranelift-generated code imports (cranelift-module's
/// libcall names that can occur on x86-64).
const ALLOWED_IMPORTS: &[&str] = &[
    "ceilf",
    "ceil",
    "floorf",
    "floor",
    "truncf",
    "trunc",
    "nearbyintf",
    "nearbyint",
    "fmaf",
    "fma",
    "memcpy",
    "memset",
    "memmove",
    "memcmp",
];

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u64 = 56;
const SHDR_SIZE: u64 = 64;
const DYN_SIZE: u64 = 16;
const SYM_SIZE: u64 = 24;
const RELA_SIZE: u64 = 24;
const MAX_PHDRS: u64 = 16;
const MAX_DYNAMIC: u64 = 64;
/// Largest segment alignment accepted: older x86-64 linkers align to 2 MiB.
const MAX_ALIGN: u64 = 2 << 20;
/// Zero-filled memory a segment may add beyond its file contents.
const MAX_BSS: u64 = 1 << 20;
/// Address space an object may span beyond its file size (alignment gaps).
const MAX_EXTRA_SPAN: u64 = 64 << 20;
/// Addresses must stay far below the top of the user address space.
const MAX_VADDR: u64 = 1 << 40;

type Check<T> = Result<T, String>;

fn fail<T>(reason: impl Into<String>) -> Check<T> {
    Err(reason.into())
}

/// Bounds-checked little-endian reads.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn slice(&self, at: u64, len: u64) -> Check<&'a [u8]> {
        let end = at.checked_add(len).ok_or("offset overflows")?;
        if end > self.0.len() as u64 {
            return fail(format!(
                "{len} bytes at file offset {at:#x} run past the end of the file"
            ));
        }
        Ok(&self.0[at as usize..end as usize])
    }

    fn u8(&self, at: u64) -> Check<u8> {
        Ok(self.slice(at, 1)?[0])
    }

    fn u16(&self, at: u64) -> Check<u16> {
        Ok(u16::from_le_bytes(self.slice(at, 2)?.try_into().unwrap()))
    }

    fn u32(&self, at: u64) -> Check<u32> {
        Ok(u32::from_le_bytes(self.slice(at, 4)?.try_into().unwrap()))
    }

    fn u64(&self, at: u64) -> Check<u64> {
        Ok(u64::from_le_bytes(self.slice(at, 8)?.try_into().unwrap()))
    }
}

/// The file and its loadable segments: reads through virtual addresses.
struct Image<'a> {
    file: Bytes<'a>,
    loads: Vec<Segment>,
}

impl Image<'_> {
    /// The file offset of `len` bytes at `vaddr`, if they lie in the
    /// file-backed part of one segment (read-only unless `writable_ok`).
    fn file_offset(&self, vaddr: u64, len: u64, writable_ok: bool) -> Option<u64> {
        let end = vaddr.checked_add(len)?;
        self.loads
            .iter()
            .find(|s| vaddr >= s.vaddr && end <= s.vaddr + s.filesz)
            .filter(|s| writable_ok || !s.writable())
            .map(|s| s.offset + (vaddr - s.vaddr))
    }

    /// `len` bytes at `vaddr` of a read-only segment, as the loader sees
    /// them.
    fn read_only(&self, what: &str, vaddr: u64, len: u64) -> Check<Bytes<'_>> {
        let at = self.file_offset(vaddr, len, false).ok_or_else(|| {
            format!("{what} ({len} bytes at {vaddr:#x}) is not inside a read-only segment")
        })?;
        Ok(Bytes(self.file.slice(at, len)?))
    }

    /// Whether `len` bytes at `vaddr` are writable memory.
    fn in_writable(&self, vaddr: u64, len: u64) -> bool {
        vaddr.checked_add(len).is_some_and(|end| {
            self.loads
                .iter()
                .any(|s| s.writable() && vaddr >= s.vaddr && end <= s.end())
        })
    }
}

/// A NUL-terminated string at `at` in the string table.
fn string<'a>(strtab: &Bytes<'a>, at: u64, what: &str) -> Check<&'a str> {
    let rest = strtab
        .0
        .get(at as usize..)
        .filter(|_| at < strtab.0.len() as u64)
        .ok_or_else(|| format!("{what} name offset {at:#x} is outside the string table"))?;
    let len = rest
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| format!("{what} name runs past the end of the string table"))?;
    std::str::from_utf8(&rest[..len]).map_err(|_| format!("{what} name is not UTF-8"))
}

/// Check `bytes` as a shared object lucetc could have produced.
pub(crate) fn check(bytes: &[u8]) -> Check<ElfLayout> {
    let file = Bytes(bytes);
    if bytes.len() < EHDR_SIZE || bytes[..4] != elf::ELFMAG {
        return fail("not an ELF file");
    }
    // e_ident: class, data encoding, version, OS ABI.
    if bytes[4] != elf::ELFCLASS64
        || bytes[5] != elf::ELFDATA2LSB
        || bytes[6] != elf::EV_CURRENT
        || !matches!(bytes[7], elf::ELFOSABI_NONE | elf::ELFOSABI_GNU)
        || bytes[8..16].iter().any(|&b| b != 0)
    {
        return fail("not a 64-bit little-endian System V ELF file");
    }
    if file.u16(16)? != elf::ET_DYN {
        return fail("not a shared object");
    }
    if file.u16(18)? != elf::EM_X86_64 {
        return fail("not for x86-64");
    }
    if file.u32(20)? != u32::from(elf::EV_CURRENT) || file.u16(52)? != EHDR_SIZE as u16 {
        return fail("unknown ELF header version or size");
    }
    let phoff = file.u64(32)?;
    let shoff = file.u64(40)?;
    let phnum = u64::from(file.u16(56)?);
    if file.u16(54)? != PHDR_SIZE as u16 || phnum == 0 || phnum > MAX_PHDRS {
        return fail("bad program header table");
    }
    let mut image = Image {
        file: Bytes(bytes),
        loads: Vec::new(),
    };
    let mut dynamic = None;
    let mut stack = None;
    let mut relro = None;
    let mut notes = Vec::new();
    let mut unwind_tables = false;
    for i in 0..phnum {
        let at = phoff
            .checked_add(i * PHDR_SIZE)
            .ok_or("bad program header table")?;
        let p_type = file.u32(at)?;
        let seg = Segment {
            flags: file.u32(at + 4)?,
            offset: file.u64(at + 8)?,
            vaddr: file.u64(at + 16)?,
            filesz: file.u64(at + 32)?,
            memsz: file.u64(at + 40)?,
        };
        let align = file.u64(at + 48)?;
        if seg.flags & !(elf::PF_R | elf::PF_W | elf::PF_X) != 0 {
            return fail(format!("segment {i} has unknown flags {:#x}", seg.flags));
        }
        if seg.filesz > seg.memsz
            || seg
                .vaddr
                .checked_add(seg.memsz)
                .is_none_or(|end| end > MAX_VADDR)
        {
            return fail(format!("segment {i} has inconsistent sizes"));
        }
        match p_type {
            elf::PT_LOAD => {
                file.slice(seg.offset, seg.filesz)
                    .map_err(|e| format!("segment {i}: {e}"))?;
                if !align.is_power_of_two()
                    || !(4096..=MAX_ALIGN).contains(&align)
                    || seg.vaddr % align != seg.offset % align
                {
                    return fail(format!("segment {i} is not properly aligned"));
                }
                if seg.memsz - seg.filesz > MAX_BSS {
                    return fail(format!("segment {i} has an oversized zero-filled part"));
                }
                if seg.writable() && seg.executable() {
                    return fail(format!("segment {i} is both writable and executable"));
                }
                if seg.flags & elf::PF_R == 0 {
                    return fail(format!("segment {i} is not readable"));
                }
                if let Some(prev) = image.loads.last() {
                    if seg.vaddr < prev.end() {
                        return fail(format!("segment {i} overlaps or precedes the one before"));
                    }
                }
                image.loads.push(seg);
            }
            elf::PT_DYNAMIC => {
                if dynamic.replace(seg).is_some() {
                    return fail("more than one dynamic segment");
                }
            }
            elf::PT_GNU_STACK => {
                if seg.executable() {
                    return fail("the object asks for an executable stack");
                }
                stack = Some(seg);
            }
            elf::PT_GNU_RELRO => {
                if relro.replace(seg).is_some() {
                    return fail("more than one RELRO segment");
                }
            }
            elf::PT_NOTE | elf::PT_GNU_PROPERTY => notes.push((seg, align)),
            elf::PT_NULL | elf::PT_PHDR => {}
            elf::PT_TLS => return fail("the object has thread-local storage"),
            elf::PT_INTERP => return fail("the object names a program interpreter"),
            elf::PT_GNU_EH_FRAME => unwind_tables = true,
            other => {
                return fail(format!(
                    "segment of type {other:#x} that lucetc never emits"
                ))
            }
        }
    }
    if image.loads.is_empty() {
        return fail("no loadable segments");
    }
    if stack.is_none() {
        // Without PT_GNU_STACK the loader makes the process stack executable.
        return fail("no PT_GNU_STACK: the loader would make the stack executable");
    }
    let span = image.loads.last().unwrap().end() - image.loads[0].vaddr;
    if span > bytes.len() as u64 + MAX_EXTRA_SPAN {
        return fail("segments span far more memory than the file holds");
    }
    let exec: Vec<&Segment> = image.loads.iter().filter(|s| s.executable()).collect();
    if exec.len() > 1 {
        return fail("more than one executable segment");
    }
    let code = exec.first().map_or(0..0, |s| s.vaddr..s.end());
    if let Some(r) = relro {
        if !image.in_writable(r.vaddr, r.memsz) {
            return fail("the RELRO range is not inside a writable segment");
        }
    }
    for (seg, align) in &notes {
        check_notes(&image, seg, *align)?;
    }
    let dynamic = dynamic.ok_or("no dynamic segment")?;
    let dynamic_range = dynamic.vaddr..dynamic.vaddr + dynamic.memsz;
    let tables = read_dynamic(&image, &dynamic)?;
    let (symbols, needed) = check_tables(&image, &tables, &dynamic_range)?;
    let module_data = symbols.module_data;
    let module_data_offset = image
        .file_offset(module_data.vaddr, module_data.size, false)
        .ok_or("the module data is not in a read-only segment backed by the file")?;
    // Last, so the more telling dynamic-section reasons come first.
    if unwind_tables {
        // The unwinder would parse them for PCs in guest code.
        return fail("the object has unwind tables, which lucetc never emits");
    }
    check_sections(&file, shoff)?;
    let function_table = symbols.function_table;
    if function_table.size > 0 && !image.in_writable(function_table.vaddr, function_table.size) {
        return fail("the function table is not in a writable (relocated) segment");
    }
    Ok(ElfLayout {
        loads: image.loads,
        code,
        module_data,
        module_data_offset: module_data_offset as usize,
        function_table,
        dynamic: dynamic.vaddr,
        needed,
    })
}

/// Section headers are not used by the loader, but must lie in the file,
/// as must their contents; no TLS sections or constructor arrays.
fn check_sections(file: &Bytes<'_>, shoff: u64) -> Check<()> {
    let shnum = u64::from(file.u16(60)?);
    if shnum == 0 {
        return Ok(());
    }
    if file.u16(58)? != SHDR_SIZE as u16 || u64::from(file.u16(62)?) >= shnum {
        return fail("bad section header table");
    }
    file.slice(shoff, shnum * SHDR_SIZE)
        .map_err(|e| format!("section headers: {e}"))?;
    for i in 0..shnum {
        let at = shoff + i * SHDR_SIZE;
        let sh_type = file.u32(at + 4)?;
        let flags = file.u64(at + 8)?;
        let offset = file.u64(at + 24)?;
        let size = file.u64(at + 32)?;
        if sh_type != elf::SHT_NOBITS && sh_type != elf::SHT_NULL {
            file.slice(offset, size)
                .map_err(|e| format!("section {i}: {e}"))?;
        }
        if flags & u64::from(elf::SHF_TLS) != 0 {
            return fail("the object has thread-local storage");
        }
        if matches!(
            sh_type,
            elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY
        ) {
            return fail("the object has constructor or destructor arrays");
        }
    }
    Ok(())
}

/// The loader reads GNU property notes, trusting their sizes: each note
/// must fit its segment, stepping as the loader steps (by the segment's
/// alignment).
fn check_notes(image: &Image<'_>, seg: &Segment, align: u64) -> Check<()> {
    if align != 4 && align != 8 {
        return fail("a note segment has an alignment other than 4 or 8");
    }
    let notes = image.read_only("a note segment", seg.vaddr, seg.memsz)?;
    let len = seg.memsz;
    let mut at = 0u64;
    while at + 12 <= len {
        let namesz = u64::from(notes.u32(at)?);
        let descsz = u64::from(notes.u32(at + 4)?);
        let name_end = (at + 12 + namesz).next_multiple_of(align);
        let desc_end = name_end + descsz;
        if desc_end > len {
            return fail("a note runs past the end of its segment");
        }
        at = desc_end.next_multiple_of(align);
    }
    Ok(())
}

/// Dynamic-section values, by tag.
#[derive(Default)]
struct DynamicTables {
    needed: Vec<u64>,
    strtab: Option<u64>,
    strsz: Option<u64>,
    symtab: Option<u64>,
    gnu_hash: Option<u64>,
    hash: Option<u64>,
    rela: Option<(u64, u64)>,
    relacount: Option<u64>,
    jmprel: Option<(u64, u64)>,
    pltgot: Option<u64>,
    versym: Option<u64>,
    verneed: Option<(u64, u64)>,
}

fn read_dynamic(image: &Image<'_>, seg: &Segment) -> Check<DynamicTables> {
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

/// The two symbols the runtime needs.
struct LucetSymbols {
    module_data: SymbolLocation,
    function_table: SymbolLocation,
}

fn check_tables(
    image: &Image<'_>,
    t: &DynamicTables,
    dynamic: &Range<u64>,
) -> Check<(LucetSymbols, Vec<String>)> {
    let (Some(strtab), Some(strsz), Some(symtab)) = (t.strtab, t.strsz, t.symtab) else {
        return fail("the dynamic section lacks a symbol or string table");
    };
    let strings = image.read_only("the string table", strtab, strsz)?;
    let mut needed = Vec::new();
    for &n in &t.needed {
        let name = string(&strings, n, "a needed library's")?;
        if !ALLOWED_NEEDED.contains(&name) {
            return fail(format!(
                "the object needs {name}, which lucetc's link never adds (DT_NEEDED)"
            ));
        }
        needed.push(name.to_string());
    }
    if t.gnu_hash.is_none() && t.hash.is_none() {
        return fail("the object has no symbol hash table");
    }
    let mut nsyms = 1u64;
    if let Some(at) = t.gnu_hash {
        nsyms = nsyms.max(check_gnu_hash(image, at)?);
    }
    if let Some(at) = t.hash {
        let nchain = check_sysv_hash(image, at)?;
        if t.gnu_hash.is_some() && nchain < nsyms {
            return fail("the two hash tables disagree on the number of symbols");
        }
        nsyms = nsyms.max(nchain);
    }
    let syms = image.read_only(
        "the symbol table",
        symtab,
        nsyms.checked_mul(SYM_SIZE).ok_or("too many symbols")?,
    )?;
    let mut module_data = None;
    let mut function_table = None;
    for i in 1..nsyms {
        let at = i * SYM_SIZE;
        let name = string(&strings, u64::from(syms.u32(at)?), "a symbol's")?;
        let info = syms.u8(at + 4)?;
        let shndx = syms.u16(at + 6)?;
        let value = syms.u64(at + 8)?;
        let size = syms.u64(at + 16)?;
        let (bind, kind) = (info >> 4, info & 0xf);
        if !matches!(
            kind,
            elf::STT_NOTYPE | elf::STT_OBJECT | elf::STT_FUNC | elf::STT_SECTION
        ) {
            return fail(format!(
                "symbol {name:?} has type {kind}: no TLS or IFUNC symbols"
            ));
        }
        if !matches!(bind, elf::STB_LOCAL | elf::STB_GLOBAL | elf::STB_WEAK) {
            return fail(format!("symbol {name:?} has binding {bind}"));
        }
        if shndx == elf::SHN_UNDEF {
            if !ALLOWED_IMPORTS.contains(&name) {
                return fail(format!(
                    "the object imports {name:?}, which lucetc's code never calls"
                ));
            }
            continue;
        }
        let slot = match name {
            lucet_module::symbols::MODULE_DATA => &mut module_data,
            lucet_module::symbols::FUNCTION_TABLE => &mut function_table,
            _ => continue,
        };
        if kind != elf::STT_OBJECT || bind != elf::STB_GLOBAL {
            return fail(format!("{name} is not a global data symbol"));
        }
        if slot
            .replace(SymbolLocation { vaddr: value, size })
            .is_some()
        {
            return fail(format!("{name} is defined twice"));
        }
    }
    let module_data = module_data.ok_or_else(|| {
        format!(
            "no `{}` symbol: not compiled by lucetc",
            lucet_module::symbols::MODULE_DATA
        )
    })?;
    let function_table = function_table.ok_or_else(|| {
        format!(
            "no `{}` symbol: not compiled by lucetc",
            lucet_module::symbols::FUNCTION_TABLE
        )
    })?;
    if let Some(v) = t.versym {
        check_versions(image, t, v, nsyms, &strings, &needed)?;
    } else if t.verneed.is_some() {
        return fail("version requirements without a version table");
    }
    if let Some(got) = t.pltgot {
        if !image.in_writable(got, 24) {
            return fail("DT_PLTGOT is not in a writable segment");
        }
    }
    let mut count = 0;
    for (table, is_plt) in [(t.rela, false), (t.jmprel, true)] {
        let Some((at, size)) = table else { continue };
        let relocs = image.read_only("a relocation table", at, size)?;
        for i in 0..size / RELA_SIZE {
            let offset = relocs.u64(i * RELA_SIZE)?;
            let info = relocs.u64(i * RELA_SIZE + 8)?;
            let (kind, sym) = (info as u32, info >> 32);
            let ok = match kind {
                elf::R_X86_64_RELATIVE => sym == 0 && !is_plt,
                elf::R_X86_64_64 | elf::R_X86_64_GLOB_DAT => !is_plt && sym > 0 && sym < nsyms,
                elf::R_X86_64_JUMP_SLOT => is_plt && sym > 0 && sym < nsyms,
                _ => {
                    return fail(format!(
                        "relocation of type {kind} that lucetc's objects never need"
                    ))
                }
            };
            if !ok {
                return fail(format!(
                    "relocation {i} of type {kind} has a bad symbol or table"
                ));
            }
            let end = offset.checked_add(8).ok_or("relocation offset overflows")?;
            if !image.in_writable(offset, 8) || (offset < dynamic.end && end > dynamic.start) {
                return fail(format!(
                    "relocation {i} writes to {offset:#x}, outside the writable data"
                ));
            }
            if !is_plt && i < t.relacount.unwrap_or(0) && kind != elf::R_X86_64_RELATIVE {
                return fail("DT_RELACOUNT counts relocations that are not relative");
            }
        }
        if !is_plt {
            count = size / RELA_SIZE;
        }
    }
    if t.relacount.unwrap_or(0) > count {
        return fail("DT_RELACOUNT exceeds the relocations present");
    }
    Ok((
        LucetSymbols {
            module_data,
            function_table,
        },
        needed,
    ))
}

/// Check the GNU hash table at `at` as the loader walks it; returns the
/// number of symbols it reaches.
fn check_gnu_hash(image: &Image<'_>, at: u64) -> Check<u64> {
    let header = image.read_only("the GNU hash table", at, 16)?;
    let nbuckets = u64::from(header.u32(0)?);
    let symoffset = u64::from(header.u32(4)?);
    let bloom = u64::from(header.u32(8)?);
    let shift = header.u32(12)?;
    // The loader takes a hash modulo nbuckets and masks with bloom - 1.
    if nbuckets == 0 || !bloom.is_power_of_two() || shift >= 64 || symoffset == 0 {
        return fail("the GNU hash table header is invalid");
    }
    image.read_only("the GNU hash bloom filter", at + 16, bloom * 8)?;
    let buckets_at = at + 16 + bloom * 8;
    let buckets = image.read_only("the GNU hash buckets", buckets_at, nbuckets * 4)?;
    let chains_at = buckets_at + nbuckets * 4;
    let mut starts = Vec::with_capacity(nbuckets as usize);
    for b in 0..nbuckets {
        let s = u64::from(buckets.u32(b * 4)?);
        if s != 0 {
            if s < symoffset {
                return fail("a GNU hash bucket points below the hashed symbols");
            }
            starts.push(s);
        }
    }
    starts.sort_unstable();
    // A chain ends at its first entry with the low bit set; chains
    // starting inside one already walked end where it does.
    let mut end = 0u64;
    let mut last = symoffset - 1;
    for s in starts {
        if s <= end {
            continue;
        }
        let mut i = s;
        loop {
            let entry = image
                .read_only("a GNU hash chain", chains_at + (i - symoffset) * 4, 4)?
                .u32(0)?;
            if entry & 1 == 1 {
                break;
            }
            i += 1;
        }
        end = i;
        last = last.max(i);
    }
    Ok(last + 1)
}

/// Check the SysV hash table at `at`; returns its number of symbols.
fn check_sysv_hash(image: &Image<'_>, at: u64) -> Check<u64> {
    let header = image.read_only("the hash table", at, 8)?;
    let nbucket = u64::from(header.u32(0)?);
    let nchain = u64::from(header.u32(4)?);
    if nbucket == 0 || nchain == 0 {
        return fail("the hash table header is invalid");
    }
    let table = image.read_only("the hash table", at + 8, (nbucket + nchain) * 4)?;
    let chain = |i: u64| table.u32((nbucket + i) * 4).map(u64::from);
    // Every chain must end: following from any entry reaches 0 within
    // nchain steps. Entries already known to end are remembered.
    let mut ends = vec![false; nchain as usize];
    ends[0] = true;
    let mut path = Vec::new();
    for b in 0..nbucket {
        let mut i = u64::from(table.u32(b * 4)?);
        path.clear();
        loop {
            if i >= nchain {
                return fail("a hash chain points past the symbol table");
            }
            if ends[i as usize] {
                break;
            }
            if path.len() as u64 > nchain {
                return fail("a hash chain loops");
            }
            path.push(i);
            i = chain(i)?;
        }
        for &p in &path {
            ends[p as usize] = true;
        }
    }
    Ok(nchain)
}

/// Version tables: the loader indexes its version array with every
/// symbol's version number unchecked, and aborts if a requirement names a
/// library that is not a dependency.
fn check_versions(
    image: &Image<'_>,
    t: &DynamicTables,
    versym: u64,
    nsyms: u64,
    strings: &Bytes<'_>,
    needed: &[String],
) -> Check<()> {
    let Some((mut at, count)) = t.verneed else {
        return fail("a version table without version requirements");
    };
    let mut highest = 0u64;
    let mut walked = 0;
    loop {
        let ent = image.read_only("a version requirement", at, 16)?;
        if ent.u16(0)? != 1 {
            return fail("unknown version requirement format");
        }
        let file = string(strings, u64::from(ent.u32(4)?), "a versioned library's")?;
        if !needed.iter().any(|n| n == file) {
            return fail(format!(
                "a version requirement names {file}, which is not needed"
            ));
        }
        // The loader follows `next` links, not the counts: so do we, and
        // the counts must agree.
        let mut aux = at + u64::from(ent.u32(8)?);
        let mut versions = 0;
        loop {
            let a = image.read_only("a version requirement", aux, 16)?;
            string(strings, u64::from(a.u32(8)?), "a version's")?;
            highest = highest.max(u64::from(a.u16(6)? & 0x7fff));
            versions += 1;
            let next = u64::from(a.u32(12)?);
            if next == 0 || versions > ent.u16(2)? {
                break;
            }
            aux += next;
        }
        if versions != ent.u16(2)? {
            return fail("a version requirement's count disagrees with its entries");
        }
        walked += 1;
        let next = u64::from(ent.u32(12)?);
        if next == 0 || walked > count {
            break;
        }
        at += next;
    }
    if walked != count {
        return fail("DT_VERNEEDNUM disagrees with the version requirements");
    }
    if highest < 2 {
        return fail("version requirements define no version index");
    }
    let versions = image.read_only("the version table", versym, nsyms * 2)?;
    for i in 0..nsyms {
        if u64::from(versions.u16(i * 2)? & 0x7fff) > highest {
            return fail("a symbol's version index is out of range");
        }
    }
    Ok(())
}
