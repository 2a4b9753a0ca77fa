//! A large heap image is mapped copy-on-write from a file: every instance's
//! untouched pages are that file's. No descriptor of it may be writable by
//! anyone, not even reopened through `/proc/PID/fd` by the file's owner
//! or root: it is a sealed memfd.
//!
//! Its own test binary: it looks at every descriptor the process opens
//! while loading, which parallel tests would add to.

use lucet_runtime::{Limits, Linker, Region, Val};
use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;

fn open_fds() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_mapped_heap_image_cannot_be_changed_through_proc() {
    let wat = format!(
        r#"(module (memory 2) (data (i32.const 0) "{}")
          (func (export "first") (result i32) (i32.load8_u (i32.const 0))))"#,
        "I".repeat(96 << 10)
    );
    let before = open_fds();
    let (_c, m) = lucet_tests::load(wat.as_bytes());
    let new: Vec<String> = open_fds().difference(&before).cloned().collect();
    let mut images = 0;
    for fd in new {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !link.contains("lucet-heap-image") && !link.contains("(deleted)") {
            continue;
        }
        if link.contains("lucet-heap-image") {
            images += 1;
        }
        // What another process of the same user (or root) could do.
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{fd}"));
        if let Ok(f) = reopened {
            assert!(
                f.write_at(b"X", 1 << 30).is_err(),
                "the heap image {link} was written through /proc"
            );
        }
    }
    assert_eq!(images, 1, "one sealed memfd holds the image");
    // Instances still see the image.
    let region = Region::new(1, Limits::default()).unwrap();
    let mut i = region.instantiate(&m, &Linker::new()).unwrap();
    assert_eq!(i.run("first", &[]).unwrap(), vec![Val::I32(b'I' as i32)]);
}
