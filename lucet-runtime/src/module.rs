//! Loading a compiled shared object and checking it before anything in it runs.

use crate::code_registry::{self, CodeMap, FunctionCode};
use crate::heap_image::HeapImage;
use crate::signature;
use crate::Error;
use lucet_module::{symbols, FuncType, ModuleData, VmctxLayout};
use object::{Object, ObjectSection, ObjectSymbol};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    code_start: usize,
    handle: *mut libc::c_void,
}

// SAFETY: the dlopen handle is only used to dlclose on drop; everything
// else is immutable after load.
unsafe impl Send for Module {}
// SAFETY: as above, no interior mutability.
unsafe impl Sync for Module {}

/// What the ELF file says, read before the loader maps it.
struct FileFacts {
    data: ModuleData,
    data_vaddr: u64,
    data_bytes: Vec<u8>,
    table_vaddr: u64,
    text: (u64, u64),
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidModule {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn inspect_file(path: &Path, bytes: &[u8]) -> Result<FileFacts, Error> {
    let file =
        object::File::parse(bytes).map_err(|e| invalid(path, format!("not an ELF object: {e}")))?;
    if file.format() != object::BinaryFormat::Elf
        || file.architecture() != object::Architecture::X86_64
        || file.kind() != object::ObjectKind::Dynamic
    {
        return Err(invalid(path, "not an x86-64 ELF shared object"));
    }
    let find = |name: &str| {
        file.dynamic_symbols()
            .chain(file.symbols())
            .find(|s| s.name() == Ok(name))
            .ok_or_else(|| invalid(path, format!("no `{name}` symbol: not compiled by lucetc")))
    };
    let data_sym = find(symbols::MODULE_DATA)?;
    let table_sym = find(symbols::FUNCTION_TABLE)?;
    let section = data_sym
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .ok_or_else(|| invalid(path, "module data symbol has no section"))?;
    let section_data = section.data().map_err(|e| invalid(path, e.to_string()))?;
    let start = data_sym
        .address()
        .checked_sub(section.address())
        .ok_or_else(|| invalid(path, "module data symbol outside its section"))?
        as usize;
    let len = data_sym.size() as usize;
    let data_bytes = start
        .checked_add(len)
        .and_then(|end| section_data.get(start..end))
        .ok_or_else(|| invalid(path, "module data symbol outside its section"))?;
    let data = ModuleData::deserialize(data_bytes).map_err(|e| invalid(path, e.to_string()))?;
    // A module with no functions has no code at all.
    let text = file
        .section_by_name(".text")
        .map_or((0, 0), |s| (s.address(), s.address() + s.size()));
    let entries = data.functions.len() + 2 * data.types.len();
    if table_sym.size() != (entries * 8) as u64 {
        return Err(invalid(
            path,
            "function table size does not match the module data",
        ));
    }
    Ok(FileFacts {
        data_vaddr: data_sym.address(),
        data_bytes: data_bytes.to_vec(),
        table_vaddr: table_sym.address(),
        text,
        data,
    })
}

fn check_cpu_features(path: &Path, data: &ModuleData) -> Result<(), Error> {
    for f in &data.options.cpu_features {
        let present = match f.as_str() {
            "has_sse3" => std::arch::is_x86_feature_detected!("sse3"),
            "has_ssse3" => std::arch::is_x86_feature_detected!("ssse3"),
            "has_sse41" => std::arch::is_x86_feature_detected!("sse4.1"),
            "has_sse42" => std::arch::is_x86_feature_detected!("sse4.2"),
            "has_popcnt" => std::arch::is_x86_feature_detected!("popcnt"),
            "has_avx" => std::arch::is_x86_feature_detected!("avx"),
            "has_avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "has_fma" => std::arch::is_x86_feature_detected!("fma"),
            "has_bmi1" => std::arch::is_x86_feature_detected!("bmi1"),
            "has_bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
            "has_lzcnt" => std::arch::is_x86_feature_detected!("lzcnt"),
            "has_avx512bitalg" => std::arch::is_x86_feature_detected!("avx512bitalg"),
            "has_avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
            "has_avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "has_avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "has_avx512vbmi" => std::arch::is_x86_feature_detected!("avx512vbmi"),
            "has_cmpxchg16b" => std::arch::is_x86_feature_detected!("cmpxchg16b"),
            other => {
                return Err(invalid(
                    path,
                    format!("compiled for unknown CPU feature {other}"),
                ))
            }
        };
        if !present {
            return Err(invalid(
                path,
                format!("compiled for a CPU with {f}, which this one lacks"),
            ));
        }
    }
    Ok(())
}

fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a valid C string owned by libc.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

impl Module {
    /// Load a shared object produced by lucetc: check the ELF file and its
    /// module data, then `dlopen` it and check that what the loader mapped
    /// matches what was checked.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<Module>, Error> {
        let path = path.as_ref();
        let path = path.canonicalize().map_err(|e| Error::io(path, e))?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let facts = inspect_file(&path, &bytes)?;
        drop(bytes);
        check_cpu_features(&path, &facts.data)?;
        let layout = VmctxLayout::for_module(&facts.data)
            .ok_or_else(|| invalid(&path, "vmctx too large"))?;

        let cpath = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| invalid(&path, "path contains a NUL byte"))?;
        // SAFETY: the file is an x86-64 shared object whose module data
        // checked out; lucetc's objects have no initializers.
        let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(Error::Dlopen {
                path: path.display().to_string(),
                reason: dlerror(),
            });
        }
        let module = Module::finish_load(path, facts, layout, handle);
        if module.is_err() {
            // SAFETY: handle came from dlopen and nothing refers into it.
            unsafe { libc::dlclose(handle) };
        }
        module
    }

    fn finish_load(
        path: PathBuf,
        facts: FileFacts,
        layout: VmctxLayout,
        handle: *mut libc::c_void,
    ) -> Result<Arc<Module>, Error> {
        let name = CString::new(symbols::MODULE_DATA).unwrap();
        // SAFETY: handle is a live dlopen handle.
        let data_addr = unsafe { libc::dlsym(handle, name.as_ptr()) } as usize;
        if data_addr == 0 {
            return Err(invalid(&path, "module data symbol not exported"));
        }
        let bias = data_addr.wrapping_sub(facts.data_vaddr as usize);
        // SAFETY: the loader mapped the data section; the symbol's size was
        // checked against the file, which is what the loader mapped.
        let mapped =
            unsafe { std::slice::from_raw_parts(data_addr as *const u8, facts.data_bytes.len()) };
        if mapped != facts.data_bytes.as_slice() {
            return Err(invalid(&path, "file changed while loading"));
        }
        let text = (
            bias.wrapping_add(facts.text.0 as usize),
            bias.wrapping_add(facts.text.1 as usize),
        );
        let data = facts.data;
        let entries = data.functions.len() + 2 * data.types.len();
        let table = bias.wrapping_add(facts.table_vaddr as usize) as *const u64;
        // SAFETY: the table symbol's size was checked to be `entries` words,
        // and it lies in the mapped, relocated data segment.
        let table = unsafe { std::slice::from_raw_parts(table, entries) };
        let in_text = |addr: u64, len: usize| {
            let addr = addr as usize;
            addr >= text.0 && addr.checked_add(len).is_some_and(|end| end <= text.1)
        };
        let nfuncs = data.functions.len();
        for (i, addr) in table.iter().enumerate() {
            let len = data.functions.get(i).map_or(1, |f| f.code_len as usize);
            if !in_text(*addr, len) {
                return Err(invalid(
                    &path,
                    format!("function table entry {i} points outside the code"),
                ));
            }
        }
        let functions: Vec<usize> = table[..nfuncs].iter().map(|a| *a as usize).collect();
        let ntypes = data.types.len();
        let entry_trampolines = table[nfuncs..nfuncs + ntypes]
            .iter()
            .map(|a| *a as usize)
            .collect();
        let host_trampolines = table[nfuncs + ntypes..]
            .iter()
            .map(|a| *a as usize)
            .collect();
        let sig_ids = data.types.iter().map(signature::intern).collect();
        let heap_image = HeapImage::build(&data, Some(&path))?;

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
        code_registry::register(Arc::new(CodeMap {
            start: text.0,
            end: text.1,
            functions: code,
        }));
        Ok(Arc::new(Module {
            path,
            data,
            layout,
            functions,
            entry_trampolines,
            host_trampolines,
            sig_ids,
            heap_image,
            code_start: text.0,
            handle,
        }))
    }

    /// The module's description.
    pub fn data(&self) -> &ModuleData {
        &self.data
    }

    /// Where the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
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

    pub(crate) fn heap_image(&self) -> Option<&HeapImage> {
        self.heap_image.as_ref()
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        code_registry::unregister(self.code_start);
        // SAFETY: no instance of this module is alive (they hold an Arc).
        unsafe { libc::dlclose(self.handle) };
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}
