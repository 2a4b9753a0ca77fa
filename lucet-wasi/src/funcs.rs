//! The table of every `wasi_snapshot_preview1` function: name, signature
//! and implementation. Both [`add_to_linker`] and [`allowed_imports`] read
//! it, so what `lucetc-wasi` lets a module import is exactly what the
//! runtime provides.

use crate::abi::MODULE;
use crate::block::Stop;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::memory::GuestMemory;
use crate::{args, clock, fd, path, poll, proc, random, sock};
use lucet_runtime::{Caller, Error, FuncType, Linker, Termination, Val, ValType};

/// A wasm parameter type of a WASI function, as the Rust type its
/// implementation takes.
trait Param: Sized {
    const TYPE: ValType;
    fn from_val(v: &Val) -> Option<Self>;
}

impl Param for u32 {
    const TYPE: ValType = ValType::I32;
    fn from_val(v: &Val) -> Option<u32> {
        v.as_i32().map(|x| x as u32)
    }
}

impl Param for u64 {
    const TYPE: ValType = ValType::I64;
    fn from_val(v: &Val) -> Option<u64> {
        v.as_i64().map(|x| x as u64)
    }
}

type Call = fn(&mut WasiCtx, &mut GuestMemory<'_>, &[Val]) -> HostResult;

/// One WASI function.
pub(crate) struct WasiFunc {
    pub name: &'static str,
    params: &'static [ValType],
    /// `false` only for `proc_exit`, which returns nothing.
    pub returns_errno: bool,
    call: Call,
}

macro_rules! wasi_funcs {
    ($( $name:ident => $module:ident ( $($arg:ident : $ty:ty),* ) $(-> $never:tt)? ; )*) => {
        pub(crate) const FUNCS: &[WasiFunc] = &[ $(
            WasiFunc {
                name: stringify!($name),
                params: &[$(<$ty as Param>::TYPE),*],
                returns_errno: wasi_funcs!(@returns $($never)?),
                call: |cx, mem, vals| {
                    #[allow(unused_mut, unused_variables)]
                    let mut it = vals.iter();
                    $( let $arg = it.next().and_then(<$ty as Param>::from_val).ok_or(Errno::Inval)?; )*
                    $module::$name(cx, mem, $($arg),*)
                },
            },
        )* ];
    };
    (@returns) => { true };
    (@returns !) => { false };
}

wasi_funcs! {
    args_get => args(argv: u32, buf: u32);
    args_sizes_get => args(argc: u32, buf_size: u32);
    environ_get => args(environ: u32, buf: u32);
    environ_sizes_get => args(count: u32, buf_size: u32);
    clock_res_get => clock(id: u32, out: u32);
    clock_time_get => clock(id: u32, precision: u64, out: u32);
    fd_advise => fd(fd: u32, offset: u64, len: u64, advice: u32);
    fd_allocate => fd(fd: u32, offset: u64, len: u64);
    fd_close => fd(fd: u32);
    fd_datasync => fd(fd: u32);
    fd_fdstat_get => fd(fd: u32, out: u32);
    fd_fdstat_set_flags => fd(fd: u32, flags: u32);
    fd_fdstat_set_rights => fd(fd: u32, base: u64, inheriting: u64);
    fd_filestat_get => fd(fd: u32, out: u32);
    fd_filestat_set_size => fd(fd: u32, size: u64);
    fd_filestat_set_times => fd(fd: u32, atim: u64, mtim: u64, flags: u32);
    fd_pread => fd(fd: u32, iovs: u32, iovs_len: u32, offset: u64, nread: u32);
    fd_prestat_get => fd(fd: u32, out: u32);
    fd_prestat_dir_name => fd(fd: u32, buf: u32, len: u32);
    fd_pwrite => fd(fd: u32, iovs: u32, iovs_len: u32, offset: u64, nwritten: u32);
    fd_read => fd(fd: u32, iovs: u32, iovs_len: u32, nread: u32);
    fd_readdir => fd(fd: u32, buf: u32, buf_len: u32, cookie: u64, bufused: u32);
    fd_renumber => fd(from: u32, to: u32);
    fd_seek => fd(fd: u32, offset: u64, whence: u32, newoffset: u32);
    fd_sync => fd(fd: u32);
    fd_tell => fd(fd: u32, out: u32);
    fd_write => fd(fd: u32, iovs: u32, iovs_len: u32, nwritten: u32);
    path_create_directory => path(fd: u32, path: u32, len: u32);
    path_filestat_get => path(fd: u32, flags: u32, path: u32, len: u32, out: u32);
    path_filestat_set_times => path(fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst_flags: u32);
    path_link => path(old_fd: u32, old_flags: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
    path_open => path(fd: u32, dirflags: u32, path: u32, len: u32, oflags: u32, base: u64, inheriting: u64, fdflags: u32, out: u32);
    path_readlink => path(fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, bufused: u32);
    path_remove_directory => path(fd: u32, path: u32, len: u32);
    path_rename => path(old_fd: u32, old_path: u32, old_len: u32, new_fd: u32, new_path: u32, new_len: u32);
    path_symlink => path(old_path: u32, old_len: u32, fd: u32, new_path: u32, new_len: u32);
    path_unlink_file => path(fd: u32, path: u32, len: u32);
    poll_oneoff => poll(subs: u32, events: u32, nsubs: u32, nevents: u32);
    proc_exit => proc(code: u32) -> !;
    proc_raise => proc(sig: u32);
    sched_yield => proc();
    random_get => random(buf: u32, len: u32);
    sock_accept => sock(fd: u32, flags: u32, out: u32);
    sock_recv => sock(fd: u32, iovs: u32, iovs_len: u32, flags: u32, nread: u32, oflags: u32);
    sock_send => sock(fd: u32, iovs: u32, iovs_len: u32, flags: u32, nwritten: u32);
    sock_shutdown => sock(fd: u32, how: u32);
}

impl WasiFunc {
    pub fn ty(&self) -> FuncType {
        let results = if self.returns_errno {
            vec![ValType::I32]
        } else {
            vec![]
        };
        FuncType::new(self.params.to_vec(), results)
    }
}

/// Every WASI function as `(module, name, signature)`.
pub fn signatures() -> impl Iterator<Item = (&'static str, &'static str, FuncType)> {
    FUNCS.iter().map(|f| (MODULE, f.name, f.ty()))
}

/// The imports `lucetc` should allow for a WASI program: exactly the
/// functions [`add_to_linker`] provides.
pub fn allowed_imports() -> Vec<lucetc::AllowedImport> {
    signatures()
        .map(|(module, field, ty)| lucetc::AllowedImport {
            module: module.to_string(),
            field: field.to_string(),
            ty,
        })
        .collect()
}

/// The functions that may wait (for a pipe, a socket, a clock...): only
/// they need the run's stop event.
const MAY_WAIT: &[&str] = &[
    "fd_read",
    "fd_write",
    "path_open",
    "poll_oneoff",
    "sock_accept",
    "sock_recv",
    "sock_send",
];

/// Whether function `name` can wait at all.
pub(crate) fn may_wait(name: &str) -> bool {
    MAY_WAIT.contains(&name)
}

/// Whether this call of `f` can wait, and so needs the run's stop event
/// (which the runtime creates on first use: an instance that never waits
/// never has one). Reads and writes wait only on descriptors that can.
fn needs_stop(cx: &WasiCtx, f: &WasiFunc, args: &[Val]) -> bool {
    match f.name {
        "fd_read" | "fd_write" => {
            let fd = args.first().and_then(|v| v.as_i32()).unwrap_or(-1) as u32;
            cx.table.get(fd).is_ok_and(|e| e.may_wait())
        }
        name => MAY_WAIT.contains(&name),
    }
}

/// Run `call` with the instance's [`WasiCtx`] and memory.
pub(crate) fn dispatch(
    caller: &mut Caller<'_>,
    f: &WasiFunc,
    may_wait: bool,
    args: &[Val],
    results: &mut [Val],
) -> Result<(), Error> {
    let wait = may_wait
        && caller
            .context::<WasiCtx>()
            .is_some_and(|cx| needs_stop(cx, f, args));
    let stop = if wait {
        Stop::new(caller.interrupt_fd()?)
    } else {
        Stop::default()
    };
    // The context is moved out for the call so that it and the guest's
    // memory can be borrowed together; it goes back before returning.
    let Some(slot) = caller.context::<WasiCtx>() else {
        return Err(Error::Host(
            format!(
                "{MODULE}::{} called on an instance without a WasiCtx",
                f.name
            )
            .into(),
        ));
    };
    let mut cx = std::mem::take(slot);
    cx.stop = stop;
    let outcome = (f.call)(&mut cx, &mut GuestMemory::new(caller.memory()), args);
    cx.stop = Stop::default();
    if let Some(slot) = caller.context::<WasiCtx>() {
        *slot = cx;
    }
    let errno = match outcome {
        Ok(()) => Errno::Success,
        Err(HostError::Errno(e)) => e,
        Err(HostError::Stop(e)) => return Err(e),
        Err(HostError::Stopped) => {
            // The stop event fired, so the run was stopped: end it with
            // the runtime's reason.
            caller.check_interrupt()?;
            return Err(Error::Terminated(Termination::Interrupted));
        }
    };
    if let Some(r) = results.first_mut() {
        *r = Val::I32(errno as i32);
    }
    Ok(())
}

/// Register every `wasi_snapshot_preview1` function in `linker`. Each
/// instance using them needs a [`WasiCtx`] set as its context.
pub fn add_to_linker(linker: &mut Linker) {
    for f in FUNCS {
        let may_wait = may_wait(f.name);
        linker.func(MODULE, f.name, f.ty(), move |caller, args, results| {
            dispatch(caller, f, may_wait, args, results)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_preview1_function_once() {
        let names: std::collections::BTreeSet<_> = FUNCS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FUNCS.len());
        assert_eq!(FUNCS.len(), 46);
        let open = FUNCS.iter().find(|f| f.name == "path_open").unwrap();
        assert_eq!(
            open.ty().to_string(),
            "(func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))"
        );
        let exit = FUNCS.iter().find(|f| f.name == "proc_exit").unwrap();
        assert!(exit.ty().results.is_empty());
        for name in MAY_WAIT {
            assert!(names.contains(name), "{name}");
        }
    }
}
