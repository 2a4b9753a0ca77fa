//! What the dynamic loader reads: the dynamic symbol table, its strings and
//! GNU hash table (so `dlsym` finds the exports), and the dynamic section.

use super::input::{Input, Target};
use super::layout::{Id, Layout};
use super::relocate::{Linkage, RELA_SIZE};
use super::LinkError;
use object::elf;
use object::pod::bytes_of;
use object::{LittleEndian as LE, U16, U32, U64};

const SYM_SIZE: u64 = 24;
const DYN_SIZE: u64 = 16;
/// Bits of a GNU hash bloom filter word (ELFCLASS64).
const BLOOM_BITS: u32 = 64;
/// The second bloom bit's shift (GNU ld's minimum).
const BLOOM_SHIFT: u32 = 6;

/// The dynamic symbols: the null symbol, the imports (dynamic symbol
/// `i + 1` is the linkage's import `i`), then the exports in the GNU hash
/// table's bucket order.
pub(super) struct DynamicSymbols {
    /// Input symbol index and `.dynstr` offset of each symbol after the
    /// null one.
    symbols: Vec<(usize, u32)>,
    /// `.dynstr` offsets of the needed libraries' names.
    needed: Vec<u32>,
    dynstr: Vec<u8>,
    gnu_hash: Vec<u8>,
}

impl DynamicSymbols {
    /// The dynamic symbols of `input`, importing what `linkage` needs.
    pub(super) fn new(input: &Input<'_>, linkage: &Linkage) -> Result<DynamicSymbols, LinkError> {
        let mut dynstr = vec![0u8];
        let mut add = |name: &str| {
            let at = dynstr.len() as u32;
            dynstr.extend_from_slice(name.as_bytes());
            dynstr.push(0);
            at
        };
        let needed = linkage.needed.iter().map(|lib| add(lib)).collect();
        let mut symbols: Vec<(usize, u32)> = linkage
            .imports
            .iter()
            .map(|&s| (s, add(input.symbols[s].name)))
            .collect();
        let mut exports: Vec<(u32, usize)> = input
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| s.exported)
            .map(|(i, s)| (elf::gnu_hash(s.name.as_bytes()), i))
            .collect();
        let mut names: Vec<&str> = exports
            .iter()
            .map(|&(_, i)| input.symbols[i].name)
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(LinkError::Symbol {
                name: w[0].into(),
                reason: "exported twice".into(),
            });
        }
        let buckets = exports.len().max(1) as u32;
        exports.sort_by_key(|&(hash, i)| (hash % buckets, i));
        let first_hashed = symbols.len() as u32 + 1;
        let gnu_hash = gnu_hash_table(&exports, buckets, first_hashed);
        symbols.extend(
            exports
                .iter()
                .map(|&(_, i)| (i, add(input.symbols[i].name))),
        );
        Ok(DynamicSymbols {
            symbols,
            needed,
            dynstr,
            gnu_hash,
        })
    }

    pub(super) fn gnu_hash_size(&self) -> u64 {
        self.gnu_hash.len() as u64
    }

    pub(super) fn dynsym_size(&self) -> u64 {
        (self.symbols.len() as u64 + 1) * SYM_SIZE
    }

    pub(super) fn dynstr_size(&self) -> u64 {
        self.dynstr.len() as u64
    }

    /// Bytes of `.dynamic` for `linkage`.
    pub(super) fn dynamic_size(&self, linkage: &Linkage) -> u64 {
        self.dynamic_entries(linkage, |_| 0).len() as u64 * DYN_SIZE
    }

    pub(super) fn gnu_hash(&self) -> &[u8] {
        &self.gnu_hash
    }

    pub(super) fn dynstr(&self) -> &[u8] {
        &self.dynstr
    }

    /// `.dynsym`, with the exports' addresses from `addr`.
    pub(super) fn dynsym(
        &self,
        input: &Input<'_>,
        addr: impl Fn(usize) -> Option<(u64, u16)>,
    ) -> Vec<u8> {
        let mut out = vec![0u8; SYM_SIZE as usize];
        for &(i, name) in &self.symbols {
            let s = &input.symbols[i];
            let (value, shndx, kind) = match (s.target, addr(i)) {
                (Target::Defined { .. }, Some((value, shndx))) => (value, shndx, s.kind),
                // Imports: functions, from wherever the loader finds them.
                _ => (0, elf::SHN_UNDEF, elf::STT_FUNC),
            };
            let bind = if s.target == Target::Undefined {
                elf::STB_GLOBAL
            } else {
                s.bind
            };
            let sym = elf::Sym64::<LE> {
                st_name: U32::new(LE, name),
                st_info: (bind << 4) | kind,
                st_other: elf::STV_DEFAULT,
                st_shndx: U16::new(LE, shndx),
                st_value: U64::new(LE, value),
                st_size: U64::new(
                    LE,
                    if s.target == Target::Undefined {
                        0
                    } else {
                        s.size
                    },
                ),
            };
            out.extend_from_slice(bytes_of(&sym));
        }
        out
    }

    /// `.dynamic` at the addresses of `layout`.
    pub(super) fn dynamic(&self, linkage: &Linkage, layout: &Layout) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, value) in self.dynamic_entries(linkage, |id| layout.addr(id)) {
            let d = elf::Dyn64::<LE> {
                d_tag: U64::new(LE, u64::from(tag)),
                d_val: U64::new(LE, value),
            };
            out.extend_from_slice(bytes_of(&d));
        }
        out
    }

    /// The entries, with the tables at `addr`.
    fn dynamic_entries(&self, linkage: &Linkage, addr: impl Fn(Id) -> u64) -> Vec<(u32, u64)> {
        let mut d: Vec<(u32, u64)> = self
            .needed
            .iter()
            .map(|&n| (elf::DT_NEEDED, u64::from(n)))
            .collect();
        d.extend([
            (elf::DT_GNU_HASH, addr(Id::GnuHash)),
            (elf::DT_STRTAB, addr(Id::DynStr)),
            (elf::DT_SYMTAB, addr(Id::DynSym)),
            (elf::DT_STRSZ, self.dynstr_size()),
            (elf::DT_SYMENT, SYM_SIZE),
        ]);
        let relocs = linkage.dynamic_relocations();
        if relocs > 0 {
            d.extend([
                (elf::DT_RELA, addr(Id::RelaDyn)),
                (elf::DT_RELASZ, relocs * RELA_SIZE),
                (elf::DT_RELAENT, RELA_SIZE),
            ]);
            let relative = linkage.relative_relocations();
            if relative > 0 {
                d.push((elf::DT_RELACOUNT, relative));
            }
        }
        // Bind everything at load (-z now), so the GOT can be RELRO.
        d.extend([
            (elf::DT_FLAGS, u64::from(elf::DF_BIND_NOW)),
            (elf::DT_FLAGS_1, u64::from(elf::DF_1_NOW)),
            (elf::DT_NULL, 0),
        ]);
        d
    }
}

/// A GNU hash table over `exports` (hash, symbol), sorted by bucket, the
/// first of them dynamic symbol `first`.
///
/// The loader tests a name's hash against a bloom filter, then walks the
/// chain of its bucket: the hashes of the bucket's symbols, the last one's
/// low bit set.
fn gnu_hash_table(exports: &[(u32, usize)], buckets: u32, first: u32) -> Vec<u8> {
    // About two bits per word per symbol keeps false positives rare.
    let bloom_words = (exports.len() as u32)
        .div_ceil(BLOOM_BITS / 2)
        .next_power_of_two();
    let mut bloom = vec![0u64; bloom_words as usize];
    let mut bucket_start = vec![0u32; buckets as usize];
    let mut chain = Vec::with_capacity(exports.len());
    for (i, &(hash, _)) in exports.iter().enumerate() {
        let word = (hash / BLOOM_BITS) & (bloom_words - 1);
        bloom[word as usize] |=
            (1u64 << (hash % BLOOM_BITS)) | (1u64 << ((hash >> BLOOM_SHIFT) % BLOOM_BITS));
        let bucket = hash % buckets;
        let start = &mut bucket_start[bucket as usize];
        if *start == 0 {
            *start = first + i as u32;
        }
        let last = exports
            .get(i + 1)
            .is_none_or(|&(next, _)| next % buckets != bucket);
        chain.push((hash & !1) | u32::from(last));
    }
    let mut out = Vec::new();
    for word in [buckets, first, bloom_words, BLOOM_SHIFT] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for word in bloom {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for word in bucket_start.into_iter().chain(chain) {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}
