//! Turning the object into a shared object with the system linker.

use crate::Error;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, Error> {
    tempfile::Builder::new()
        .prefix(".lucetc-")
        .tempfile_in(dir)
        .map_err(io(dir))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write `bytes` to `path` through a temporary file, so a failure leaves
/// no partial output.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut tmp = temp_in(parent(path))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Link `object` into the shared object `output` with the system C
/// compiler driver (`$CC`, or `cc`), and record its code hash.
pub fn link_shared_object(object: &[u8], output: &Path) -> Result<(), Error> {
    let dir = parent(output);
    let mut obj = tempfile::Builder::new()
        .prefix(".lucetc-")
        .suffix(".o")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    obj.write_all(object).map_err(io(obj.path()))?;
    let so = temp_in(dir)?.into_temp_path();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(&cc)
        .arg("-shared")
        .arg("-nostartfiles")
        .arg("-Wl,-z,noexecstack")
        .arg("-Wl,-z,relro,-z,now")
        .arg("-o")
        .arg(&so)
        .arg(obj.path())
        .arg("-lm")
        .output()
        .map_err(|e| Error::Link(format!("cannot run `{cc}`: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Link(format!(
            "`{cc}` failed: {}",
            stderr.lines().next().unwrap_or("no message")
        )));
    }
    let mut bytes = std::fs::read(&so).map_err(io(&so))?;
    crate::code_hash::record_code_hash(&mut bytes)?;
    std::fs::write(&so, &bytes).map_err(io(&so))?;
    so.persist(output).map_err(|e| io(output)(e.error))?;
    Ok(())
}
