//! Loading a compiled shared object, running nothing it has not verified.
//!
//! 1. [`file`]: the path is resolved once; anything but a regular file of
//!    bounded size is refused before it is opened for reading; the bytes
//!    are copied into a memfd sealed against change.
//! 2. [`signature`]: when the embedder asks for it, the detached minisign
//!    signature must verify over those bytes with a trusted key, before
//!    anything in them is parsed.
//! 3. [`elf`]: the ELF structure must be what lucetc's link produces
//!    (whether signed or not): no constructors, extra libraries, TLS,
//!    executable stack, writable code, unknown relocations or dynamic tags,
//!    and every table the dynamic loader reads in bounds.
//! 4. The module data must decode and validate, and the code hash it
//!    records must match the bytes; the CPU must have the features the code
//!    was compiled for.
//! 5. [`dlopen`]: the loader maps the same sealed memfd; afterwards the
//!    mapped read-only segments are compared with the checked bytes and
//!    every function-table entry must point into the code.

mod cpu;
mod dlopen;
mod elf;
mod file;
mod inspect;
mod signature;

pub use file::DEFAULT_MAX_FILE_SIZE;
pub use inspect::{inspect, Inspection, SignatureStatus};
pub use signature::{signature_path, KeyId, PublicKey, SignatureInfo, TrustedKeys};

use crate::error::Error;
use crate::signature as signature_ids;
use crate::vm::code_registry::{self, CodeMap, FunctionCode, Landing};
use crate::vm::heap_image::HeapImage;
use dlopen::Library;
use elf::{ElfLayout, Segment};
use file::SealedFile;
use lucet_module::code_hash::{code_hash, to_hex, CODE_HASH_LEN};
use lucet_module::{symbols, FuncType, ModuleData, VmctxLayout};
use std::ffi::CString;
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a module file is checked before it is loaded.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Refuse files larger than this many bytes (default
    /// [`DEFAULT_MAX_FILE_SIZE`], 256 MiB).
    pub max_file_size: u64,
    /// If set, the module must carry a valid minisign signature
    /// (`MODULE.minisig`) by one of these keys. If not, no signature is
    /// looked at. The structural checks and the code hash apply either way.
    ///
    /// What a signature promises: the file's bytes are exactly what the
    /// key's holder signed, under the file name it signed them as (the
    /// `file:` item of the signed trusted comment, when there is one, as
    /// minisign and `lucetc --sign` write it). What it does not promise by
    /// itself: that this is the newest version of that file, since an older
    /// signed build under the same name verifies too. Bind a load to a
    /// version with [`require_signed`](Self::require_signed).
    pub trusted_keys: Option<TrustedKeys>,
    /// `field:value` items the signature's trusted comment must carry
    /// (e.g. `version:42`, written with `lucetc --sign-comment`); empty by
    /// default. Only for verified loads.
    pub required_signed: Vec<(String, String)>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions::unverified()
    }
}

impl LoadOptions {
    /// No signature required.
    pub fn unverified() -> LoadOptions {
        LoadOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            trusted_keys: None,
            required_signed: Vec::new(),
        }
    }

    /// A signature by one of `keys` required.
    pub fn verified(keys: TrustedKeys) -> LoadOptions {
        LoadOptions {
            trusted_keys: Some(keys),
            ..LoadOptions::unverified()
        }
    }

    /// These options, requiring the signature's trusted comment to carry
    /// `field:value` (the signer's statement of a version, a release or a
    /// tenant, say), so that another file signed by the same key, or an
    /// older build of this one, is refused.
    pub fn require_signed(mut self, field: &str, value: &str) -> LoadOptions {
        self.required_signed.push((field.into(), value.into()));
        self
    }

    /// These options with a different size bound.
    pub fn max_file_size(self, bytes: u64) -> LoadOptions {
        LoadOptions {
            max_file_size: bytes,
            ..self
        }
    }
}

/// The verified bytes the module was loaded from, kept for the module's
/// life: the dynamic loader maps this memfd, its `/proc/thread-self/fd` name stays
/// unique only while it is open, and a heap image can be mapped from it
/// without another copy (the module data's range says where the data
/// segments lie).
#[allow(dead_code)] // `loads` and `module_data` are for mapping images from it.
pub(crate) struct LoadedFile {
    /// The sealed memfd.
    pub fd: OwnedFd,
    /// Its size.
    pub len: usize,
    /// Its loadable segments.
    pub loads: Vec<Segment>,
    /// Where the serialized module data lies in it.
    pub module_data: Range<usize>,
}

/// A loaded, verified module. Share it with `Arc`: any number of instances
/// on any number of threads may run it.
pub struct Module {
    path: PathBuf,
    data: ModuleData,
    layout: VmctxLayout,
    functions: Vec<usize>,
    entry_trampolines: Vec<usize>,
    host_trampolines: Vec<usize>,
    sig_ids: Box<[u32]>,
    heap_image: Option<HeapImage>,
    /// The memory host functions see: the one exported as `memory`, else
    /// memory 0.
    host_memory: u32,
    code_start: usize,
    signed_by: Option<KeyId>,
    // Fields drop in order: the object is closed before the memfd it maps.
    _library: Library,
    file: LoadedFile,
}

// SAFETY: the dlopen handle is only used to dlclose on drop; everything
// else is immutable after load.
unsafe impl Send for Module {}
// SAFETY: as above, no interior mutability.
unsafe impl Sync for Module {}

pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModule {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// What the checks of a file's bytes established.
pub(crate) struct Examined {
    pub elf: ElfLayout,
    pub data: ModuleData,
    /// The hash the module data records.
    pub recorded_hash: [u8; CODE_HASH_LEN],
    /// The hash of the bytes.
    pub computed_hash: [u8; CODE_HASH_LEN],
}

/// Check the structure and the module data of `bytes` read from `path`.
pub(crate) fn examine(path: &Path, bytes: &[u8]) -> Result<Examined, Error> {
    let elf = elf::check(bytes).map_err(|reason| invalid(path, reason))?;
    let start = elf.module_data_offset;
    let data_bytes = &bytes[start..start + elf.module_data.size as usize];
    let data = ModuleData::deserialize(data_bytes).map_err(|e| invalid(path, e.to_string()))?;
    let slot = ModuleData::code_hash_offset(data_bytes).ok_or_else(|| {
        invalid(
            path,
            "the module data symbol's size disagrees with its header",
        )
    })?;
    let computed_hash = code_hash(bytes, start + slot).expect("the slot lies in the module data");
    let entries = data.functions.len() + 2 * data.types.len();
    if elf.function_table.size != (entries * 8) as u64 {
        return Err(invalid(
            path,
            "function table size does not match the module data",
        ));
    }
    Ok(Examined {
        recorded_hash: data.code_hash,
        computed_hash,
        elf,
        data,
    })
}

impl Examined {
    /// Refuse the file unless its code hash matches.
    fn check_hash(&self, path: &Path) -> Result<(), Error> {
        if self.recorded_hash == [0; CODE_HASH_LEN] {
            return Err(invalid(
                path,
                "no code hash recorded (the object was not linked by lucetc)",
            ));
        }
        if self.recorded_hash != self.computed_hash {
            return Err(invalid(
                path,
                format!(
                    "code hash mismatch: the file changed after lucetc wrote it (recorded {}, computed {})",
                    &to_hex(&self.recorded_hash)[..16],
                    &to_hex(&self.computed_hash)[..16]
                ),
            ));
        }
        Ok(())
    }
}

impl Module {
    /// Load a shared object produced by lucetc **without requiring a
    /// signature**. The structural checks and the code hash still apply
    /// (see [`Module::load_with`]), but they only catch accidents: the code
    /// is whatever the file holds, and the hash was recorded by whoever
    /// wrote it.
    ///
    /// # Safety
    /// The file was produced by a trusted `lucetc` from any wasm and has not
    /// been modified since: the native code in it runs in this process
    /// with nothing but that promise to keep it inside its sandbox. Anyone
    /// who can write the file can run code as this process. To trust a
    /// key holder instead of a file system, use
    /// [`load_verified`](Self::load_verified), which is safe.
    pub unsafe fn load_unverified(path: impl AsRef<Path>) -> Result<Arc<Module>, Error> {
        // SAFETY: the caller promises what an unverified load needs.
        unsafe { Module::load_with(path, &LoadOptions::unverified()) }
    }

    /// Load a shared object produced by lucetc only if its detached minisign
    /// signature (`MODULE.minisig`) verifies with one of `keys`, for this
    /// file name (see [`LoadOptions::trusted_keys`] for what a signature
    /// promises). Safe: the contract is that whoever holds a trusted key
    /// signs only objects lucetc produced.
    pub fn load_verified(path: impl AsRef<Path>, keys: &TrustedKeys) -> Result<Arc<Module>, Error> {
        Module::load_verified_with(path, &LoadOptions::verified(keys.clone()))
    }

    /// [`load_with`](Self::load_with) for options that require a signature
    /// (`trusted_keys` set): safe, as [`load_verified`](Self::load_verified).
    /// Options without trusted keys are refused with [`Error::Signature`].
    pub fn load_verified_with(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Arc<Module>, Error> {
        let path = path.as_ref();
        if options.trusted_keys.is_none() {
            return Err(Error::Signature {
                path: path.display().to_string(),
                reason: "no trusted keys were given: loading without a signature is \
                         `Module::load_unverified` (unsafe)"
                    .into(),
            });
        }
        // SAFETY: a signature by a trusted key is required, which is the
        // contract of a verified load.
        unsafe { Module::load_with(path, options) }
    }

    /// Load a shared object produced by lucetc under `options`.
    ///
    /// The file is read once into sealed memory; the signature (if
    /// required), the ELF structure, the module data and the code hash are
    /// checked on those bytes, and the dynamic loader maps the same bytes.
    /// Errors name the file and the reason.
    ///
    /// # Safety
    /// Without `options.trusted_keys`, the contract of
    /// [`load_unverified`](Self::load_unverified): the file is a trusted
    /// lucetc's output, unmodified. With them, none beyond trusting the
    /// key holders ([`load_verified_with`](Self::load_verified_with) is the
    /// safe form).
    pub unsafe fn load_with(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Arc<Module>, Error> {
        let path = path.as_ref();
        let file = SealedFile::read(path, options.max_file_size)?;
        let signed_by = match &options.trusted_keys {
            Some(keys) => Some(keys.verify(path, file.bytes(), &options.required_signed)?),
            None => None,
        };
        let examined = examine(path, file.bytes())?;
        examined.check_hash(path)?;
        cpu::check_cpu_features(path, &examined.data)?;
        let layout = VmctxLayout::for_module(&examined.data)
            .ok_or_else(|| invalid(path, "vmctx too large"))?;
        // SAFETY: the bytes in the memfd passed `elf::check` (in `examine`).
        let library = unsafe { Library::open(&file) }.map_err(|reason| Error::Dlopen {
            path: path.display().to_string(),
            reason,
        })?;
        Module::finish_load(path, file, examined, layout, library, signed_by)
    }

    fn finish_load(
        path: &Path,
        file: SealedFile,
        examined: Examined,
        layout: VmctxLayout,
        library: Library,
        signed_by: Option<KeyId>,
    ) -> Result<Arc<Module>, Error> {
        let Examined { elf, data, .. } = examined;
        let base = library.base();
        let bytes = file.bytes();
        // What the loader mapped is what was checked: its read-only
        // segments are byte for byte the checked ones (and so is the code).
        if library.dynamic() != base.wrapping_add(elf.dynamic as usize) {
            return Err(invalid(path, "the loader mapped another object"));
        }
        for seg in elf
            .loads
            .iter()
            .filter(|s| s.flags & object::elf::PF_W == 0)
        {
            let at = base.wrapping_add(seg.vaddr as usize) as *const u8;
            // SAFETY: the loader mapped the segment readable (every segment
            // was checked to be PF_R) at the load base plus its address.
            let mapped = unsafe { std::slice::from_raw_parts(at, seg.filesz as usize) };
            let checked = &bytes[seg.offset as usize..(seg.offset + seg.filesz) as usize];
            if mapped != checked {
                return Err(invalid(
                    path,
                    "the mapped object differs from the checked bytes",
                ));
            }
        }
        let expect = |name: &str, vaddr: u64| {
            let cname = CString::new(name).expect("symbol names have no NUL");
            if library.symbol(&cname) != Some(base.wrapping_add(vaddr as usize)) {
                return Err(invalid(
                    path,
                    format!("{name} does not resolve where it was checked"),
                ));
            }
            Ok(())
        };
        expect(symbols::MODULE_DATA, elf.module_data.vaddr)?;
        if elf.function_table.size > 0 {
            expect(symbols::FUNCTION_TABLE, elf.function_table.vaddr)?;
        }
        let text = (
            base.wrapping_add(elf.code.start as usize),
            base.wrapping_add(elf.code.end as usize),
        );
        let entries = data.functions.len() + 2 * data.types.len();
        let table = base.wrapping_add(elf.function_table.vaddr as usize) as *const u64;
        let table: &[u64] = if entries == 0 {
            &[]
        } else {
            // SAFETY: the table symbol's size was checked to be `entries`
            // words inside a writable, mapped segment, relocated by now.
            unsafe { std::slice::from_raw_parts(table, entries) }
        };
        let in_text = |addr: u64, len: usize| {
            let addr = addr as usize;
            addr >= text.0 && addr.checked_add(len).is_some_and(|end| end <= text.1)
        };
        let nfuncs = data.functions.len();
        for (i, addr) in table.iter().enumerate() {
            let len = data.functions.get(i).map_or(1, |f| f.code_len as usize);
            if !in_text(*addr, len) {
                return Err(invalid(
                    path,
                    format!("function table entry {i} points outside the code"),
                ));
            }
        }
        let functions: Vec<usize> = table[..nfuncs].iter().map(|a| *a as usize).collect();
        let ntypes = data.types.len();
        let entry_trampolines: Vec<usize> = table[nfuncs..nfuncs + ntypes]
            .iter()
            .map(|a| *a as usize)
            .collect();
        // Landing pads: of calls inside `try` blocks, and of every entry
        // trampoline's call. Both addresses must be in the code.
        let sites = data
            .functions
            .iter()
            .zip(&functions)
            .flat_map(|(f, addr)| f.call_sites.iter().map(move |s| (*addr, *s)))
            .chain(
                entry_trampolines
                    .iter()
                    .copied()
                    .zip(data.entry_landings.iter().copied()),
            );
        let mut landings = Vec::new();
        for (start, site) in sites {
            let at = |off: u32| {
                start
                    .checked_add(off as usize)
                    .filter(|a| in_text(*a as u64, 1))
            };
            let (Some(ret_addr), Some(handler)) = (at(site.ret_offset), at(site.handler_offset))
            else {
                return Err(invalid(path, "a landing pad points outside the code"));
            };
            landings.push(Landing {
                ret_addr,
                handler,
                frame_offset: site.frame_offset,
            });
        }
        landings.sort_by_key(|l| l.ret_addr);
        let host_trampolines = table[nfuncs + ntypes..]
            .iter()
            .map(|a| *a as usize)
            .collect();
        let sig_ids = data.types.iter().map(signature_ids::intern).collect();
        let host_memory = data
            .export("memory")
            .filter(|e| e.kind == lucet_module::ExportKind::Memory)
            .map_or(0, |e| e.index);
        let heap_image = HeapImage::build(&data)?;

        let imported = data.num_imported_funcs();
        let mut code: Vec<FunctionCode> = data
            .functions
            .iter()
            .zip(&functions)
            .enumerate()
            .map(|(i, (f, addr))| FunctionCode {
                addr: *addr,
                len: f.code_len as usize,
                index: imported + i as u32,
                traps: f.traps.clone(),
                name: f.name.clone(),
            })
            .collect();
        code.sort_by_key(|f| f.addr);
        // The trap tables are looked up by address: a program counter must
        // belong to one function only.
        if let Some(w) = code.windows(2).find(|w| w[0].addr + w[0].len > w[1].addr) {
            return Err(invalid(
                path,
                format!(
                    "functions {} and {} overlap in the code",
                    w[0].index, w[1].index
                ),
            ));
        }
        code_registry::register(Arc::new(CodeMap {
            start: text.0,
            end: text.1,
            functions: code,
            landings,
        }));
        let module_data =
            elf.module_data_offset..elf.module_data_offset + elf.module_data.size as usize;
        let len = bytes.len();
        Ok(Arc::new(Module {
            path: path.to_path_buf(),
            data,
            layout,
            functions,
            entry_trampolines,
            host_trampolines,
            sig_ids,
            host_memory,
            heap_image,
            code_start: text.0,
            signed_by,
            _library: library,
            file: LoadedFile {
                fd: file.into_fd(),
                len,
                loads: elf.loads,
                module_data,
            },
        }))
    }

    /// The module's description.
    pub fn data(&self) -> &ModuleData {
        &self.data
    }

    /// The path the module was loaded from (as given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key whose signature was verified at load, if one was required.
    pub fn signed_by(&self) -> Option<KeyId> {
        self.signed_by
    }

    /// Bytes of the file loaded.
    pub fn file_size(&self) -> usize {
        self.file.len
    }

    /// The type of exported function `name`, if there is one.
    pub fn export_func_type(&self, name: &str) -> Option<&FuncType> {
        let e = self.data.export(name)?;
        (e.kind == lucet_module::ExportKind::Func)
            .then(|| self.data.func_type(e.index))
            .flatten()
    }

    pub(crate) fn layout(&self) -> &VmctxLayout {
        &self.layout
    }

    pub(crate) fn function_addr(&self, defined: u32) -> usize {
        self.functions[defined as usize]
    }

    pub(crate) fn entry_trampoline(&self, type_index: u32) -> usize {
        self.entry_trampolines[type_index as usize]
    }

    pub(crate) fn host_trampoline(&self, type_index: u32) -> usize {
        self.host_trampolines[type_index as usize]
    }

    pub(crate) fn sig_ids(&self) -> &[u32] {
        &self.sig_ids
    }

    /// The memory host functions see (see `Caller::memory`).
    pub(crate) fn host_memory(&self) -> u32 {
        self.host_memory
    }

    pub(crate) fn heap_image(&self) -> Option<&HeapImage> {
        self.heap_image.as_ref()
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // Before the library (a field) is closed: no instance of this
        // module is alive (they hold an Arc), and the trap handler must
        // forget the code before it is unmapped.
        code_registry::unregister(self.code_start);
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("signed_by", &self.signed_by)
            .finish()
    }
}
