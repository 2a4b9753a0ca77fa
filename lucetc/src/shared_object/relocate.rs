//! Resolving the object's relocations: what the loader must do (scan),
//! then the relocated contents and the loader's relocations (apply).
//!
//! Every symbol binds inside the object (as with `-Bsymbolic`), so calls
//! and PC-relative references are resolved here; absolute addresses, which
//! only data holding function addresses needs, become `R_X86_64_RELATIVE`.
//! Imports, which only Cranelift's libcalls are, go through GOT slots the
//! loader fills at load time (`R_X86_64_GLOB_DAT`); direct calls to them
//! through a PLT stub, `jmp *slot(%rip)`.

use super::input::{Input, Kind, Reloc, Target};
use super::layout::{Id, Layout, Placement};
use super::LinkError;
use lucet_module::symbols::libcall_library;
use object::elf;

/// Bytes of an `Elf64_Rela`.
pub(super) const RELA_SIZE: u64 = 24;
const GOT_ENTRY: u64 = 8;
/// `jmp *disp32(%rip)` (6 bytes), padded with `int3`.
const PLT_ENTRY: u64 = 8;

/// What the object needs of the dynamic loader.
pub(super) struct Linkage {
    /// Imported symbols (input indices), in order of first use: dynamic
    /// symbol `i + 1` is `imports[i]`.
    pub imports: Vec<usize>,
    /// Libraries the imports come from, in order of first use.
    pub needed: Vec<&'static str>,
    import_of: Vec<Option<u32>>,
    /// Symbols with a GOT slot, in slot order.
    got: Vec<usize>,
    got_of: Vec<Option<u32>>,
    /// Imports called directly, each through a PLT stub.
    plt: Vec<usize>,
    plt_of: Vec<Option<u32>>,
    /// `R_X86_64_64` relocations in data, and how many of them are
    /// against symbols defined here.
    absolute: u64,
    absolute_local: u64,
}

impl Linkage {
    /// Bytes of `.got`.
    pub(super) fn got_size(&self) -> u64 {
        self.got.len() as u64 * GOT_ENTRY
    }

    /// Bytes of `.plt`.
    pub(super) fn plt_size(&self) -> u64 {
        self.plt.len() as u64 * PLT_ENTRY
    }

    /// Relocations the loader applies.
    pub(super) fn dynamic_relocations(&self) -> u64 {
        self.absolute + self.got.len() as u64
    }

    /// Of which `R_X86_64_RELATIVE` (they come first).
    pub(super) fn relative_relocations(&self) -> u64 {
        let local_slots = self
            .got
            .iter()
            .filter(|&&s| self.import_of[s].is_none())
            .count();
        self.absolute_local + local_slots as u64
    }

    fn import(&mut self, input: &Input<'_>, symbol: usize) -> Result<u32, LinkError> {
        if let Some(i) = self.import_of[symbol] {
            return Ok(i);
        }
        let name = input.symbols[symbol].name;
        let lib = libcall_library(name).ok_or_else(|| LinkError::Undefined(name.into()))?;
        if !self.needed.contains(&lib) {
            self.needed.push(lib);
        }
        let i = self.imports.len() as u32;
        self.imports.push(symbol);
        self.import_of[symbol] = Some(i);
        Ok(i)
    }

    fn got_slot(&mut self, symbol: usize) -> u32 {
        *self.got_of[symbol].get_or_insert_with(|| {
            self.got.push(symbol);
            self.got.len() as u32 - 1
        })
    }

    fn plt_stub(&mut self, symbol: usize) -> u32 {
        let stub = *self.plt_of[symbol].get_or_insert_with(|| {
            self.plt.push(symbol);
            self.plt.len() as u32 - 1
        });
        self.got_slot(symbol);
        stub
    }
}

fn reloc_error(input: &Input<'_>, section: usize, r: &Reloc, reason: &str) -> LinkError {
    LinkError::Relocation {
        kind: r.kind,
        section: input.sections[section].name.to_string(),
        offset: r.offset,
        reason: reason.into(),
    }
}

/// How many bytes relocation `kind` writes, if the writer supports it.
fn width(kind: u32) -> Option<u64> {
    match kind {
        elf::R_X86_64_NONE => Some(0),
        elf::R_X86_64_64 | elf::R_X86_64_PC64 => Some(8),
        elf::R_X86_64_PC32
        | elf::R_X86_64_PLT32
        | elf::R_X86_64_GOTPCREL
        | elf::R_X86_64_GOTPCRELX
        | elf::R_X86_64_REX_GOTPCRELX => Some(4),
        _ => None,
    }
}

/// Find the imports, GOT slots and PLT stubs the relocations need, and
/// refuse any relocation the writer cannot resolve.
pub(super) fn scan(input: &Input<'_>) -> Result<Linkage, LinkError> {
    let n = input.symbols.len();
    let mut l = Linkage {
        imports: Vec::new(),
        needed: Vec::new(),
        import_of: vec![None; n],
        got: Vec::new(),
        got_of: vec![None; n],
        plt: Vec::new(),
        plt_of: vec![None; n],
        absolute: 0,
        absolute_local: 0,
    };
    for (si, section) in input.sections.iter().enumerate() {
        for r in &section.relocs {
            let fail = |reason: &str| reloc_error(input, si, r, reason);
            let width =
                width(r.kind).ok_or_else(|| fail("not a relocation lucetc's code needs"))?;
            if r.offset
                .checked_add(width)
                .is_none_or(|end| end > section.data.len() as u64)
            {
                return Err(fail("outside its section"));
            }
            if r.kind == elf::R_X86_64_NONE {
                continue;
            }
            let symbol = &input.symbols[r.symbol];
            let undefined = match symbol.target {
                Target::Defined { .. } => false,
                Target::Undefined => true,
                Target::Unusable => {
                    return Err(LinkError::Symbol {
                        name: symbol.name.into(),
                        reason: "an absolute, common or unloaded symbol cannot be referenced"
                            .into(),
                    })
                }
            };
            match r.kind {
                elf::R_X86_64_64 => {
                    // The loader may write only to RELRO data: an address
                    // in code or constants would need a text relocation.
                    if section.kind != Kind::RelRo {
                        return Err(fail("an absolute address outside .data.rel.ro"));
                    }
                    l.absolute += 1;
                    if undefined {
                        l.import(input, r.symbol)?;
                    } else {
                        l.absolute_local += 1;
                    }
                }
                elf::R_X86_64_PLT32 if undefined => {
                    l.import(input, r.symbol)?;
                    l.plt_stub(r.symbol);
                }
                elf::R_X86_64_PC32 | elf::R_X86_64_PC64 if undefined => {
                    return Err(fail("a PC-relative reference to an imported symbol"));
                }
                elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX => {
                    if undefined {
                        l.import(input, r.symbol)?;
                    }
                    l.got_slot(r.symbol);
                }
                _ => {}
            }
        }
    }
    Ok(l)
}

/// A relocation for the dynamic loader.
#[derive(Clone, Copy, Debug)]
pub(super) struct DynamicReloc {
    pub offset: u64,
    pub kind: u32,
    /// Dynamic symbol index (0 for relative relocations).
    pub symbol: u32,
    pub addend: i64,
}

/// The contents of the loaded sections, relocated, and what remains for
/// the loader.
pub(super) struct Relocated {
    pub rodata: Vec<u8>,
    pub text: Vec<u8>,
    pub plt: Vec<u8>,
    pub relro: Vec<u8>,
    pub got: Vec<u8>,
    /// Relative relocations first, as `DT_RELACOUNT` says.
    pub relocs: Vec<DynamicReloc>,
}

/// `bytes` into `buf` at `at`.
fn put(buf: &mut [u8], at: u64, bytes: &[u8]) -> Result<(), LinkError> {
    usize::try_from(at)
        .ok()
        .and_then(|at| buf.get_mut(at..at.checked_add(bytes.len())?))
        .ok_or_else(|| LinkError::Internal(format!("a write at {at:#x} is out of bounds")))?
        .copy_from_slice(bytes);
    Ok(())
}

/// Apply the relocations at the addresses `layout` gives.
pub(super) fn apply(
    input: &Input<'_>,
    placement: &Placement,
    linkage: &Linkage,
    layout: &Layout,
) -> Result<Relocated, LinkError> {
    let buffer = |kind: Kind, size: u64, fill: u8| {
        let mut buf = vec![fill; size as usize];
        for (s, at) in input.sections.iter().zip(&placement.offsets) {
            if s.kind == kind {
                put(&mut buf, *at, s.data)?;
            }
        }
        Ok::<_, LinkError>(buf)
    };
    // Gaps in code trap if ever executed.
    let mut out = Relocated {
        rodata: buffer(Kind::ReadOnly, placement.rodata, 0)?,
        text: buffer(Kind::Code, placement.text, 0xcc)?,
        plt: Vec::with_capacity(linkage.plt_size() as usize),
        relro: buffer(Kind::RelRo, placement.relro, 0)?,
        got: vec![0; linkage.got_size() as usize],
        relocs: Vec::with_capacity(linkage.dynamic_relocations() as usize),
    };
    let section_addr =
        |s: usize| layout.addr(Id::of(input.sections[s].kind)) + placement.offsets[s];
    let symbol_addr = |sym: usize| match input.symbols[sym].target {
        Target::Defined { section, value } => Some(section_addr(section) + value),
        _ => None,
    };
    let got_addr = layout.addr(Id::Got);
    let plt_addr = layout.addr(Id::Plt);
    let mut others = Vec::new();
    for (slot, &sym) in linkage.got.iter().enumerate() {
        let at = got_addr + slot as u64 * GOT_ENTRY;
        match (symbol_addr(sym), linkage.import_of[sym]) {
            (Some(addr), _) => {
                put(&mut out.got, slot as u64 * GOT_ENTRY, &addr.to_le_bytes())?;
                out.relocs.push(relative(at, addr));
            }
            (None, Some(import)) => others.push(DynamicReloc {
                offset: at,
                kind: elf::R_X86_64_GLOB_DAT,
                symbol: import + 1,
                addend: 0,
            }),
            (None, None) => return Err(LinkError::Internal("a GOT slot for nothing".into())),
        }
    }
    for &sym in &linkage.plt {
        let stub = plt_addr + out.plt.len() as u64;
        let slot = linkage.got_of[sym]
            .ok_or_else(|| LinkError::Internal("a PLT stub without a GOT slot".into()))?;
        let disp = pc_relative(got_addr + u64::from(slot) * GOT_ENTRY, 0, stub + 6)
            .ok_or_else(|| LinkError::TooLarge("the GOT is out of the PLT's reach".into()))?;
        out.plt.extend_from_slice(&[0xff, 0x25]);
        out.plt.extend_from_slice(&disp.to_le_bytes());
        out.plt.extend_from_slice(&[0xcc, 0xcc]);
    }
    for (si, section) in input.sections.iter().enumerate() {
        let base = section_addr(si);
        let offset_in_output = placement.offsets[si];
        for r in &section.relocs {
            let fail = |reason: &str| reloc_error(input, si, r, reason);
            let place = base + r.offset;
            let at = offset_in_output + r.offset;
            let buf = match section.kind {
                Kind::Code => &mut out.text,
                Kind::ReadOnly => &mut out.rodata,
                Kind::RelRo => &mut out.relro,
            };
            let target = symbol_addr(r.symbol);
            let import = linkage.import_of[r.symbol];
            let pc32 = |to: u64| {
                pc_relative(to, r.addend, place)
                    .map(i32::to_le_bytes)
                    .ok_or_else(|| fail("the target is out of 32-bit reach"))
            };
            match r.kind {
                elf::R_X86_64_NONE => {}
                elf::R_X86_64_64 => match (target, import) {
                    (Some(addr), _) => {
                        let value = addr.wrapping_add_signed(r.addend);
                        put(buf, at, &value.to_le_bytes())?;
                        out.relocs.push(relative(place, value));
                    }
                    (None, Some(import)) => others.push(DynamicReloc {
                        offset: place,
                        kind: elf::R_X86_64_64,
                        symbol: import + 1,
                        addend: r.addend,
                    }),
                    (None, None) => return Err(fail("no target")),
                },
                elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                    let to = match (target, linkage.plt_of[r.symbol]) {
                        (Some(addr), _) => addr,
                        (None, Some(stub)) => plt_addr + u64::from(stub) * PLT_ENTRY,
                        (None, None) => return Err(fail("no target")),
                    };
                    put(buf, at, &pc32(to)?)?;
                }
                elf::R_X86_64_PC64 => {
                    let to = target.ok_or_else(|| fail("no target"))?;
                    let value = to.wrapping_add_signed(r.addend).wrapping_sub(place);
                    put(buf, at, &value.to_le_bytes())?;
                }
                elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX => {
                    let slot = linkage.got_of[r.symbol].ok_or_else(|| fail("no GOT slot"))?;
                    put(buf, at, &pc32(got_addr + u64::from(slot) * GOT_ENTRY)?)?;
                }
                _ => return Err(fail("not a relocation lucetc's code needs")),
            }
        }
    }
    out.relocs.sort_by_key(|r| r.offset);
    others.sort_by_key(|r| r.offset);
    out.relocs.extend(others);
    Ok(out)
}

fn relative(offset: u64, value: u64) -> DynamicReloc {
    DynamicReloc {
        offset,
        kind: elf::R_X86_64_RELATIVE,
        symbol: 0,
        addend: value as i64,
    }
}

/// `to + addend - place` as a 32-bit displacement, if it fits.
fn pc_relative(to: u64, addend: i64, place: u64) -> Option<i32> {
    let value = i128::from(to) + i128::from(addend) - i128::from(place);
    i32::try_from(value).ok()
}
