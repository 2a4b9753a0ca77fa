//! The implementation of every `wasi_snapshot_preview1` function. Each
//! one's signature is taken from [`lucet_module::wasi_preview1`], the table
//! `lucetc-wasi` allows imports from, and checked against it when this
//! crate is compiled: an implementation missing from the table, or whose
//! argument types differ from it, does not build, and a test checks that
//! every function of the table is implemented.

use crate::abi::MODULE;
use crate::block::Stop;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::memory::GuestMemory;
use crate::{args, clock, fd, path, poll, proc, random, sock};
use lucet_module::wasi_preview1::{self, Function};
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

/// One WASI function: its signature in the table and its implementation.
pub(crate) struct WasiFunc {
    pub name: &'static str,
    signature: &'static Function,
    call: Call,
}

/// The table's entry for the implementation `name` taking `params`, which
/// returns an errno unless `never_returns`. Evaluated at compile time, so a
/// mismatch is a build error.
const fn signature(name: &str, params: &[ValType], never_returns: bool) -> &'static Function {
    let Some(f) = wasi_preview1::function(name) else {
        panic!("a WASI implementation is not in lucet_module::wasi_preview1");
    };
    if !wasi_preview1::types_eq(f.params, params) {
        panic!("a WASI implementation's argument types differ from lucet_module::wasi_preview1");
    }
    let errno: &[ValType] = if never_returns { &[] } else { &[ValType::I32] };
    if !wasi_preview1::types_eq(f.results, errno) {
        panic!("a WASI implementation's result differs from lucet_module::wasi_preview1");
    }
    f
}

macro_rules! wasi_funcs {
    ($( $name:ident => $module:ident ( $($arg:ident : $ty:ty),* ) $(-> $never:tt)? ; )*) => {
        pub(crate) const FUNCS: &[WasiFunc] = &[ $(
            WasiFunc {
                name: stringify!($name),
                signature: const {
                    signature(
                        stringify!($name),
                        &[$(<$ty as Param>::TYPE),*],
                        wasi_funcs!(@never $($never)?),
                    )
                },
                call: |cx, mem, vals| {
                    #[allow(unused_mut, unused_variables)]
                    let mut it = vals.iter();
                    $( let $arg = it.next().and_then(<$ty as Param>::from_val).ok_or(Errno::Inval)?; )*
                    $module::$name(cx, mem, $($arg),*)
                },
            },
        )* ];
    };
    (@never) => { false };
    (@never !) => { true };
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
    /// Its signature, from the table.
    pub fn ty(&self) -> FuncType {
        self.signature.ty()
    }

    /// Whether it returns an errno (all but `proc_exit`, which returns
    /// nothing).
    pub fn returns_errno(&self) -> bool {
        !self.signature.results.is_empty()
    }
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
    fn every_function_of_the_table_is_implemented_and_nothing_else() {
        let implemented: std::collections::BTreeSet<_> = FUNCS.iter().map(|f| f.name).collect();
        assert_eq!(implemented.len(), FUNCS.len(), "implemented twice");
        let table: std::collections::BTreeSet<_> =
            wasi_preview1::FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(
            table.difference(&implemented).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in lucet_module::wasi_preview1 but not implemented"
        );
        assert_eq!(
            implemented.difference(&table).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "implemented but not in lucet_module::wasi_preview1"
        );
        for f in FUNCS {
            assert_eq!(Some(f.signature), wasi_preview1::function(f.name));
            assert_eq!(f.ty(), f.signature.ty());
        }
        assert_eq!(MODULE, wasi_preview1::MODULE);
        let exit = FUNCS.iter().find(|f| f.name == "proc_exit").unwrap();
        assert!(!exit.returns_errno() && exit.ty().results.is_empty());
        for name in MAY_WAIT {
            assert!(implemented.contains(name), "{name}");
        }
    }
}
