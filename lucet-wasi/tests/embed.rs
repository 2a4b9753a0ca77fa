//! The library as an embedder uses it: a WasiCtx per instance with its own
//! arguments, environment, directories and in-memory stdio; and the raw
//! calls (errno values, struct layouts, EFAULT) through a probe module that
//! re-exports every WASI import.

mod common;

use common::*;
use lucet_runtime::{Error, Instance, Limits, Linker, Module, Val};
use lucet_wasi::{ReadPipe, WasiCtx, WasiCtxBuilder, WritePipe};
use std::sync::{Arc, OnceLock};

fn linker() -> Linker {
    let mut l = Linker::new();
    lucet_wasi::add_to_linker(&mut l);
    l
}

fn instance(name: &str, ctx: WasiCtx) -> Instance {
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled(name)) }.unwrap();
    let mut i = Instance::new(&module, &linker(), Limits::default()).unwrap();
    i.set_context(ctx);
    i
}

#[test]
fn stdout_and_stdin_in_memory() {
    let out = WritePipe::new();
    let err = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .arg("cat")
        .stdin(ReadPipe::new(&b"line one\nline two\n"[..]))
        .stdout(out.clone())
        .stderr(err.clone())
        .build()
        .unwrap();
    let mut i = instance("cat_stdin", ctx);
    i.run("_start", &[]).unwrap();
    assert_eq!(out.contents(), b"line one\nline two\n");
    assert_eq!(err.contents(), b"read 18 bytes\n");
}

#[test]
fn args_from_the_builder() {
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .args(["hello", "embedder"])
        .stdout(out.clone())
        .build()
        .unwrap();
    instance("hello", ctx).run("_start", &[]).unwrap();
    assert_eq!(out.contents(), b"Hello from Lucet, embedder!\n");
}

#[test]
fn exit_code_and_context_survive_the_run() {
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .args(["exit", "42"])
        .stdout(out.clone())
        .build()
        .unwrap();
    let mut i = instance("exit_code", ctx);
    match i.run("_start", &[]) {
        Err(Error::Exit(42)) => {}
        other => panic!("expected exit 42, got {other:?}"),
    }
    assert!(i.take_context::<WasiCtx>().is_some());
}

#[test]
fn preopened_dir_from_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .args(["files", "/data"])
        .preopened_dir(dir.path(), "/data")
        .stdout(out.clone())
        .build()
        .unwrap();
    instance("files", ctx).run("_start", &[]).unwrap();
    let text = String::from_utf8(out.contents()).unwrap();
    assert!(text.ends_with("done\n"), "{text}");
}

#[test]
fn missing_context_is_an_error_not_a_crash() {
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled("hello")) }.unwrap();
    let mut i = Instance::new(&module, &linker(), Limits::default()).unwrap();
    match i.run("_start", &[]) {
        Err(Error::Host(e)) => assert!(e.to_string().contains("WasiCtx"), "{e}"),
        other => panic!("expected a host error, got {other:?}"),
    }
}

#[test]
fn many_instances_in_parallel_keep_their_own_stdio() {
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled("hello")) }.unwrap();
    let linker = Arc::new(linker());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let module = module.clone();
            let linker = linker.clone();
            std::thread::spawn(move || {
                for k in 0..20 {
                    let out = WritePipe::new();
                    let name = format!("t{t}k{k}");
                    let ctx = WasiCtxBuilder::new()
                        .args(["hello", name.as_str()])
                        .stdout(out.clone())
                        .build()
                        .unwrap();
                    let mut i = Instance::new(&module, &linker, Limits::default()).unwrap();
                    i.set_context(ctx);
                    i.run("_start", &[]).unwrap();
                    assert_eq!(
                        out.contents(),
                        format!("Hello from Lucet, {name}!\n").as_bytes()
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn arguments_and_environment_are_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ctx = WasiCtxBuilder::new()
        .arg(OsStr::from_bytes(b"\xff"))
        .env("K", OsStr::from_bytes(b"v\xfe"))
        .build()
        .unwrap();
    let mut p = Probe::new(ctx);
    assert_eq!(p.call32("args_get", &[0x10, 0x20]), 0);
    assert_eq!(&p.mem()[0x20..0x22], b"\xff\0");
    assert_eq!(p.call32("environ_get", &[0x10, 0x20]), 0);
    assert_eq!(&p.mem()[0x20..0x25], b"K=v\xfe\0");
    // NUL cannot be passed in a C string.
    let e = WasiCtxBuilder::new()
        .env("K", OsStr::from_bytes(b"a\0\xff"))
        .build()
        .err()
        .expect("NUL in a value");
    assert!(e.to_string().contains("NUL"), "{e}");
}

#[test]
fn builder_rejects_bad_input() {
    assert!(WasiCtxBuilder::new().arg("a\0b").build().is_err());
    assert!(WasiCtxBuilder::new().env("A=B", "c").build().is_err());
    let e = WasiCtxBuilder::new()
        .preopened_dir("/nonexistent/dir", "/x")
        .build()
        .err()
        .expect("missing dir");
    assert!(e.to_string().contains("/nonexistent/dir"), "{e}");
}

// ---- the probe: every WASI function re-exported under its own name ----

/// A module importing every WASI function and exporting a wrapper with
/// the same name and signature, plus one page of memory.
fn probe() -> &'static Arc<Module> {
    use lucet_module::wasi_preview1::{FUNCTIONS, MODULE as module};
    static PROBE: OnceLock<(tempfile::TempDir, Arc<Module>)> = OnceLock::new();
    &PROBE
        .get_or_init(|| {
            let mut wat = String::from("(module\n");
            let mut exports = String::new();
            for f in FUNCTIONS {
                let (name, ty) = (f.name, f.ty());
                let params: Vec<String> = ty.params.iter().map(|t| t.to_string()).collect();
                let results: Vec<String> = ty.results.iter().map(|t| t.to_string()).collect();
                let sig = format!(
                    "(param {}) (result {})",
                    params.join(" "),
                    results.join(" ")
                );
                wat += &format!("  (import \"{module}\" \"{name}\" (func ${name} {sig}))\n");
                let gets: String = (0..params.len())
                    .map(|i| format!(" (local.get {i})"))
                    .collect();
                exports += &format!("  (func (export \"{name}\") {sig} (call ${name}{gets}))\n");
            }
            wat += &exports;
            wat += "  (memory (export \"memory\") 1))\n";
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("probe.wat");
            let so = dir.path().join("probe.so");
            std::fs::write(&src, wat).unwrap();
            let options = lucetc::Options {
                allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
                ..lucetc::Options::default()
            };
            lucetc::compile_file(&src, &so, &options).unwrap();
            // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
            let m = unsafe { Module::load_unverified(&so) }.unwrap();
            (dir, m)
        })
        .1
}

struct Probe {
    i: Instance,
}

fn i32s(args: &[i64]) -> Vec<Val> {
    args.iter().map(|&a| Val::I32(a as i32)).collect()
}

impl Probe {
    fn new(ctx: WasiCtx) -> Probe {
        let mut i = Instance::new(probe(), &linker(), Limits::default()).unwrap();
        i.set_context(ctx);
        Probe { i }
    }

    /// Call `name` with `args` (i64 where the signature says so) and return
    /// the errno.
    fn call(&mut self, name: &str, args: &[Val]) -> i32 {
        let r = self
            .i
            .run(name, args)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        r[0].as_i32().unwrap()
    }

    fn call32(&mut self, name: &str, args: &[i64]) -> i32 {
        self.call(name, &i32s(args))
    }

    fn mem(&mut self) -> &mut [u8] {
        self.i.memory()
    }

    fn u32_at(&mut self, at: usize) -> u32 {
        u32::from_le_bytes(self.mem()[at..at + 4].try_into().unwrap())
    }

    fn u64_at(&mut self, at: usize) -> u64 {
        u64::from_le_bytes(self.mem()[at..at + 8].try_into().unwrap())
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.mem()[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// path_open(dirfd, path at 0x100, ...) → (errno, new fd).
    fn open(
        &mut self,
        dirfd: i64,
        path: &str,
        oflags: i64,
        base: u64,
        dirflags: i64,
    ) -> (i32, u32) {
        self.put(0x100, path.as_bytes());
        let args = vec![
            Val::I32(dirfd as i32),
            Val::I32(dirflags as i32),
            Val::I32(0x100),
            Val::I32(path.len() as i32),
            Val::I32(oflags as i32),
            Val::I64(base as i64),
            Val::I64(-1),
            Val::I32(0),
            Val::I32(0x80),
        ];
        let e = self.call("path_open", &args);
        (e, self.u32_at(0x80))
    }
}

const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const EISDIR: i32 = 31;
const ENAMETOOLONG: i32 = 37;
const ENOENT: i32 = 44;
const ENOTSUP: i32 = 58;
const ENOTDIR: i32 = 54;
const ENOTSOCK: i32 = 57;
const EPERM: i32 = 63;
const ESPIPE: i32 = 70;
const ENOTCAPABLE: i32 = 76;
const FD_READ: u64 = 1 << 1;
const FD_SEEK: u64 = 1 << 2;
const FD_WRITE: u64 = 1 << 6;
const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;

fn sandbox_probe() -> (Probe, tempfile::TempDir, WritePipe) {
    let dir = tempfile::tempdir().unwrap();
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .arg("probe")
        .env("K", "V")
        .preopened_dir(dir.path(), "/sandbox")
        .stdout(out.clone())
        .build()
        .unwrap();
    (Probe::new(ctx), dir, out)
}

#[test]
fn errno_values_for_bad_descriptors_and_unsupported_calls() {
    let (mut p, _dir, _) = sandbox_probe();
    assert_eq!(p.call32("fd_close", &[99]), EBADF);
    assert_eq!(p.call32("fd_renumber", &[1, 99]), EBADF);
    assert_eq!(p.call32("fd_prestat_get", &[0, 0]), EBADF);
    assert_eq!(p.call32("fd_prestat_get", &[4, 0]), EBADF);
    assert_eq!(p.call32("sock_shutdown", &[1, 0]), ENOTSOCK);
    assert_eq!(p.call32("sock_shutdown", &[99, 0]), EBADF);
    assert_eq!(p.call32("sock_accept", &[3, 0, 0]), ENOTSOCK);
    // Signals are not delivered; Wasmtime's answer.
    assert_eq!(p.call32("proc_raise", &[6]), ENOTSUP);
    assert_eq!(p.call32("proc_raise", &[31]), EINVAL);
    assert_eq!(p.call32("poll_oneoff", &[0, 0, 0, 0]), EINVAL);
    assert_eq!(
        p.call("clock_time_get", &[Val::I32(9), Val::I64(0), Val::I32(0)]),
        EINVAL
    );
    assert_eq!(p.call32("sched_yield", &[]), 0);
    let seek = [Val::I32(1), Val::I64(0), Val::I32(0), Val::I32(0)];
    assert_eq!(p.call("fd_seek", &seek), ESPIPE);
    // path calls on a descriptor that is not a directory
    assert_eq!(p.open(1, "x", 0, 0, 0).0, ENOTDIR);
    let readdir = [
        Val::I32(1),
        Val::I32(0),
        Val::I32(0),
        Val::I64(0),
        Val::I32(0),
    ];
    assert_eq!(p.call("fd_readdir", &readdir), ENOTDIR);
}

#[test]
fn bad_guest_pointers_are_efault() {
    let (mut p, _dir, out) = sandbox_probe();
    let end = 65536;
    // iovec table past the end of memory
    assert_eq!(p.call32("fd_write", &[1, end - 4, 1, 0]), EFAULT);
    // an iovec whose buffer runs past the end
    p.put(0, &(end as u32 - 2).to_le_bytes());
    p.put(4, &10u32.to_le_bytes());
    assert_eq!(p.call32("fd_write", &[1, 0, 1, 16]), EFAULT);
    assert_eq!(p.call32("fd_read", &[0, 0, 1, 16]), EFAULT);
    assert_eq!(p.call32("args_sizes_get", &[end - 2, 0]), EFAULT);
    assert_eq!(p.call32("args_get", &[0, end - 1]), EFAULT);
    assert_eq!(p.call32("random_get", &[end - 10, 100]), EFAULT);
    assert_eq!(p.call32("random_get", &[0, u32::MAX as i64]), EFAULT);
    assert_eq!(p.call32("fd_fdstat_get", &[1, end - 8]), EFAULT);
    assert_eq!(p.call32("poll_oneoff", &[end - 8, 0, 1, 0]), EFAULT);
    assert_eq!(p.call32("path_create_directory", &[3, end - 1, 5]), EFAULT);
    assert_eq!(p.call32("fd_prestat_dir_name", &[3, end - 2, 8]), EFAULT);
    assert!(out.contents().is_empty());
}

#[test]
fn args_environ_and_stdout() {
    let (mut p, _dir, out) = sandbox_probe();
    assert_eq!(p.call32("args_sizes_get", &[0, 4]), 0);
    assert_eq!((p.u32_at(0), p.u32_at(4)), (1, 6));
    assert_eq!(p.call32("args_get", &[0x10, 0x20]), 0);
    assert_eq!(p.u32_at(0x10), 0x20);
    assert_eq!(&p.mem()[0x20..0x26], b"probe\0");
    assert_eq!(p.call32("environ_sizes_get", &[0, 4]), 0);
    assert_eq!((p.u32_at(0), p.u32_at(4)), (1, 4));
    assert_eq!(p.call32("environ_get", &[0x10, 0x20]), 0);
    assert_eq!(&p.mem()[0x20..0x24], b"K=V\0");
    // gathering write of two buffers
    p.put(0x40, b"ab");
    p.put(0x50, b"cde");
    for (at, v) in [(0, 0x40u32), (4, 2), (8, 0x50), (12, 3)] {
        p.put(at, &v.to_le_bytes());
    }
    assert_eq!(p.call32("fd_write", &[1, 0, 2, 0x60]), 0);
    assert_eq!(p.u32_at(0x60), 5);
    assert_eq!(out.contents(), b"abcde");
}

#[test]
fn struct_layouts() {
    let (mut p, dir, _) = sandbox_probe();
    // prestat: tag u8 at 0, name length u32 at 4
    p.put(0x200, &[0xff; 8]);
    assert_eq!(p.call32("fd_prestat_get", &[3, 0x200]), 0);
    assert_eq!(p.mem()[0x200], 0);
    assert_eq!(p.u32_at(0x204), 8);
    assert_eq!(p.call32("fd_prestat_dir_name", &[3, 0x210, 8]), 0);
    assert_eq!(&p.mem()[0x210..0x218], b"/sandbox");
    assert_eq!(
        p.call32("fd_prestat_dir_name", &[3, 0x210, 3]),
        ENAMETOOLONG
    );

    // fdstat: filetype u8 at 0, flags u16 at 2, rights u64 at 8 and 16
    assert_eq!(p.call32("fd_fdstat_get", &[3, 0x300]), 0);
    assert_eq!(p.mem()[0x300], 3); // directory
    let base = p.u64_at(0x308);
    assert_eq!(base & FD_FILESTAT_SET_SIZE, 0);
    assert_eq!(base & (FD_READ | FD_WRITE | FD_SEEK), 0);
    assert_eq!(p.u64_at(0x310) & (FD_READ | FD_WRITE), FD_READ | FD_WRITE);

    // a file: create, write, filestat (size u64 at 32, filetype u8 at 16)
    let (e, fd) = p.open(
        3,
        "f.txt",
        1, /* creat */
        FD_READ | FD_WRITE | FD_SEEK | (1 << 21),
        0,
    );
    assert_eq!(e, 0);
    assert_eq!(fd, 4);
    p.put(0x400, b"hello");
    p.put(0, &0x400u32.to_le_bytes());
    p.put(4, &5u32.to_le_bytes());
    assert_eq!(p.call32("fd_write", &[4, 0, 1, 8]), 0);
    assert_eq!(p.call32("fd_filestat_get", &[4, 0x500]), 0);
    assert_eq!(p.mem()[0x510], 4);
    assert_eq!(p.u64_at(0x520), 5);
    assert_eq!(p.u64_at(0x518), 1); // nlink
    assert_eq!(p.call32("fd_fdstat_get", &[4, 0x300]), 0);
    assert_eq!(p.mem()[0x300], 4);
    assert_eq!(p.call32("fd_tell", &[4, 0x600]), 0);
    assert_eq!(p.u64_at(0x600), 5);
    assert_eq!(std::fs::read(dir.path().join("f.txt")).unwrap(), b"hello");

    // dirent: next u64, ino u64, namlen u32 at 16, type u8 at 20, name at 24
    let readdir = [
        Val::I32(3),
        Val::I32(0x1000),
        Val::I32(4096),
        Val::I64(0),
        Val::I32(0xff0),
    ];
    assert_eq!(p.call("fd_readdir", &readdir), 0);
    let used = p.u32_at(0xff0) as usize;
    assert_eq!(used, 3 * 24 + 1 + 2 + 5);
    assert_eq!(p.u64_at(0x1000), 1);
    assert_eq!(p.u32_at(0x1010), 1);
    assert_eq!(p.mem()[0x1014], 3);
    assert_eq!(p.mem()[0x1018], b'.');
    let third = 0x1000 + 24 + 1 + 24 + 2;
    assert_eq!(p.u64_at(third), 3);
    assert_eq!(p.u32_at(third + 16), 5);
    assert_eq!(p.mem()[third + 20], 4);
    assert_eq!(&p.mem()[third + 24..third + 29], b"f.txt");
    // from cookie 2, with a buffer too small for the whole entry
    let readdir = [
        Val::I32(3),
        Val::I32(0x2000),
        Val::I32(10),
        Val::I64(2),
        Val::I32(0xff0),
    ];
    assert_eq!(p.call("fd_readdir", &readdir), 0);
    assert_eq!(p.u32_at(0xff0), 10);
    assert_eq!(p.u64_at(0x2000), 3);

    // poll_oneoff: subscription (48 bytes) in, event (32 bytes) out
    let mut sub = [0u8; 48];
    sub[0..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    sub[8] = 0; // clock
    sub[16..20].copy_from_slice(&1u32.to_le_bytes()); // monotonic
    sub[24..32].copy_from_slice(&1_000_000u64.to_le_bytes()); // 1ms
    let mut sub2 = [0u8; 48];
    sub2[0..8].copy_from_slice(&7u64.to_le_bytes());
    sub2[8] = 1; // fd_read
    sub2[16..20].copy_from_slice(&4u32.to_le_bytes());
    p.put(0x3000, &sub);
    p.put(0x3030, &sub2);
    assert_eq!(p.call32("poll_oneoff", &[0x3000, 0x4000, 1, 0x3ff0]), 0);
    assert_eq!(p.u32_at(0x3ff0), 1);
    assert_eq!(p.u64_at(0x4000), 0x1122_3344_5566_7788);
    assert_eq!(u16::from_le_bytes([p.mem()[0x4008], p.mem()[0x4009]]), 0);
    assert_eq!(p.mem()[0x400a], 0);
    // the file is readable at once; the clock has not fired yet
    assert_eq!(p.call32("poll_oneoff", &[0x3000, 0x4000, 2, 0x3ff0]), 0);
    assert_eq!(p.u32_at(0x3ff0), 1);
    assert_eq!(p.u64_at(0x4000), 7);
    assert_eq!(p.mem()[0x400a], 1);
}

#[test]
fn rights_are_enforced() {
    let (mut p, _dir, _) = sandbox_probe();
    let (e, fd) = p.open(3, "r.txt", 1, FD_READ | FD_WRITE | FD_SEEK, 0);
    assert_eq!(e, 0);
    let fd = fd as i64;
    // drop FD_WRITE: writes are refused (EBADF, as for a host descriptor
    // not open for writing), and the right cannot be regained
    let set = |base: u64| [Val::I32(fd as i32), Val::I64(base as i64), Val::I64(0)];
    assert_eq!(p.call("fd_fdstat_set_rights", &set(FD_READ | FD_SEEK)), 0);
    p.put(0, &0x400u32.to_le_bytes());
    p.put(4, &1u32.to_le_bytes());
    assert_eq!(p.call32("fd_write", &[fd, 0, 1, 8]), EBADF);
    assert_eq!(
        p.call("fd_fdstat_set_rights", &set(FD_READ | FD_WRITE)),
        ENOTCAPABLE
    );
    // read-only open: no write right
    let (e, ro) = p.open(3, "r.txt", 0, FD_READ, 0);
    assert_eq!(e, 0);
    assert_eq!(p.call32("fd_write", &[ro as i64, 0, 1, 8]), EBADF);
    // a missing right other than reading or writing is ENOTCAPABLE
    let seek = [
        Val::I32(fd as i32),
        Val::I64(0),
        Val::I32(0),
        Val::I32(0x10),
    ];
    assert_eq!(p.call("fd_seek", &seek), 0);
    assert_eq!(p.call("fd_fdstat_set_rights", &set(FD_READ)), 0);
    assert_eq!(p.call("fd_seek", &seek), ENOTCAPABLE);
    // directories cannot be opened for writing
    assert_eq!(
        p.open(3, ".", 2 /* directory */, FD_READ | FD_WRITE, 0).0,
        EISDIR
    );
    assert_eq!(p.open(3, ".", 2, FD_READ, 0).0, 0);
}

#[test]
fn paths_cannot_leave_the_preopen() {
    let (mut p, dir, _) = sandbox_probe();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.path().join("etc-link")).unwrap();
    std::os::unix::fs::symlink("../..", dir.path().join("sub/up2")).unwrap();
    for path in [
        "/etc/passwd",
        "../x",
        "sub/../../x",
        "etc-link/passwd",
        "sub/up2/x",
    ] {
        let e = p.open(3, path, 0, FD_READ, 1).0;
        assert_eq!(e, EPERM, "{path}");
    }
    assert_eq!(p.open(3, "sub/../missing", 0, FD_READ, 1).0, ENOENT);
    // symlink creation with an absolute target is refused
    p.put(0x100, b"/etc/passwd");
    p.put(0x200, b"abs");
    assert_eq!(p.call32("path_symlink", &[0x100, 11, 3, 0x200, 3]), EPERM);
    // readlink of the host's absolute link is refused too
    p.put(0x100, b"etc-link");
    assert_eq!(
        p.call32("path_readlink", &[3, 0x100, 8, 0x300, 64, 0x2f0]),
        EPERM
    );
    // NUL inside a path
    assert_eq!(p.open(3, "a\0b", 0, FD_READ, 0).0, EINVAL);
}

#[test]
fn proc_exit_ends_the_run() {
    let (mut p, _dir, _) = sandbox_probe();
    match p.i.run("proc_exit", &[Val::I32(7)]) {
        Err(Error::Exit(7)) => {}
        other => panic!("expected exit 7, got {other:?}"),
    }
}

#[test]
fn readdir_in_random_pieces_lists_every_entry_once() {
    // Directories of random byte names (not UTF-8, mostly), read back with
    // random buffer sizes the way libc does: complete entries count, the
    // next call starts at the last complete entry's cookie, and a buffer
    // not filled means the end.
    use std::collections::BTreeSet;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    for seed in 0..30 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (mut p, dir, _) = sandbox_probe();
        let count = rng.usize(0..50);
        let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
        while names.len() < count {
            let len = rng.usize(1..40);
            let name: Vec<u8> = (0..len)
                .map(|_| loop {
                    let b = rng.u8(1..=255);
                    if b != b'/' {
                        break b;
                    }
                })
                .collect();
            if name != b"." && name != b".." {
                names.insert(name);
            }
        }
        for n in &names {
            std::fs::write(dir.path().join(OsStr::from_bytes(n)), "").unwrap();
        }
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut cookie = 0u64;
        for _ in 0..10_000 {
            let buf_len = rng.u32(1..400);
            let args = [
                Val::I32(3),
                Val::I32(0x1000),
                Val::I32(buf_len as i32),
                Val::I64(cookie as i64),
                Val::I32(0xff0),
            ];
            assert_eq!(p.call("fd_readdir", &args), 0);
            let used = p.u32_at(0xff0) as usize;
            assert!(used <= buf_len as usize);
            let buf = p.mem()[0x1000..0x1000 + used].to_vec();
            let mut at = 0;
            while used - at >= 24 {
                let namlen = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
                if used - at - 24 < namlen {
                    break;
                }
                cookie = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
                seen.push(buf[at + 24..at + 24 + namlen].to_vec());
                at += 24 + namlen;
            }
            if used < buf_len as usize {
                break;
            }
        }
        let mut expected: Vec<Vec<u8>> = names.into_iter().collect();
        expected.push(b".".to_vec());
        expected.push(b"..".to_vec());
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected, "seed {seed}");
    }
}
