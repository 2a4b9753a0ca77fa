//! Writing lucetc's relocatable object as an x86-64 ELF shared object,
//! without a system linker.
//!
//! The object lucetc makes is small and regular: code that calls itself
//! PC-relatively, a function table of absolute code addresses, read-only
//! module data, and (only for CPUs without SSE4.1 or FMA: rounding, and
//! deterministic relaxed SIMD's fused multiply-add at the baseline target)
//! calls to a few libm and libc functions. So the link is one pass over it, and its output holds
//! exactly what `dlopen` and lucet-runtime's checks (`module::elf`) need:
//!
//! ```text
//! R    ELF header, program headers, build-id note, .gnu.hash, .dynsym,
//!      .dynstr, .rela.dyn, .rodata (the module data)
//! R X  .text, .plt (for direct calls to imports, if any: a jump through
//!      the import's GOT slot)
//! RW   .data.rel.ro (the function table), .got (imports' addresses),
//!      .dynamic: all of it RELRO, which the loader makes read-only once
//!      it has relocated it
//! --   .symtab, .strtab, .shstrtab, section headers
//! ```
//!
//! Each loadable segment starts on its own page, at an address equal to its
//! file offset, so no page is mapped with two permissions and no segment
//! is both writable and executable. Calls and PC-relative references are
//! resolved here; absolute addresses in the function table become
//! `R_X86_64_RELATIVE` relocations; imported functions are bound when the
//! object is loaded (`DF_BIND_NOW`) through `R_X86_64_GLOB_DAT` GOT slots,
//! from `libm.so.6` or `libc.so.6` (`DT_NEEDED` only when used). Symbols
//! are bound inside the object, never interposed. There is no
//! constructor, interpreter, TLS, unwind table or executable stack
//! (`PT_GNU_STACK` says so).

mod dynamic;
mod emit;
mod input;
mod layout;
mod relocate;
mod symtab;

use thiserror::Error;

/// Why a relocatable object could not be written as a shared object.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The input is not an x86-64 ELF relocatable object, or is malformed.
    #[error("the object is not a well-formed x86-64 ELF relocatable object: {0}")]
    Malformed(String),
    /// A section of a kind the shared object must not have.
    #[error("section `{section}`: {reason}")]
    Section {
        /// The section's name.
        section: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A relocation of a kind, or at a place, the writer cannot resolve
    /// without text relocations or a runtime the loader refuses.
    #[error("relocation of type {kind} at `{section}`+{offset:#x}: {reason}")]
    Relocation {
        /// The ELF relocation type (`R_X86_64_*`).
        kind: u32,
        /// The section it applies to.
        section: String,
        /// Its offset in that section.
        offset: u64,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// A symbol that is referenced but defined nowhere lucet allows.
    #[error(
        "undefined symbol `{0}`: only the libm and libc functions Cranelift calls may be imported"
    )]
    Undefined(String),
    /// A symbol that is defined or referenced in a way the writer does not
    /// support (TLS, IFUNC, common or absolute symbols).
    #[error("symbol `{name}`: {reason}")]
    Symbol {
        /// The symbol's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output would exceed ELF's or the loader's limits.
    #[error("the shared object would be too large: {0}")]
    TooLarge(String),
    /// The writer's own sizes disagree: a bug in lucetc, not in the input.
    #[error("internal error laying out the shared object: {0}")]
    Internal(String),
    /// The code hash could not be recorded in the output.
    #[error("recording the code hash: {0}")]
    CodeHash(String),
}

/// x86-64 pages: segments start on their own so none shares a page
/// (and so its permissions) with another.
const PAGE: u64 = 4096;

/// Write the relocatable object `object` (lucetc's, from
/// [`crate::compile`]) as a shared object, without its code hash.
pub fn write(object: &[u8]) -> Result<Vec<u8>, LinkError> {
    let input = input::read(object)?;
    let placement = layout::Placement::of(&input)?;
    let linkage = relocate::scan(&input)?;
    let dynamic = dynamic::DynamicSymbols::new(&input, &linkage)?;
    let symtab = symtab::SymbolTable::new(&input);
    let layout = layout::Layout::new(&layout::Sizes {
        gnu_hash: dynamic.gnu_hash_size(),
        dynsym: dynamic.dynsym_size(),
        dynstr: dynamic.dynstr_size(),
        rela_dyn: linkage.dynamic_relocations() * relocate::RELA_SIZE,
        rodata: placement.rodata,
        text: placement.text,
        plt: linkage.plt_size(),
        relro: placement.relro,
        got: linkage.got_size(),
        dynamic: dynamic.dynamic_size(&linkage),
        symtab: symtab.size(),
        strtab: symtab.strtab_size(),
        rodata_align: placement.rodata_align,
        text_align: placement.text_align,
        relro_align: placement.relro_align,
    })?;
    let relocated = relocate::apply(&input, &placement, &linkage, &layout)?;
    emit::file(&emit::Parts {
        object,
        input: &input,
        placement: &placement,
        linkage: &linkage,
        dynamic: &dynamic,
        symtab: &symtab,
        layout: &layout,
        relocated: &relocated,
    })
}

#[cfg(test)]
mod tests;
