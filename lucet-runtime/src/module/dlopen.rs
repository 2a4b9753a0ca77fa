//! Handing the checked bytes to the dynamic loader.
//!
//! The loader is given `/proc/thread-self/fd/N` for the sealed memfd holding
//! the checked bytes, so it maps exactly those bytes (`thread-self`: a
//! thread that unshared its descriptor table sees its own `N`, which the
//! process's table may not have). glibc recognises objects
//! it already has by name (and by inode): the name is unique for as long as
//! the memfd stays open, which the `Module` ensures by keeping it open until
//! after `dlclose`, so two loads never alias and a module updated at the
//! same path loads its new code.
//!
//! libc: rustix has no dynamic-loader calls (`dlopen`, `dlinfo`, `dlsym`,
//! `dlerror`, `dlclose` are glibc's, not system calls).

use super::file::SealedFile;
use std::ffi::{c_char, c_void, CStr};
use std::ptr::NonNull;

/// A `dlopen`ed object, closed on drop.
pub(crate) struct Library {
    handle: NonNull<c_void>,
    base: usize,
    dynamic: usize,
}

/// The start of glibc's `struct link_map`, the public part.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *const c_void,
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

impl Library {
    /// Load the object in `file`.
    ///
    /// # Safety
    ///
    /// The bytes must have passed `elf::check`: the loader then runs none
    /// of the object's code, but it trusts the object's structure.
    pub unsafe fn open(file: &SealedFile) -> Result<Library, String> {
        let name = file.proc_path();
        // No RTLD_NOLOAD probe for an object already named so: it would
        // cost the loader an open and read of the file, and if the loader
        // did return another object, the checks after loading (its link
        // map's dynamic section, its segments' bytes) refuse it.
        // SAFETY: the caller guarantees the object passed the checks.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        let handle = NonNull::new(handle).ok_or_else(dlerror)?;
        let mut map: *const LinkMap = std::ptr::null();
        // SAFETY: RTLD_DI_LINKMAP stores a pointer to the object's link map.
        let got = unsafe {
            libc::dlinfo(
                handle.as_ptr(),
                libc::RTLD_DI_LINKMAP,
                (&mut map as *mut *const LinkMap).cast(),
            )
        };
        let mut lib = Library {
            handle,
            base: 0,
            dynamic: 0,
        };
        if got != 0 || map.is_null() {
            return Err(format!("dlinfo failed: {}", dlerror()));
        }
        // SAFETY: the loader's link map lives as long as the handle.
        let map = unsafe { &*map };
        // SAFETY: l_name is a C string owned by the loader.
        if map.l_name.is_null() || unsafe { CStr::from_ptr(map.l_name) } != name.as_c_str() {
            return Err("the loader returned an object of another name".into());
        }
        lib.base = map.l_addr;
        lib.dynamic = map.l_ld as usize;
        Ok(lib)
    }

    /// The load bias: what was added to every address in the file.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Where the loader found the dynamic section.
    pub fn dynamic(&self) -> usize {
        self.dynamic
    }

    /// The address of exported symbol `name`, as the loader resolves it.
    pub fn symbol(&self, name: &CStr) -> Option<usize> {
        // SAFETY: a live handle and a C string.
        let addr = unsafe { libc::dlsym(self.handle.as_ptr(), name.as_ptr()) };
        (!addr.is_null()).then_some(addr as usize)
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen; the owner guarantees nothing
        // refers into the object any more.
        unsafe { libc::dlclose(self.handle.as_ptr()) };
    }
}
