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
//!   but libc and libm (lucetc's writer adds them when code imports
//!   `memcpy` or a libm function);
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

mod dynamic;
mod symbols;

use dynamic::read_dynamic;
use symbols::check_tables;

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
