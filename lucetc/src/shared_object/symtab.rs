//! The static symbol table (`.symtab`, not loaded): names for every
//! function and data symbol, so disassemblers and profilers can name the
//! code (`guest_func_3`, `lucet_entry_0`).

use super::input::{Input, Target};
use object::elf;
use object::pod::bytes_of;
use object::{LittleEndian as LE, U16, U32, U64};

const SYM_SIZE: u64 = 24;

/// The symbols to keep, locals first (ELF requires it), and their names.
pub(super) struct SymbolTable {
    /// Input symbol index and `.strtab` offset; locals, then globals.
    symbols: Vec<(usize, u32)>,
    /// Index of the first global (`sh_info`).
    first_global: u32,
    strtab: Vec<u8>,
}

impl SymbolTable {
    /// The defined function and data symbols of `input`. Imports are in
    /// the dynamic symbol table.
    pub(super) fn new(input: &Input<'_>) -> SymbolTable {
        let kept = |global: bool| {
            input.symbols.iter().enumerate().filter(move |(_, s)| {
                matches!(s.target, Target::Defined { .. })
                    && matches!(s.kind, elf::STT_FUNC | elf::STT_OBJECT | elf::STT_NOTYPE)
                    && !s.name.is_empty()
                    && s.exported == global
            })
        };
        let mut strtab = vec![0u8];
        let mut symbols = Vec::new();
        let mut first_global = 1;
        for global in [false, true] {
            for (i, s) in kept(global) {
                symbols.push((i, strtab.len() as u32));
                strtab.extend_from_slice(s.name.as_bytes());
                strtab.push(0);
            }
            if !global {
                first_global = symbols.len() as u32 + 1;
            }
        }
        SymbolTable {
            symbols,
            first_global,
            strtab,
        }
    }

    pub(super) fn size(&self) -> u64 {
        (self.symbols.len() as u64 + 1) * SYM_SIZE
    }

    pub(super) fn strtab_size(&self) -> u64 {
        self.strtab.len() as u64
    }

    pub(super) fn first_global(&self) -> u32 {
        self.first_global
    }

    pub(super) fn strtab(&self) -> &[u8] {
        &self.strtab
    }

    /// `.symtab`, with addresses and section indices from `addr`.
    pub(super) fn bytes(
        &self,
        input: &Input<'_>,
        addr: impl Fn(usize) -> Option<(u64, u16)>,
    ) -> Vec<u8> {
        let mut out = vec![0u8; SYM_SIZE as usize];
        for (n, &(i, name)) in self.symbols.iter().enumerate() {
            let s = &input.symbols[i];
            let (value, shndx) = addr(i).unwrap_or((0, elf::SHN_UNDEF));
            // Symbols hidden from other objects are local to this one.
            let bind = if (n as u32) + 1 < self.first_global {
                elf::STB_LOCAL
            } else {
                s.bind
            };
            let sym = elf::Sym64::<LE> {
                st_name: U32::new(LE, name),
                st_info: (bind << 4) | s.kind,
                st_other: elf::STV_DEFAULT,
                st_shndx: U16::new(LE, shndx),
                st_value: U64::new(LE, value),
                st_size: U64::new(LE, s.size),
            };
            out.extend_from_slice(bytes_of(&sym));
        }
        out
    }
}
