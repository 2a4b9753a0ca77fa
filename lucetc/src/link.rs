//! Writing outputs: the shared object, which lucetc links itself
//! ([`crate::shared_object`]) and gives its code hash, and anything else,
//! each through a temporary file so a failure leaves no partial output.

use crate::Error;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write `bytes` to `path` through a temporary file, so a failure leaves
/// no partial output.
///
/// The file gets the permissions `File::create` would give it (0666 less
/// the umask): readable by whoever may read the directory, and not
/// executable, so nothing mistakes a shared object for a program.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".lucetc-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Write `object` (lucetc's relocatable object) as the shared object
/// `output`, with its code hash recorded. Needs no system linker.
pub fn link_shared_object(object: &[u8], output: &Path) -> Result<(), Error> {
    let mut so = crate::shared_object::write(object)?;
    crate::code_hash::record_code_hash(&mut so)?;
    write_atomically(output, &so)
}
