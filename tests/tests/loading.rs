//! Loading checks the file before anything in it runs; faults that are not
//! the guest's are not swallowed.

use lucet_runtime::{Error, Instance, Limits, Linker, Module};
use std::process::Command;

fn invalid(path: &std::path::Path) -> String {
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    match unsafe { Module::load_unverified(path) } {
        Err(e @ Error::InvalidModule { .. }) => e.to_string(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("{} loaded", path.display()),
    }
}

#[test]
fn garbage_and_foreign_objects_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"this is not an ELF file").unwrap();
    assert!(invalid(&junk).contains("not an ELF file"));

    // A real shared object that lucetc did not produce.
    let src = dir.path().join("foreign.c");
    std::fs::write(&src, "int foreign(void) { return 1; }\n").unwrap();
    let so = dir.path().join("foreign.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(built, "cc builds a shared object");
    // gcc's shared objects have a destructor (DT_FINI): refused for that
    // before anything else.
    let msg = invalid(&so);
    assert!(msg.contains("DT_FINI") || msg.contains("DT_INIT"), "{msg}");
    assert!(matches!(
        // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
        unsafe { Module::load_unverified(dir.path().join("missing.so")) },
        Err(Error::Io { .. })
    ));
}

#[test]
fn corrupted_module_data_is_rejected() {
    let c = lucet_tests::compile(
        br#"(module (memory 1) (func (export "f") (result i32) (i32.const 7)))"#,
    );
    let bytes = std::fs::read(&c.path).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"LUCETMOD")
        .expect("module data in the file");
    type Corruption = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corruption)> = vec![
        ("bad magic", Box::new(move |b: &mut Vec<u8>| b[at] = b'X')),
        ("version", Box::new(move |b: &mut Vec<u8>| b[at + 8] = 99)),
        (
            "truncated",
            Box::new(move |b: &mut Vec<u8>| {
                b[at + 16..at + 24].copy_from_slice(&u64::MAX.to_le_bytes())
            }),
        ),
        (
            "payload",
            Box::new(move |b: &mut Vec<u8>| {
                for x in &mut b[at + 24..at + 40] {
                    *x = 0xff;
                }
            }),
        ),
    ];
    for (what, corrupt) in cases {
        let mut b = bytes.clone();
        corrupt(&mut b);
        let p = c.dir.path().join(format!("{}.so", what.replace(' ', "_")));
        std::fs::write(&p, &b).unwrap();
        let msg = invalid(&p);
        assert!(msg.contains("not a loadable lucet module"), "{what}: {msg}");
    }
    // Objects from lucetc before this format (version 2: code from
    // cranelift-wasm on Cranelift 0.112; 3: memories without an index
    // type) are refused with what to do.
    for version in [2u32, 3] {
        let mut old = bytes.clone();
        old[at + 8..at + 12].copy_from_slice(&version.to_le_bytes());
        let p = c.dir.path().join(format!("format{version}.so"));
        std::fs::write(&p, &old).unwrap();
        let msg = invalid(&p);
        assert!(
            msg.contains(&format!("format version {version} is not supported"))
                && msg.contains("recompile the module with this version of lucetc"),
            "{msg}"
        );
    }
    // Truncating the file anywhere is an error too.
    for cut in [100, bytes.len() / 2, at + 10, bytes.len() - 1] {
        let p = c.dir.path().join(format!("cut{cut}.so"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
        assert!(
            unsafe { Module::load_unverified(&p) }.is_err(),
            "cut at {cut}"
        );
    }
    // The original still loads and runs.
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let m = unsafe { Module::load_unverified(&c.path) }.unwrap();
    let mut i = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    assert_eq!(i.run("f", &[]).unwrap().len(), 1);
}

const CHILD: &str = "LUCET_TEST_HOST_FAULT";

#[test]
fn a_fault_in_host_code_is_not_swallowed() {
    if std::env::var(CHILD).is_ok() {
        // Run a guest (installing the handler), then fault in host code.
        let (_c, mut i) = lucet_tests::instantiate(r#"(module (func (export "f")))"#);
        i.run("f", &[]).unwrap();
        // SAFETY: deliberately invalid, to provoke SIGSEGV in the host.
        unsafe { std::ptr::write_volatile(std::ptr::without_provenance_mut::<u64>(8), 1) };
        std::process::exit(0);
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_fault_in_host_code_is_not_swallowed",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc_sigsegv()),
        "status {:?}",
        out.status
    );
}

fn libc_sigsegv() -> i32 {
    11
}
