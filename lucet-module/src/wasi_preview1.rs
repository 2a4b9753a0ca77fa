//! The signatures of `wasi_snapshot_preview1`: for every function, its
//! name and its parameter and result types as wasm sees them. No
//! implementations: this is the contract between what a WASI compiler
//! allows a module to import (`lucetc-wasi`, `lucetc::AllowedImport`) and
//! what `lucet-wasi` provides, which takes each function's type from here
//! and is checked against this table when it is built (and by its tests).
//!
//! Every function but `proc_exit` returns an errno as an `i32`; pointers
//! and sizes are `i32` (wasm32), 64-bit quantities (offsets, rights,
//! timestamps) `i64`.

use crate::{FuncType, ValType};

/// The import module name of every function here.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// One function's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// The import field name, e.g. `fd_write`.
    pub name: &'static str,
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result types: an errno (`i32`), or nothing (`proc_exit`).
    pub results: &'static [ValType],
}

impl Function {
    /// The signature as a [`FuncType`].
    pub fn ty(&self) -> FuncType {
        FuncType::new(self.params, self.results)
    }
}

// The parameter names are the specification's, for the reader; only the
// types are kept.
macro_rules! functions {
    ($( $name:ident ( $($param:ident : $ty:ident),* ) $(-> $result:ident)? ; )*) => {
        /// Every function of `wasi_snapshot_preview1`, once, in the
        /// specification's order.
        pub const FUNCTIONS: &[Function] = &[ $(
            Function {
                name: stringify!($name),
                params: &[$(ValType::$ty),*],
                results: &[$(ValType::$result)?],
            },
        )* ];
    };
}

functions! {
    args_get(argv: I32, argv_buf: I32) -> I32;
    args_sizes_get(argc: I32, argv_buf_size: I32) -> I32;
    environ_get(environ: I32, environ_buf: I32) -> I32;
    environ_sizes_get(environc: I32, environ_buf_size: I32) -> I32;
    clock_res_get(id: I32, resolution: I32) -> I32;
    clock_time_get(id: I32, precision: I64, time: I32) -> I32;
    fd_advise(fd: I32, offset: I64, len: I64, advice: I32) -> I32;
    fd_allocate(fd: I32, offset: I64, len: I64) -> I32;
    fd_close(fd: I32) -> I32;
    fd_datasync(fd: I32) -> I32;
    fd_fdstat_get(fd: I32, stat: I32) -> I32;
    fd_fdstat_set_flags(fd: I32, flags: I32) -> I32;
    fd_fdstat_set_rights(fd: I32, fs_rights_base: I64, fs_rights_inheriting: I64) -> I32;
    fd_filestat_get(fd: I32, buf: I32) -> I32;
    fd_filestat_set_size(fd: I32, size: I64) -> I32;
    fd_filestat_set_times(fd: I32, atim: I64, mtim: I64, fst_flags: I32) -> I32;
    fd_pread(fd: I32, iovs: I32, iovs_len: I32, offset: I64, nread: I32) -> I32;
    fd_prestat_get(fd: I32, buf: I32) -> I32;
    fd_prestat_dir_name(fd: I32, path: I32, path_len: I32) -> I32;
    fd_pwrite(fd: I32, iovs: I32, iovs_len: I32, offset: I64, nwritten: I32) -> I32;
    fd_read(fd: I32, iovs: I32, iovs_len: I32, nread: I32) -> I32;
    fd_readdir(fd: I32, buf: I32, buf_len: I32, cookie: I64, bufused: I32) -> I32;
    fd_renumber(fd: I32, to: I32) -> I32;
    fd_seek(fd: I32, offset: I64, whence: I32, newoffset: I32) -> I32;
    fd_sync(fd: I32) -> I32;
    fd_tell(fd: I32, offset: I32) -> I32;
    fd_write(fd: I32, iovs: I32, iovs_len: I32, nwritten: I32) -> I32;
    path_create_directory(fd: I32, path: I32, path_len: I32) -> I32;
    path_filestat_get(fd: I32, flags: I32, path: I32, path_len: I32, buf: I32) -> I32;
    path_filestat_set_times(fd: I32, flags: I32, path: I32, path_len: I32, atim: I64, mtim: I64, fst_flags: I32) -> I32;
    path_link(old_fd: I32, old_flags: I32, old_path: I32, old_path_len: I32, new_fd: I32, new_path: I32, new_path_len: I32) -> I32;
    path_open(fd: I32, dirflags: I32, path: I32, path_len: I32, oflags: I32, fs_rights_base: I64, fs_rights_inheriting: I64, fdflags: I32, opened_fd: I32) -> I32;
    path_readlink(fd: I32, path: I32, path_len: I32, buf: I32, buf_len: I32, bufused: I32) -> I32;
    path_remove_directory(fd: I32, path: I32, path_len: I32) -> I32;
    path_rename(fd: I32, old_path: I32, old_path_len: I32, new_fd: I32, new_path: I32, new_path_len: I32) -> I32;
    path_symlink(old_path: I32, old_path_len: I32, fd: I32, new_path: I32, new_path_len: I32) -> I32;
    path_unlink_file(fd: I32, path: I32, path_len: I32) -> I32;
    poll_oneoff(in_: I32, out: I32, nsubscriptions: I32, nevents: I32) -> I32;
    proc_exit(rval: I32);
    proc_raise(sig: I32) -> I32;
    sched_yield() -> I32;
    random_get(buf: I32, buf_len: I32) -> I32;
    sock_accept(fd: I32, flags: I32, fd_out: I32) -> I32;
    sock_recv(fd: I32, ri_data: I32, ri_data_len: I32, ri_flags: I32, ro_datalen: I32, ro_flags: I32) -> I32;
    sock_send(fd: I32, si_data: I32, si_data_len: I32, si_flags: I32, so_datalen: I32) -> I32;
    sock_shutdown(fd: I32, how: I32) -> I32;
}

/// The function called `name`, if `wasi_snapshot_preview1` has one. A
/// `const fn`, so an implementation can be checked against the table when
/// it is compiled.
pub const fn function(name: &str) -> Option<&'static Function> {
    let mut i = 0;
    while i < FUNCTIONS.len() {
        if str_eq(FUNCTIONS[i].name, name) {
            return Some(&FUNCTIONS[i]);
        }
        i += 1;
    }
    None
}

/// Whether two value-type lists are equal (`==` on slices is not `const`).
pub const fn types_eq(a: &[ValType], b: &[ValType]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] as u8 != b[i] as u8 {
            return false;
        }
        i += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_once_with_an_errno_but_proc_exit() {
        let names: std::collections::BTreeSet<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FUNCTIONS.len());
        assert_eq!(FUNCTIONS.len(), 46);
        for f in FUNCTIONS {
            assert_eq!(function(f.name), Some(f));
            let expected: &[ValType] = if f.name == "proc_exit" {
                &[]
            } else {
                &[ValType::I32]
            };
            assert_eq!(f.results, expected, "{}", f.name);
        }
        assert_eq!(function("not_a_call"), None);
        assert_eq!(
            function("path_open").unwrap().ty().to_string(),
            "(func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))"
        );
        assert!(types_eq(
            &[ValType::I32, ValType::I64],
            &[ValType::I32, ValType::I64]
        ));
        assert!(!types_eq(&[ValType::I32], &[ValType::I64]));
        assert!(!types_eq(&[ValType::I32], &[]));
    }
}
