//! The shared objects lucetc writes itself: made with no C compiler or
//! linker on the machine, shaped as the runtime's loader requires, and
//! readable by the usual ELF tools.

use lucet_runtime::{Instance, Limits, Linker, Module, Val};
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{LittleEndian as LE, Object, ObjectSection, ObjectSymbol};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const WAT: &str = r#"
(module
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $double $inc)
  (data (i32.const 8) "lucet")
  (type $t (func (param i32) (result i32)))
  (func $double (type $t) (i32.add (local.get 0) (local.get 0)))
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  ;; inc(f(x)), with f the table's entry i.
  (func (export "twice") (param $i i32) (param $x i32) (result i32)
    (call_indirect (type $t)
      (call_indirect (type $t) (local.get $x) (local.get $i))
      (i32.const 1)))
  (func (export "peek") (result i32) (i32.load8_u (i32.const 8))))
"#;

/// Compile `wat` with the `lucetc` binary and an environment holding
/// nothing but an empty `PATH`: no `cc`, `ld` or `$CC` to find.
fn compile_without_toolchain(dir: &Path, wat: &str) -> std::path::PathBuf {
    let input = dir.join("m.wat");
    std::fs::write(&input, wat).unwrap();
    let empty = dir.join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.join("m.so");
    let o = Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .env_clear()
        .env("PATH", &empty)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn compiling_needs_no_c_compiler_and_the_result_runs() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile_without_toolchain(dir.path(), WAT);
    // Not a program: nothing should try to execute it.
    let mode = std::fs::metadata(&so).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0, "mode {mode:o}");
    // SAFETY: lucetc compiled the module just now into this test's own
    // directory.
    let m = unsafe { Module::load_unverified(&so) }.unwrap();
    let mut i = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    assert_eq!(
        i.run("twice", &[Val::I32(0), Val::I32(5)]).unwrap(),
        [Val::I32(11)]
    );
    assert_eq!(i.run("peek", &[]).unwrap(), [Val::I32(i32::from(b'l'))]);
    let inspection =
        lucet_runtime::inspect(&so, lucet_runtime::DEFAULT_MAX_FILE_SIZE, None).unwrap();
    assert!(inspection.hash_matches());
    assert!(inspection.needed.is_empty(), "{:?}", inspection.needed);
}

const PAGE: u64 = 4096;

#[test]
fn the_object_has_the_structure_the_loader_requires() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile_without_toolchain(dir.path(), WAT);
    let bytes = std::fs::read(&so).unwrap();
    let header = elf::FileHeader64::<LE>::parse(&*bytes).unwrap();
    assert_eq!(header.e_type(LE), elf::ET_DYN);
    assert_eq!(header.e_machine(LE), elf::EM_X86_64);
    let phdrs = header.program_headers(LE, &*bytes).unwrap();
    let of_type = |t: u32| phdrs.iter().filter(move |p| p.p_type(LE) == t);
    let loads: Vec<_> = of_type(elf::PT_LOAD).collect();
    assert_eq!(loads.len(), 3, "read-only, code, RELRO data");
    let mut previous_end = 0u64;
    for p in &loads {
        let flags = p.p_flags(LE);
        assert!(flags & elf::PF_R != 0);
        assert!(
            flags & (elf::PF_W | elf::PF_X) != elf::PF_W | elf::PF_X,
            "writable and executable"
        );
        // Own pages: no page is mapped with two segments' permissions.
        assert_eq!(p.p_vaddr(LE) % PAGE, 0);
        assert_eq!(p.p_offset(LE), p.p_vaddr(LE));
        assert!(p.p_vaddr(LE) >= previous_end.next_multiple_of(PAGE));
        previous_end = p.p_vaddr(LE) + p.p_memsz(LE);
    }
    assert_eq!(
        loads
            .iter()
            .filter(|p| p.p_flags(LE) & elf::PF_X != 0)
            .count(),
        1
    );
    let stack: Vec<_> = of_type(elf::PT_GNU_STACK).collect();
    assert_eq!(stack.len(), 1);
    assert_eq!(stack[0].p_flags(LE) & elf::PF_X, 0, "an executable stack");
    let relro = of_type(elf::PT_GNU_RELRO).next().expect("RELRO");
    let relro = relro.p_vaddr(LE)..relro.p_vaddr(LE) + relro.p_memsz(LE);
    assert_eq!(relro.end % PAGE, 0, "the loader protects whole pages");
    assert!(of_type(elf::PT_INTERP).next().is_none());
    assert!(of_type(elf::PT_TLS).next().is_none());

    // Only what lucetc's modules need of the dynamic loader.
    let (dynamic, _) = header
        .sections(LE, &*bytes)
        .unwrap()
        .dynamic(LE, &*bytes)
        .unwrap()
        .unwrap();
    let mut tags: Vec<u32> = dynamic.iter().map(|d| d.tag32(LE).unwrap()).collect();
    tags.sort_unstable();
    let mut expect = vec![
        elf::DT_NULL,
        elf::DT_STRTAB,
        elf::DT_SYMTAB,
        elf::DT_RELA,
        elf::DT_RELASZ,
        elf::DT_RELAENT,
        elf::DT_STRSZ,
        elf::DT_SYMENT,
        elf::DT_FLAGS,
        elf::DT_GNU_HASH,
        elf::DT_RELACOUNT,
        elf::DT_FLAGS_1,
    ];
    expect.sort_unstable();
    assert_eq!(tags, expect);
    let flags = dynamic
        .iter()
        .find(|d| d.tag32(LE) == Some(elf::DT_FLAGS))
        .unwrap();
    assert_eq!(flags.d_val(LE), u64::from(elf::DF_BIND_NOW));

    let file = object::File::parse(&*bytes).unwrap();
    let section = |name: &str| {
        let s = file.section_by_name(name).unwrap();
        s.address()..s.address() + s.size()
    };
    let inside = |r: &std::ops::Range<u64>, outer: &std::ops::Range<u64>| {
        outer.start <= r.start && r.end <= outer.end
    };
    assert!(inside(&section(".data.rel.ro"), &relro));
    assert!(inside(&section(".dynamic"), &relro));
    // Every load-time relocation is relative and writes into RELRO.
    for (offset, r) in file.dynamic_relocations().unwrap() {
        assert_eq!(
            r.flags(),
            object::RelocationFlags::Elf {
                r_type: elf::R_X86_64_RELATIVE
            }
        );
        assert!(relro.contains(&offset));
    }
    // The two symbols the runtime looks up, where it requires them.
    let symbol = |name: &str| {
        let s = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap();
        s.address()..s.address() + s.size()
    };
    assert!(inside(&symbol("lucet_function_table"), &relro));
    let data = symbol("lucet_module_data");
    let read_only = loads
        .iter()
        .find(|p| p.p_flags(LE) == elf::PF_R)
        .map(|p| p.p_vaddr(LE)..p.p_vaddr(LE) + p.p_filesz(LE))
        .unwrap();
    assert!(inside(&data, &read_only));
}

/// What binutils says of the object, if it is installed.
fn tool(name: &str, args: &[&str], so: &Path) -> Option<std::process::Output> {
    Command::new(name).args(args).arg(so).output().ok()
}

#[test]
fn readelf_and_objdump_find_nothing_odd() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile_without_toolchain(dir.path(), WAT);
    let Some(readelf) = tool("readelf", &["-a", "-W"], &so) else {
        eprintln!("readelf not available; skipping");
        return;
    };
    assert!(readelf.status.success());
    assert_eq!(
        String::from_utf8_lossy(&readelf.stderr),
        "",
        "readelf warns"
    );
    let text = String::from_utf8_lossy(&readelf.stdout);
    assert!(text.contains("Type:                              DYN"));
    assert!(text.contains("NT_GNU_BUILD_ID"));
    let objdump = tool("objdump", &["-d"], &so).unwrap();
    assert!(objdump.status.success());
    assert_eq!(
        String::from_utf8_lossy(&objdump.stderr),
        "",
        "objdump warns"
    );
    // Functions are named in the disassembly.
    let asm = String::from_utf8_lossy(&objdump.stdout);
    assert!(asm.contains("<guest_func_0>:"), "{asm}");
    assert!(!asm.contains("(bad)"), "{asm}");
}
