//! Recording the code hash in a linked shared object.
//!
//! The hash covers the linked file (see [`lucet_module::code_hash`]), so it
//! can only be computed once the shared object is written; it is written
//! into the last bytes of the module data in place, which changes no size
//! or offset.

use crate::shared_object::LinkError;
use crate::Error;
use lucet_module::code_hash::{code_hash, CODE_HASH_LEN};
use lucet_module::{symbols, ModuleData};
use object::{Object, ObjectSection, ObjectSymbol};

fn err(reason: impl std::fmt::Display) -> Error {
    Error::Link(LinkError::CodeHash(reason.to_string()))
}

/// Compute the code hash of the shared object `so` (lucetc's objects
/// linked into a shared object) and write it into its module data.
///
/// lucetc does this itself; it is public for tools that link lucetc's
/// relocatable objects (`--emit obj`) on their own.
pub fn record_code_hash(so: &mut [u8]) -> Result<(), Error> {
    let slot = {
        let file = object::File::parse(&*so).map_err(err)?;
        let sym = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(symbols::MODULE_DATA))
            .ok_or_else(|| err("no exported module data symbol"))?;
        let section = sym
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .ok_or_else(|| err("module data symbol has no section"))?;
        let (section_offset, section_size) = section
            .file_range()
            .ok_or_else(|| err("module data section has no file contents"))?;
        let within = sym
            .address()
            .checked_sub(section.address())
            .filter(|w| w.saturating_add(sym.size()) <= section_size)
            .ok_or_else(|| err("module data symbol outside its section"))?;
        let start = (section_offset + within) as usize;
        let data = so
            .get(start..start + sym.size() as usize)
            .ok_or_else(|| err("module data outside the file"))?;
        start
            + ModuleData::code_hash_offset(data)
                .ok_or_else(|| err("module data header is inconsistent"))?
    };
    let hash = code_hash(so, slot).ok_or_else(|| err("hash field outside the file"))?;
    so[slot..slot + CODE_HASH_LEN].copy_from_slice(&hash);
    Ok(())
}
