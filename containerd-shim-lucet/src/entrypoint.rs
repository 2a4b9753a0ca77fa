//! What the image's entrypoint is, and whether the shim runs it.
//!
//! runwasi first asks whether an entrypoint is a native program: an
//! executable file (the others-execute bit set) beginning with an ELF
//! header or `#!` runs natively, as runc would run it. Everything else
//! comes here. The shim runs:
//!
//! - a WebAssembly binary (`\0asm`), compiled on first use;
//! - WebAssembly text, for a file named `*.wat`;
//! - an x86-64 ELF shared object (a lucetc `.so`), which must carry a
//!   signature (`.so.minisig` beside it) by a key the shim trusts, and
//!   **must not be executable**, or runwasi would take it for a native
//!   program.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The kinds of entrypoint the shim runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A WebAssembly binary module.
    Wasm,
    /// WebAssembly text (`.wat`).
    WasmText,
    /// A lucetc shared object.
    SharedObject,
}

/// Why an entrypoint is not one the shim runs.
#[derive(Debug, thiserror::Error)]
pub enum EntrypointError {
    /// The process has no arguments.
    #[error("the container has no entrypoint (process args are empty)")]
    Missing,
    /// No such file.
    #[error("entrypoint {0}: not found in the container")]
    NotFound(PathBuf),
    /// The file could not be read.
    #[error("entrypoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Neither WebAssembly nor a shared object.
    #[error(
        "entrypoint {0}: neither a WebAssembly module (.wasm, .wat) nor a lucet shared object (.so)"
    )]
    NotWasm(PathBuf),
    /// An ELF file for another machine, or not a shared object.
    #[error("entrypoint {0}: an ELF file, but not an x86-64 shared object")]
    WrongElf(PathBuf),
    /// An OCI image with several wasm layers.
    #[error("the image has {0} WebAssembly layers; the shim runs images with one")]
    Layers(usize),
}

const ELF_MAGIC: &[u8] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;

/// The kind of the file `path` whose first bytes (up to 20) are `head`.
pub fn classify(path: &Path, head: &[u8]) -> Result<Kind, EntrypointError> {
    if head.starts_with(b"\0asm") {
        return Ok(Kind::Wasm);
    }
    if head.starts_with(ELF_MAGIC) {
        let u16_at = |at: usize| {
            head.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let is_x86_64_so = head.get(4) == Some(&ELFCLASS64)
            && head.get(5) == Some(&ELFDATA2LSB)
            && u16_at(16) == Some(ET_DYN)
            && u16_at(18) == Some(EM_X86_64);
        return if is_x86_64_so {
            Ok(Kind::SharedObject)
        } else {
            Err(EntrypointError::WrongElf(path.to_path_buf()))
        };
    }
    if path.extension().is_some_and(|e| e == "wat") {
        return Ok(Kind::WasmText);
    }
    Err(EntrypointError::NotWasm(path.to_path_buf()))
}

/// Read the head of `path` and classify it.
pub fn classify_file(path: &Path) -> Result<Kind, EntrypointError> {
    let io = |source| EntrypointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(20);
    std::fs::File::open(path)
        .map_err(io)?
        .take(20)
        .read_to_end(&mut head)
        .map_err(io)?;
    classify(path, &head)
}

/// The file an entrypoint argument names, as a shell inside the container
/// would find it: a path with a `/` as it is (relative to `cwd`), a bare
/// name in the directories of `path_env` (the container's `PATH`) and then
/// in `cwd`.
pub fn resolve(arg0: &Path, path_env: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    let is_file = |p: &Path| p.is_file();
    if arg0.as_os_str().is_empty() {
        return None;
    }
    if arg0.components().count() > 1 || arg0.is_absolute() {
        let p = cwd.join(arg0);
        return is_file(&p).then_some(p);
    }
    path_env
        .into_iter()
        .flat_map(|p| p.split(':'))
        .filter(|d| !d.is_empty())
        .map(|d| cwd.join(d).join(arg0))
        .chain(std::iter::once(cwd.join(arg0)))
        .find(|p| is_file(p))
}

/// Split an entrypoint argument `path#function` (runwasi's convention for
/// calling an export other than `_start`).
pub fn split_function(arg0: &str) -> (&str, &str) {
    match arg0.split_once('#') {
        Some((path, func)) if !func.is_empty() => (path, func),
        Some((path, _)) => (path, "_start"),
        None => (arg0, "_start"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, ty: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[..4].copy_from_slice(ELF_MAGIC);
        h[4] = class;
        h[5] = data;
        h[16..18].copy_from_slice(&ty.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn kinds_by_content() {
        let p = Path::new("/app/x");
        assert_eq!(classify(p, b"\0asm\x01\0\0\0").unwrap(), Kind::Wasm);
        assert_eq!(
            classify(p, &elf(2, 1, ET_DYN, EM_X86_64)).unwrap(),
            Kind::SharedObject
        );
        // The extension does not matter for binaries.
        assert_eq!(classify(Path::new("m.wat"), b"\0asm").unwrap(), Kind::Wasm);
        assert_eq!(
            classify(Path::new("/m.wat"), b"(module)").unwrap(),
            Kind::WasmText
        );
    }

    #[test]
    fn other_files_are_refused() {
        let p = Path::new("/app/x");
        for (head, wrong_elf) in [
            (elf(2, 1, 2 /* ET_EXEC */, EM_X86_64), true),
            (elf(2, 1, ET_DYN, 183 /* aarch64 */), true),
            (elf(1, 1, ET_DYN, EM_X86_64), true),
            (b"\x7fELF".to_vec(), true),
            (b"#!/bin/sh\n".to_vec(), false),
            (b"(module)".to_vec(), false),
            (Vec::new(), false),
        ] {
            match classify(p, &head) {
                Err(EntrypointError::WrongElf(_)) if wrong_elf => {}
                Err(EntrypointError::NotWasm(_)) if !wrong_elf => {}
                other => panic!("{head:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let so = dir.path().join("m.so");
        std::fs::write(&so, elf(2, 1, ET_DYN, EM_X86_64)).unwrap();
        assert_eq!(classify_file(&so).unwrap(), Kind::SharedObject);
        let short = dir.path().join("short.wasm");
        std::fs::write(&short, b"\0as").unwrap();
        assert!(matches!(
            classify_file(&short),
            Err(EntrypointError::NotWasm(_))
        ));
        assert!(matches!(
            classify_file(&dir.path().join("none")),
            Err(EntrypointError::Io { .. })
        ));
    }

    #[test]
    fn resolution() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/tool.wasm"), b"\0asm").unwrap();
        std::fs::write(root.join("top.wasm"), b"\0asm").unwrap();
        let path_env = Some("/nonexistent:bin");
        assert_eq!(
            resolve(Path::new("tool.wasm"), path_env, root),
            Some(root.join("bin/tool.wasm"))
        );
        assert_eq!(
            resolve(Path::new("top.wasm"), path_env, root),
            Some(root.join("top.wasm"))
        );
        assert_eq!(
            resolve(Path::new("bin/tool.wasm"), None, root),
            Some(root.join("bin/tool.wasm"))
        );
        let abs = root.join("top.wasm");
        assert_eq!(resolve(&abs, None, Path::new("/")), Some(abs.clone()));
        assert_eq!(resolve(Path::new("tool.wasm"), None, root), None);
        assert_eq!(resolve(Path::new(""), None, root), None);
        assert_eq!(resolve(Path::new("bin"), None, root), None);
    }

    #[test]
    fn function_after_hash() {
        assert_eq!(split_function("/app/m.wasm"), ("/app/m.wasm", "_start"));
        assert_eq!(split_function("/app/m.wasm#run"), ("/app/m.wasm", "run"));
        assert_eq!(split_function("m.wasm#"), ("m.wasm", "_start"));
    }
}
