//! Compiled modules, cached by content digest in the shim's state
//! directory, so that the second pod of an image starts without compiling.
//!
//! An entry is `<state_dir>/cache/<key>.so`, where the key is the SHA-256
//! of the wasm bytes, the compiler's identity (lucet's version, the module
//! format version and the build ID of the shim binary, which contains the
//! compiler) and the compile options. A new shim build therefore never
//! loads an object an older build wrote. Entries are written atomically
//! (a temporary file renamed into place), so pods starting at once may
//! both compile but never see half an object. Nothing evicts entries:
//! delete the directory's files at will (a running guest keeps its copy).
//!
//! The guest runs inside its container, whose root is the image's, so the
//! directory is opened on the host when the shim starts and reached from
//! inside through that descriptor (`/proc/self/fd/N/...`).

use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a compile depends on besides the wasm bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileSettings {
    /// Count executed instructions (for an instruction budget); slower code.
    pub count_instructions: bool,
}

impl CompileSettings {
    /// The compiler options: lucetc's defaults (portable x86-64-v2 code,
    /// interruptible), allowing exactly the WASI functions lucet-wasi
    /// provides.
    pub fn options(&self) -> lucetc::Options {
        lucetc::Options {
            count_instructions: self.count_instructions,
            allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
            ..lucetc::Options::default()
        }
    }
}

/// The cache key of `wasm` compiled by the compiler `compiler` (see
/// [`compiler_identity`]) with `settings`: 64 hex digits.
pub fn cache_key(wasm: &[u8], compiler: &str, settings: &CompileSettings) -> String {
    let mut h = Sha256::new();
    // Every part is length-prefixed, so no two inputs hash the same bytes.
    for part in [
        b"containerd-shim-lucet cache 1".as_slice(),
        compiler.as_bytes(),
        // The full options, threads aside (they do not change the output).
        format!(
            "{:?}",
            lucetc::Options {
                threads: None,
                ..settings.options()
            }
        )
        .as_bytes(),
        wasm,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The compiler's identity for cache keys: lucet's version, the module
/// format version, and the GNU build ID of the running executable (the
/// compiler is linked into it), or its size and modification time when
/// it has none.
pub fn compiler_identity() -> String {
    let build = std::env::current_exe()
        .ok()
        .and_then(|exe| executable_build_id(&exe))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "lucetc {} module format {} build {build}",
        env!("CARGO_PKG_VERSION"),
        lucet_module::FORMAT_VERSION
    )
}

fn executable_build_id(path: &Path) -> Option<String> {
    use object::Object;
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    // SAFETY: the map is read-only and only read here; the executable of a
    // running process is not written in place (the kernel refuses with
    // ETXTBSY), so its bytes do not change under us.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let id = object::File::parse(&*map)
        .ok()
        .and_then(|o| o.build_id().ok().flatten().map(hex));
    Some(id.unwrap_or_else(|| format!("size {} mtime {}", meta.size(), meta.mtime())))
}

/// Why the cache cannot be used, or an entry not made.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The directory could not be created or opened.
    #[error("cache directory {path}: {source}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Someone else could write native code that the shim would run.
    #[error(
        "cache directory {path}: not used, as others could write to it \
         (owner uid {uid}, mode {mode:o}; it must be the shim's and not group- or world-writable)"
    )]
    Insecure {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// Compiling the module failed.
    #[error("{0}")]
    Compile(#[from] lucetc::Error),
    /// The compiled module could not be kept in memory.
    #[error("keeping the compiled module in memory: {0}")]
    Memory(std::io::Error),
}

/// Whether an entry was found or made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// It was there.
    Hit,
    /// It was compiled now, taking this long.
    Compiled(Duration),
}

/// The open cache directory.
#[derive(Debug)]
pub struct Cache {
    dir: File,
    path: PathBuf,
}

impl Cache {
    /// Create (mode 0700) and open the cache directory `path`. It is
    /// refused unless owned by this user and writable by nobody else:
    /// whoever can write it chooses the native code guests run as.
    pub fn open(path: &Path) -> Result<Cache, CacheError> {
        let err = |source| CacheError::Open {
            path: path.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)?;
        let dir = File::open(path).map_err(err)?;
        let meta = dir.metadata().map_err(err)?;
        if !meta.is_dir() {
            return Err(err(std::io::Error::other("not a directory")));
        }
        let euid = rustix::process::geteuid().as_raw();
        if meta.uid() != euid || meta.mode() & 0o022 != 0 {
            return Err(CacheError::Insecure {
                path: path.to_path_buf(),
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
            });
        }
        Ok(Cache {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// Whether this process may create entries: a container running as
    /// another user, without root's capabilities, may not (it then
    /// compiles for itself, each run).
    pub fn writable(&self) -> bool {
        use rustix::fs::{accessat, Access, AtFlags};
        accessat(
            &self.dir,
            ".",
            Access::WRITE_OK | Access::EXEC_OK,
            AtFlags::EACCESS,
        )
        .is_ok()
    }

    /// The directory's path on the host (for messages).
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    /// The path of entry `key`, through the directory's descriptor, so it
    /// resolves from inside a container too (its `/proc` mounted).
    pub fn entry_path(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{key}.so", self.dir.as_raw_fd()))
    }

    /// The entry for `wasm` with `settings`, compiled now if it is not
    /// there. Returns its path (as [`entry_path`](Self::entry_path)).
    pub fn get_or_compile(
        &self,
        wasm: &[u8],
        compiler: &str,
        settings: &CompileSettings,
    ) -> Result<(PathBuf, Lookup), CacheError> {
        let path = self.entry_path(&cache_key(wasm, compiler, settings));
        if path.is_file() {
            return Ok((path, Lookup::Hit));
        }
        let started = Instant::now();
        quietly(|| lucetc::compile_to_file(wasm, &path, &settings.options()))?;
        Ok((path, Lookup::Compiled(started.elapsed())))
    }
}

/// Run a compile with the log level at `warn` at most: Cranelift logs
/// every function it defines at `info`, which the shim's logger would
/// forward to containerd's log. (The level is the process's; in a
/// container's process nothing else is logging meanwhile.)
fn quietly<T>(compile: impl FnOnce() -> T) -> T {
    let level = log::max_level();
    log::set_max_level(level.min(log::LevelFilter::Warn));
    let out = compile();
    log::set_max_level(level);
    out
}

/// Compile `wasm` into an anonymous memory file, for a process that cannot
/// use the cache: load it from `/proc/self/fd/N` (N the file's descriptor).
pub fn compile_in_memory(wasm: &[u8], settings: &CompileSettings) -> Result<File, CacheError> {
    use rustix::fs::{memfd_create, MemfdFlags};
    use std::io::Write;
    let wasm = lucetc::wasm_from_bytes(wasm)?;
    let compiled = quietly(|| lucetc::compile(&wasm, &settings.options()))?;
    let mut so = lucetc::shared_object::write(&compiled.object).map_err(lucetc::Error::from)?;
    lucetc::record_code_hash(&mut so)?;
    let fd = memfd_create("lucet-module", MemfdFlags::CLOEXEC)
        .map_err(|e| CacheError::Memory(e.into()))?;
    let mut file = File::from(fd);
    file.write_all(&so).map_err(CacheError::Memory)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const WAT: &str = r#"(module (func (export "_start")))"#;

    #[test]
    fn keys_depend_on_bytes_compiler_and_options() {
        let plain = CompileSettings::default();
        let counting = CompileSettings {
            count_instructions: true,
        };
        let k = cache_key(b"\0asm\x01\0\0\0", "c1", &plain);
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, cache_key(b"\0asm\x01\0\0\0", "c1", &plain));
        assert_ne!(k, cache_key(b"\0asm\x01\0\0\0\0", "c1", &plain));
        assert_ne!(k, cache_key(b"\0asm\x01\0\0\0", "c2", &plain));
        assert_ne!(k, cache_key(b"\0asm\x01\0\0\0", "c1", &counting));
        // The parts cannot run into each other.
        assert_ne!(
            cache_key(b"1", "c", &plain),
            cache_key(b"", "c\x01\0\0\0\0\0\0\0\x001", &plain)
        );
    }

    #[test]
    fn the_identity_names_this_build() {
        let id = compiler_identity();
        assert!(id.starts_with("lucetc "), "{id}");
        assert!(!id.ends_with("build unknown"), "{id}");
        assert_eq!(id, compiler_identity());
    }

    #[test]
    fn second_lookup_is_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("state/cache")).unwrap();
        let mode = std::fs::metadata(dir.path().join("state/cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(cache.writable());
        let s = CompileSettings::default();
        let (p1, first) = cache.get_or_compile(WAT.as_bytes(), "test", &s).unwrap();
        assert!(matches!(first, Lookup::Compiled(_)), "{first:?}");
        let (p2, second) = cache.get_or_compile(WAT.as_bytes(), "test", &s).unwrap();
        assert_eq!((p1.clone(), second), (p2, Lookup::Hit));
        let files: Vec<_> = std::fs::read_dir(cache.host_path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            files,
            vec![format!("{}.so", cache_key(WAT.as_bytes(), "test", &s))]
        );
        // SAFETY: compiled just now by this test's lucetc into a directory
        // only this test writes.
        let m = unsafe { lucet_runtime::Module::load_unverified(&p1) }.unwrap();
        assert!(m.export_func_type("_start").is_some());
    }

    #[test]
    fn compiled_in_memory() {
        let file = compile_in_memory(WAT.as_bytes(), &CompileSettings::default()).unwrap();
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: compiled just now by this test's lucetc, into memory only
        // this process holds.
        let m = unsafe { lucet_runtime::Module::load_unverified(&path) }.unwrap();
        assert!(m.export_func_type("_start").is_some());
    }

    #[test]
    fn compile_errors_leave_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let e = cache
            .get_or_compile(b"\0asm\x01\0\0\0\x99", "t", &CompileSettings::default())
            .unwrap_err();
        assert!(matches!(e, CacheError::Compile(_)), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Cache::open(dir.path()).unwrap_err();
        assert!(matches!(e, CacheError::Insecure { .. }), "{e}");
        assert!(e.to_string().contains("mode 777"), "{e}");
    }
}
