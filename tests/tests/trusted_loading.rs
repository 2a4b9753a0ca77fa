//! Trusted artifacts: the loader runs nothing it has not verified.
//!
//! Signed modules refuse any changed byte; unsigned ones are still checked
//! for structure and code hash; objects lucetc would not produce are
//! refused before the dynamic loader sees them (their constructors never
//! run); special files are refused without being read; and an updated
//! module at the same path loads its new code.
//!
//! The constructor and DT_NEEDED objects are built here from the C sources
//! in tests/fixtures/elf with the system `cc`, linked with a real lucetc
//! object the way lucetc links, and given a correct code hash (as an
//! attacker would), so only the check under test can refuse them.

use lucet_runtime::{Error, Instance, Limits, LoadOptions, Module, PublicKey, TrustedKeys, Val};
use lucetc::signing::{generate_keypair, load_secret_key, sign_file, sign_file_with, Password};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const WAT: &str = r#"
(module
  (memory 1)
  (data (i32.const 64) "tamper-evident data")
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "peek") (result i32) (i32.load8_u (i32.const 64))))
"#;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/elf")
}

/// A key pair in `dir`: the secret key and the trusted-key set of its
/// public key.
fn keys(dir: &Path, name: &str) -> (lucetc::signing::SecretKey, TrustedKeys) {
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    generate_keypair(&secret, &public, Password::None).unwrap();
    (
        load_secret_key(&secret, Password::None).unwrap(),
        TrustedKeys::new().with(PublicKey::from_file(&public).unwrap()),
    )
}

/// The error of loading `path` under `options`, which must fail, as one line.
fn refused(path: &Path, options: &LoadOptions) -> (Error, String) {
    // SAFETY: the refused objects are lucetc's output, changed by this test
    // only in ways the loader must refuse before it runs anything; an
    // unexpected success fails the test before anything of it runs.
    match unsafe { Module::load_with(path, options) } {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => {
            let msg = e.to_string();
            assert_eq!(msg.lines().count(), 1, "one line: {msg}");
            assert!(
                msg.contains(&path.display().to_string()),
                "names the file: {msg}"
            );
            (e, msg)
        }
    }
}

fn run(m: &Arc<Module>, f: &str, args: &[Val]) -> Vec<Val> {
    let mut i = Instance::new(m, &lucet_runtime::Linker::new(), Limits::default()).unwrap();
    i.run(f, args).unwrap()
}

/// File offsets of a byte in `.text`, in a data segment's contents, in the
/// module data's header and in `.dynstr`.
fn places(bytes: &[u8]) -> Vec<(&'static str, usize)> {
    let file = object::File::parse(bytes).unwrap();
    let section = |name: &str| file.section_by_name(name).unwrap().file_range().unwrap();
    let text = section(".text");
    let dynstr = section(".dynstr");
    let data = file
        .dynamic_symbols()
        .find(|s| s.name() == Ok("lucet_module_data"))
        .unwrap();
    let rodata = file.section_by_name(".rodata").unwrap();
    let data_at = (rodata.file_range().unwrap().0 + data.address() - rodata.address()) as usize;
    let segment_bytes = bytes
        .windows(14)
        .position(|w| w == b"tamper-evident")
        .unwrap();
    vec![
        (".text", (text.0 + text.1 / 2) as usize),
        (".rodata: a data segment's contents", segment_bytes + 3),
        (".rodata: the module data header", data_at + 9),
        (".rodata: the module data payload", data_at + 40),
        (".dynstr", (dynstr.0 + 3) as usize),
        ("the section headers (not loaded)", bytes.len() - 20),
    ]
}

/// A signature vouches for a file under its name, and for the version
/// items the signer put in its trusted comment: another file signed by the
/// same key, or an older build of this one, does not stand in for it.
#[test]
fn a_signature_is_bound_to_its_file_name_and_required_version() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, trusted) = keys(dir.path(), "k");
    let version = |n: i32| format!(r#"(module (func (export "v") (result i32) (i32.const {n})))"#);
    let (a, b) = (dir.path().join("a.so"), dir.path().join("b.so"));
    lucetc::compile_to_file(version(1).as_bytes(), &a, &Default::default()).unwrap();
    lucetc::compile_to_file(version(2).as_bytes(), &b, &Default::default()).unwrap();
    let item = |v: &str| vec![("version".to_string(), v.to_string())];
    sign_file_with(&a, &secret, &item("1")).unwrap();
    sign_file_with(&b, &secret, &item("2")).unwrap();
    let v2 = LoadOptions::verified(trusted.clone()).require_signed("version", "2");
    assert_eq!(
        run(&Module::load_verified_with(&b, &v2).unwrap(), "v", &[]),
        vec![Val::I32(2)]
    );
    // The older signed build refused where version 2 is required.
    let (e, msg) = refused(&a, &v2);
    assert!(
        matches!(e, Error::Signature { .. }) && msg.contains("requires version:2"),
        "{msg}"
    );
    // b.so and its signature put in a.so's place: signed for another name.
    std::fs::copy(&b, &a).unwrap();
    std::fs::copy(
        lucet_runtime::signature_path(&b),
        lucet_runtime::signature_path(&a),
    )
    .unwrap();
    let (e, msg) = refused(&a, &LoadOptions::verified(trusted.clone()));
    assert!(
        matches!(e, Error::Signature { .. }) && msg.contains("made for file \"b.so\""),
        "{msg}"
    );
    // Items lucetc writes itself, or that would break the comment's form,
    // are refused at signing.
    for (f, v) in [("file", "a.so"), ("ver\tsion", "1"), ("version", "1\n2")] {
        let bad = vec![(f.to_string(), v.to_string())];
        assert!(sign_file_with(&b, &secret, &bad).is_err(), "{f:?}:{v:?}");
    }
    // A safe load demands keys.
    let (e, _) = refused_safely(&b, &LoadOptions::unverified());
    assert!(matches!(e, Error::Signature { .. }));
}

/// The error of a safe, verified load of `path` under `options`.
fn refused_safely(path: &Path, options: &LoadOptions) -> (Error, String) {
    match Module::load_verified_with(path, options) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => {
            let msg = e.to_string();
            (e, msg)
        }
    }
}

#[test]
fn a_signed_module_refuses_any_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, trusted) = keys(dir.path(), "k");
    let (_, other) = keys(dir.path(), "other");
    let so = dir.path().join("m.so");
    lucetc::compile_to_file(WAT.as_bytes(), &so, &lucetc::Options::default()).unwrap();
    sign_file(&so, &secret).unwrap();
    let m = Module::load_verified(&so, &trusted).unwrap();
    assert_eq!(m.signed_by(), trusted.ids().next());
    assert_eq!(
        run(&m, "add", &[Val::I32(2), Val::I32(3)]),
        vec![Val::I32(5)]
    );
    assert_eq!(run(&m, "peek", &[]), vec![Val::I32(b't' as i32)]);
    drop(m);

    // The wrong key, or no signature, is refused.
    let (_, msg) = refused(&so, &LoadOptions::verified(other));
    assert!(msg.contains("not trusted"), "{msg}");
    let sig = lucet_runtime::signature_path(&so);
    let sig_bytes = std::fs::read(&sig).unwrap();
    std::fs::remove_file(&sig).unwrap();
    let (e, msg) = refused(&so, &LoadOptions::verified(trusted.clone()));
    assert!(
        matches!(e, Error::Signature { .. }) && msg.contains("unsigned"),
        "{msg}"
    );
    std::fs::write(&sig, &sig_bytes).unwrap();

    let original = std::fs::read(&so).unwrap();
    for (what, at) in places(&original) {
        let mut b = original.clone();
        b[at] ^= 0x01;
        std::fs::write(&so, &b).unwrap();
        let (e, msg) = refused(&so, &LoadOptions::verified(trusted.clone()));
        assert!(
            matches!(e, Error::Signature { .. }) && msg.contains("does not match the file"),
            "{what}: {msg}"
        );
        // Without a signature the code hash still catches it (or, in the
        // dynamic string table, the structure check that comes first).
        let (e, msg) = refused(&so, &LoadOptions::unverified());
        assert!(matches!(e, Error::InvalidModule { .. }), "{what}: {msg}");
        if what != ".dynstr" {
            assert!(
                msg.contains("code hash") || msg.contains("module data"),
                "{what}: {msg}"
            );
        }
    }
    std::fs::write(&so, &original).unwrap();
    Module::load_verified(&so, &trusted).unwrap();
}

/// Link lucetc's object for `wat` with extra C code the way lucetc links,
/// then record the code hash (and so look genuine but for the extra).
fn link_with(dir: &Path, name: &str, wat: &str, extra: &[&str]) -> PathBuf {
    let compiled = lucetc::compile(
        &lucetc::wasm_from_bytes(wat.as_bytes()).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&obj, &compiled.object).unwrap();
    let so = dir.join(format!("{name}.so"));
    let status = Command::new("cc")
        .args([
            "-shared",
            "-nostartfiles",
            "-Wl,-z,noexecstack",
            "-Wl,-z,relro,-z,now",
        ])
        // No unwind tables: those would be refused first.
        .args([
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
            "-O0",
        ])
        .arg("-o")
        .arg(&so)
        .arg(&obj)
        .args(extra)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc links {name}");
    let mut bytes = std::fs::read(&so).unwrap();
    lucetc::record_code_hash(&mut bytes).unwrap();
    std::fs::write(&so, bytes).unwrap();
    so
}

fn marker_define(marker: &Path) -> String {
    format!("-DMARKER=\"{}\"", marker.display())
}

#[test]
fn constructors_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("constructor-ran");
    let ctor = fixtures().join("constructor.c");
    let so = link_with(
        dir.path(),
        "ctor",
        WAT,
        &[&marker_define(&marker), ctor.to_str().unwrap()],
    );
    let (_, msg) = refused(&so, &LoadOptions::unverified());
    assert!(msg.contains("DT_INIT_ARRAY"), "{msg}");
    // Signed by a trusted key, it is refused all the same.
    let (secret, trusted) = keys(dir.path(), "k");
    sign_file(&so, &secret).unwrap();
    let (_, msg) = refused(&so, &LoadOptions::verified(trusted));
    assert!(msg.contains("constructors (DT_INIT_ARRAY)"), "{msg}");
    assert!(!marker.exists(), "the constructor ran");
}

#[test]
fn unexpected_needed_libraries_are_refused_and_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("library-loaded");
    let lib = dir.path().join("libneeded.so");
    // Its soname is its absolute path, so the DT_NEEDED entry names a file
    // the dynamic loader would find and load (running its constructor).
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(format!("-Wl,-soname,{}", lib.display()))
        .arg(marker_define(&marker))
        .arg(fixtures().join("needed.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let so = link_with(
        dir.path(),
        "needs",
        WAT,
        &["-Wl,--no-as-needed", lib.to_str().unwrap()],
    );
    let (_, msg) = refused(&so, &LoadOptions::unverified());
    assert!(
        msg.contains("libneeded.so, which") && msg.contains("DT_NEEDED"),
        "{msg}"
    );
    assert!(!marker.exists(), "the needed library was loaded");
}

#[test]
fn an_object_calling_libm_loads() {
    // What a module compiled for a CPU without SSE4.1 looks like: DT_NEEDED
    // libm.so.6, a PLT slot for floor, symbol versions. The loader accepts
    // it, and its lucetc code runs.
    let dir = tempfile::tempdir().unwrap();
    let libm = fixtures().join("uses_libm.c");
    let so = link_with(
        dir.path(),
        "libm",
        WAT,
        &[libm.to_str().unwrap(), "-Wl,--no-as-needed", "-lm"],
    );
    let out = Command::new("readelf")
        .arg("-dW")
        .arg(&so)
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(
        dynamic.contains("libm.so.6") && dynamic.contains("VERNEED"),
        "{dynamic}"
    );
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let m = unsafe { Module::load_unverified(&so) }.unwrap();
    assert_eq!(
        run(&m, "add", &[Val::I32(40), Val::I32(2)]),
        vec![Val::I32(42)]
    );
}

#[test]
fn special_files_are_refused_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.so");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = dir.path().join("big.so");
    // Sparse: refused from its size, before a byte is read.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(lucet_runtime::DEFAULT_MAX_FILE_SIZE + 1)
        .unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        ("/dev/zero".into(), "a character device"),
        (fifo, "a FIFO"),
        (dir.path().to_path_buf(), "a directory"),
        (big, "limit"),
    ];
    for (path, expect) in cases {
        // A FIFO with no writer would block a plain open or read forever.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
                unsafe { Module::load_unverified(&p) }
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let msg = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("loading {} blocked", path.display()))
            .expect_err("refused");
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(msg.contains(expect), "{}: {msg}", path.display());
    }
    // A real module over a configured bound.
    let c = lucet_tests::compile(WAT.as_bytes());
    let (e, msg) = refused(&c.path, &LoadOptions::unverified().max_file_size(1000));
    assert!(matches!(e, Error::TooLarge { limit: 1000, .. }), "{msg}");
}

#[test]
fn an_updated_module_at_the_same_path_loads_the_new_code() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    let version = |n: i32| format!(r#"(module (func (export "v") (result i32) (i32.const {n})))"#);
    lucetc::compile_to_file(version(1).as_bytes(), &so, &Default::default()).unwrap();
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let v1 = unsafe { Module::load_unverified(&so) }.unwrap();
    // lucetc replaces the file (a new inode at the same path).
    lucetc::compile_to_file(version(2).as_bytes(), &so, &Default::default()).unwrap();
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let v2 = unsafe { Module::load_unverified(&so) }.unwrap();
    // Rewritten in place (the same inode): the loaded modules run from
    // their own verified copies, not from the file.
    let other = dir.path().join("other.so");
    lucetc::compile_to_file(version(3).as_bytes(), &other, &Default::default()).unwrap();
    std::fs::write(&so, std::fs::read(&other).unwrap()).unwrap();
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let v3 = unsafe { Module::load_unverified(&so) }.unwrap();
    for (m, n) in [(&v1, 1), (&v2, 2), (&v3, 3)] {
        assert_eq!(run(m, "v", &[]), vec![Val::I32(n)]);
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Program headers: (file offset of the entry, type, flags).
fn phdrs(b: &[u8]) -> Vec<(usize, u32, u32)> {
    let (off, n) = (u64_at(b, 32) as usize, u16_at(b, 56) as usize);
    (0..n)
        .map(|i| {
            let at = off + i * 56;
            (at, u32_at(b, at), u32_at(b, at + 4))
        })
        .collect()
}

/// Each thing lucetc's link never produces, made in a real module (and the
/// code hash recomputed, as an attacker would): refused by name.
#[test]
fn what_lucetc_never_produces_is_refused_by_name() {
    let c = lucet_tests::compile(WAT.as_bytes());
    let original = std::fs::read(&c.path).unwrap();
    let file = object::File::parse(&*original).unwrap();
    let rela = file
        .section_by_name(".rela.dyn")
        .unwrap()
        .file_range()
        .unwrap()
        .0 as usize;
    let dynamic = file
        .section_by_name(".dynamic")
        .unwrap()
        .file_range()
        .unwrap()
        .0 as usize;
    let text_section = file.section_by_name(".text").unwrap().index().0;
    let shoff = u64_at(&original, 40) as usize;
    drop(file);
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "an executable stack",
            Box::new(move |b| {
                let (at, ..) = phdrs(b).into_iter().find(|p| p.1 == 0x6474e551).unwrap();
                b[at + 4..at + 8].copy_from_slice(&7u32.to_le_bytes());
            }),
            "executable stack",
        ),
        (
            "no PT_GNU_STACK",
            Box::new(move |b| {
                let (at, ..) = phdrs(b).into_iter().find(|p| p.1 == 0x6474e551).unwrap();
                b[at..at + 4].copy_from_slice(&0u32.to_le_bytes()); // PT_NULL
            }),
            "PT_GNU_STACK",
        ),
        (
            "writable code",
            Box::new(move |b| {
                let (at, ..) = phdrs(b)
                    .into_iter()
                    .find(|p| p.1 == 1 && p.2 & 1 != 0)
                    .unwrap();
                b[at + 4..at + 8].copy_from_slice(&7u32.to_le_bytes());
            }),
            "both writable and executable",
        ),
        (
            "thread-local storage",
            Box::new(move |b| {
                let (at, ..) = phdrs(b).into_iter().find(|p| p.1 == 4).unwrap(); // PT_NOTE
                b[at..at + 4].copy_from_slice(&7u32.to_le_bytes()); // PT_TLS
            }),
            "thread-local storage",
        ),
        (
            "an IRELATIVE relocation (runs a resolver inside dlopen)",
            Box::new(move |b| b[rela + 8..rela + 12].copy_from_slice(&37u32.to_le_bytes())),
            "relocation of type 37",
        ),
        (
            "a relocation writing into the code",
            Box::new(move |b| b[rela..rela + 8].copy_from_slice(&0x1000u64.to_le_bytes())),
            "outside the writable data",
        ),
        (
            "an unknown dynamic tag (DT_FLAGS turned into DT_DEBUG)",
            Box::new(move |b| {
                let at = (0..32)
                    .map(|i| dynamic + i * 16)
                    .find(|&at| u64_at(b, at) == 30)
                    .unwrap();
                b[at..at + 8].copy_from_slice(&21u64.to_le_bytes());
            }),
            "dynamic tag 0x15",
        ),
        (
            "a DT_INIT constructor (DT_FLAGS turned into DT_INIT)",
            Box::new(move |b| {
                let at = (0..32)
                    .map(|i| dynamic + i * 16)
                    .find(|&at| u64_at(b, at) == 30)
                    .unwrap();
                b[at..at + 8].copy_from_slice(&12u64.to_le_bytes());
                b[at + 8..at + 16].copy_from_slice(&0x1000u64.to_le_bytes());
            }),
            "a constructor (DT_INIT)",
        ),
        (
            "a section outside the file",
            Box::new(move |b| {
                let at = shoff + text_section * 64 + 24;
                b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }),
            "section",
        ),
    ];
    for (what, mutate, expect) in cases {
        let mut b = original.clone();
        mutate(&mut b);
        lucetc::record_code_hash(&mut b).unwrap();
        let p = c.dir.path().join("mutant.so");
        std::fs::write(&p, &b).unwrap();
        let (e, msg) = refused(&p, &LoadOptions::unverified());
        assert!(matches!(e, Error::InvalidModule { .. }), "{what}: {msg}");
        assert!(msg.contains(expect), "{what}: {msg}");
    }
}

/// Function lengths in the module data that make two functions overlap
/// (so one program counter would belong to both, and trap lookup would be
/// ambiguous) are refused, even with a correct code hash.
#[test]
fn overlapping_functions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    let data = lucetc::compile_to_file(WAT.as_bytes(), &so, &Default::default()).unwrap();
    assert_eq!(data.functions.len(), 2);
    let original = std::fs::read(&so).unwrap();
    let serialized = data.serialize();
    let prefix = &serialized[..serialized.len() - lucet_module::code_hash::CODE_HASH_LEN];
    let at = original
        .windows(prefix.len())
        .position(|w| w == prefix)
        .expect("module data in the file");
    let mut outcomes = Vec::new();
    for longer in 0..2 {
        let mut d = data.clone();
        let other = d.functions[1 - longer].code_len;
        d.functions[longer].code_len += other;
        let patched = d.serialize();
        assert_eq!(patched.len(), serialized.len(), "fixed-width fields");
        let mut bytes = original.clone();
        bytes[at..at + prefix.len()].copy_from_slice(&patched[..prefix.len()]);
        lucetc::record_code_hash(&mut bytes).unwrap();
        let path = dir.path().join(format!("overlap{longer}.so"));
        std::fs::write(&path, bytes).unwrap();
        // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
        outcomes.push(match unsafe { Module::load_unverified(&path) } {
            Ok(_) => "loaded".to_string(),
            Err(e) => e.to_string(),
        });
    }
    // Lengthening whichever comes first in the code overlaps the other
    // (the last one only runs into the trampolines after it, which the
    // module data does not describe).
    assert!(
        outcomes.iter().any(|e| e.contains("overlap in the code")),
        "{outcomes:?}"
    );
}
