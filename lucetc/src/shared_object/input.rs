//! Reading the relocatable object: its loadable sections, symbols and
//! relocations, each checked to be something the shared object may hold.

use super::{LinkError, PAGE};
use object::elf;
use object::read::elf::{FileHeader, Rela, SectionHeader, Sym};
use object::{LittleEndian, SectionIndex, SymbolIndex};

/// Where a loadable input section goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Machine code: the executable segment.
    Code,
    /// Constants: the read-only segment.
    ReadOnly,
    /// Data that holds addresses (`.data.rel.ro`): written by the loader's
    /// relocations, then read-only (RELRO).
    RelRo,
}

/// A loadable section of the input.
pub(super) struct Section<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub align: u64,
    pub data: &'a [u8],
    pub relocs: Vec<Reloc>,
}

/// One relocation (`Elf64_Rela`), against `symbol` (an input symbol index).
#[derive(Clone, Copy, Debug)]
pub(super) struct Reloc {
    pub offset: u64,
    pub kind: u32,
    pub symbol: usize,
    pub addend: i64,
}

/// What a symbol stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// `value` bytes into the loadable input section `section`.
    Defined { section: usize, value: u64 },
    /// Defined by a library (an import).
    Undefined,
    /// Nothing a relocation may use: an absolute or common symbol, one in
    /// a section that is not loaded, or the null symbol.
    Unusable,
}

/// A symbol of the input.
pub(super) struct Symbol<'a> {
    pub name: &'a str,
    pub target: Target,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// Visible to other objects: global or weak, default or protected
    /// visibility, and defined here.
    pub exported: bool,
    pub size: u64,
}

/// The object, as the writer needs it.
pub(super) struct Input<'a> {
    /// Loadable sections, in file order.
    pub sections: Vec<Section<'a>>,
    /// Every symbol, indexed as in the object's symbol table.
    pub symbols: Vec<Symbol<'a>>,
}

fn malformed(e: impl std::fmt::Display) -> LinkError {
    LinkError::Malformed(e.to_string())
}

fn section_error(name: &str, reason: impl Into<String>) -> LinkError {
    LinkError::Section {
        section: name.to_string(),
        reason: reason.into(),
    }
}

/// Read `bytes` as an x86-64 little-endian ELF relocatable object.
pub(super) fn read(bytes: &[u8]) -> Result<Input<'_>, LinkError> {
    let header = elf::FileHeader64::<LittleEndian>::parse(bytes).map_err(malformed)?;
    let e = header.endian().map_err(malformed)?;
    if header.e_type(e) != elf::ET_REL || header.e_machine(e) != elf::EM_X86_64 {
        return Err(malformed("not an x86-64 relocatable object"));
    }
    let table = header.sections(e, bytes).map_err(malformed)?;
    let symtab = table
        .symbols(e, bytes, elf::SHT_SYMTAB)
        .map_err(malformed)?;
    // Input section index -> index into `sections`.
    let mut loaded = vec![None; table.len()];
    let mut sections = Vec::new();
    for (index, sh) in table.enumerate() {
        let name = table.section_name(e, sh).map_err(malformed)?;
        let name = std::str::from_utf8(name).map_err(malformed)?;
        let flags = sh.sh_flags(e);
        let sh_type = sh.sh_type(e);
        if flags & u64::from(elf::SHF_ALLOC) == 0 {
            if name == ".note.GNU-stack" && flags & u64::from(elf::SHF_EXECINSTR) != 0 {
                return Err(section_error(
                    name,
                    "the object asks for an executable stack",
                ));
            }
            continue;
        }
        if flags & u64::from(elf::SHF_TLS) != 0 {
            return Err(section_error(name, "thread-local storage"));
        }
        if sh_type != elf::SHT_PROGBITS {
            // Constructor arrays, unwind tables, zero-initialized data:
            // nothing lucetc's objects have, and mostly what the loader
            // refuses.
            return Err(section_error(
                name,
                format!("sections of type {sh_type:#x} are not supported"),
            ));
        }
        let kind = match (
            flags & u64::from(elf::SHF_EXECINSTR) != 0,
            flags & u64::from(elf::SHF_WRITE) != 0,
        ) {
            (true, true) => return Err(section_error(name, "writable code")),
            (true, false) => Kind::Code,
            (false, false) => Kind::ReadOnly,
            (false, true) if name.starts_with(".data.rel.ro") => Kind::RelRo,
            // Mutable global data: lucetc keeps all of a guest's mutable
            // state in the instance, never in the object.
            (false, true) => return Err(section_error(name, "writable data")),
        };
        let align = sh.sh_addralign(e).max(1);
        if !align.is_power_of_two() || align > PAGE {
            return Err(section_error(name, format!("alignment {align}")));
        }
        let data = sh.data(e, bytes).map_err(malformed)?;
        if kind == Kind::Code && data.is_empty() {
            // Empty code would be an executable section outside the
            // executable segment, which there is none of without code.
            continue;
        }
        loaded[index.0] = Some(sections.len());
        sections.push(Section {
            name,
            kind,
            align,
            data,
            relocs: Vec::new(),
        });
    }
    let mut symbols = Vec::with_capacity(symtab.len());
    for (index, sym) in symtab.enumerate() {
        symbols.push(read_symbol(&symtab, e, index, sym, &loaded, &sections)?);
    }
    for sh in table.iter() {
        if sh.sh_type(e) == elf::SHT_REL {
            return Err(malformed("REL relocations (x86-64 uses RELA)"));
        }
        let Some((relas, link)) = sh.rela(e, bytes).map_err(malformed)? else {
            continue;
        };
        let target = sh.sh_info(e) as usize;
        let Some(&Some(at)) = loaded.get(target) else {
            // Relocations of sections that are not loaded (debug info).
            continue;
        };
        if link != symtab.section() {
            return Err(malformed("relocations against another symbol table"));
        }
        let section = &mut sections[at];
        for r in relas {
            let symbol = r.r_sym(e, false) as usize;
            if symbol >= symbols.len() {
                return Err(malformed(format!(
                    "relocation in {} names symbol {symbol}, past the symbol table",
                    section.name
                )));
            }
            section.relocs.push(Reloc {
                offset: r.r_offset(e),
                kind: r.r_type(e, false),
                symbol,
                addend: r.r_addend(e),
            });
        }
    }
    Ok(Input { sections, symbols })
}

fn read_symbol<'a>(
    symtab: &object::read::elf::SymbolTable<'a, elf::FileHeader64<LittleEndian>>,
    e: LittleEndian,
    index: SymbolIndex,
    sym: &'a elf::Sym64<LittleEndian>,
    loaded: &[Option<usize>],
    sections: &[Section<'_>],
) -> Result<Symbol<'a>, LinkError> {
    let name = symtab.symbol_name(e, sym).map_err(malformed)?;
    let name = std::str::from_utf8(name).map_err(malformed)?;
    let (kind, bind) = (sym.st_type(), sym.st_bind());
    if matches!(kind, elf::STT_TLS | elf::STT_GNU_IFUNC) {
        // The loader refuses both: IFUNC resolvers run inside dlopen.
        return Err(LinkError::Symbol {
            name: name.into(),
            reason: "thread-local and indirect-function symbols are not supported".into(),
        });
    }
    let shndx = sym.st_shndx(e);
    let target = if index.0 == 0 {
        Target::Unusable
    } else if shndx == elf::SHN_UNDEF {
        Target::Undefined
    } else {
        match symtab.symbol_section(e, sym, index).map_err(malformed)? {
            Some(SectionIndex(i)) => match loaded.get(i) {
                Some(&Some(section)) => {
                    let value = sym.st_value(e);
                    if value > sections[section].data.len() as u64 {
                        return Err(malformed(format!(
                            "symbol {name} lies past the end of its section"
                        )));
                    }
                    Target::Defined { section, value }
                }
                Some(None) => Target::Unusable,
                None => return Err(malformed(format!("symbol {name} has a bad section"))),
            },
            None => Target::Unusable,
        }
    };
    let exported = matches!(target, Target::Defined { .. })
        && matches!(bind, elf::STB_GLOBAL | elf::STB_WEAK)
        && matches!(sym.st_visibility(), elf::STV_DEFAULT | elf::STV_PROTECTED);
    Ok(Symbol {
        name,
        target,
        kind,
        bind,
        exported,
        size: sym.st_size(e),
    })
}
