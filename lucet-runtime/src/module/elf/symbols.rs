//! Symbols, their hash tables and versions, and the relocations that name
//! them: every index, offset and chain in range, imports only of what
//! Cranelift's code calls, and the two symbols the runtime needs.

use super::dynamic::DynamicTables;
use super::*;

/// The two symbols the runtime needs.
pub(super) struct LucetSymbols {
    pub(super) module_data: SymbolLocation,
    pub(super) function_table: SymbolLocation,
}

pub(super) fn check_tables(
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
        if !lucet_module::symbols::LIBRARIES.contains(&name) {
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
            if lucet_module::symbols::libcall_library(name).is_none() {
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
