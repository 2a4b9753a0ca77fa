//! The writer on real objects (including one that imports from libm, which
//! lucetc's own targets never produce), and on broken ones.

use super::{write, LinkError};
use crate::{compile, compile_for, wasm_from_bytes, Options};
use lucet_runtime::{Instance, Limits, Linker, Module, Val};
use object::read::elf::{FileHeader, SectionHeader};
use object::{elf, LittleEndian as LE, Object, ObjectSection, ObjectSegment, ObjectSymbol};

fn object_of(wat: &str) -> Vec<u8> {
    compile(
        &wasm_from_bytes(wat.as_bytes()).unwrap(),
        &Options::default(),
    )
    .unwrap()
    .object
}

const ROUNDING: &str = r#"
(module
  (func (export "floor") (param f64) (result f64) (f64.floor (local.get 0)))
  (func (export "ceil") (param f32) (result f32) (f32.ceil (local.get 0)))
  (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0))))
"#;

/// The object lucetc makes for an x86-64 CPU without SSE4.1, where
/// Cranelift calls libm to round.
fn object_calling_libm() -> Vec<u8> {
    let options = Options::default();
    let ours = options.isa().unwrap();
    let isa = cranelift_codegen::isa::lookup(target_lexicon::Triple::host())
        .unwrap()
        .finish(ours.flags().clone())
        .unwrap();
    assert!(!isa
        .isa_flags()
        .iter()
        .any(|f| f.name == "has_sse41" && f.as_bool() == Some(true)));
    compile_for(
        &wasm_from_bytes(ROUNDING.as_bytes()).unwrap(),
        &options,
        isa,
    )
    .unwrap()
    .object
}

/// Link `object` into `dir` as lucetc does, and load it.
fn load(dir: &std::path::Path, object: &[u8]) -> std::sync::Arc<Module> {
    let so = dir.join("m.so");
    crate::link::link_shared_object(object, &so).unwrap();
    // SAFETY: lucetc compiled the module just now into this test's own
    // directory.
    unsafe { Module::load_unverified(&so) }.unwrap()
}

fn call(m: &std::sync::Arc<Module>, f: &str, arg: Val) -> Val {
    let mut i = Instance::new(m, &Linker::new(), Limits::default()).unwrap();
    i.run(f, &[arg]).unwrap()[0]
}

#[test]
fn imports_from_libm_are_bound_at_load() {
    let object = object_calling_libm();
    let so = write(&object).unwrap();
    let file = object::File::parse(&*so).unwrap();
    let imports: Vec<&str> = file
        .dynamic_symbols()
        .filter(|s| s.is_undefined())
        .map(|s| s.name().unwrap())
        .collect();
    assert!(
        imports.contains(&"floor") && imports.contains(&"ceilf"),
        "{imports:?}"
    );
    let header = elf::FileHeader64::<LE>::parse(&*so).unwrap();
    let sections = header.sections(LE, &*so).unwrap();
    let (dynamic, strings) = sections.dynamic(LE, &*so).unwrap().unwrap();
    let strings = sections.strings(LE, &*so, strings).unwrap();
    let needed: Vec<&[u8]> = dynamic
        .iter()
        .filter(|d| d.d_tag.get(LE) == u64::from(elf::DT_NEEDED))
        .map(|d| strings.get(d.d_val.get(LE) as u32).unwrap())
        .collect();
    assert_eq!(needed, [&b"libm.so.6"[..]]);
    let dir = tempfile::tempdir().unwrap();
    let m = load(dir.path(), &object);
    assert_eq!(
        call(&m, "floor", Val::F64((2.5f64).to_bits())),
        Val::F64((2.0f64).to_bits())
    );
    assert_eq!(
        call(&m, "floor", Val::F64((-0.5f64).to_bits())),
        Val::F64((-1.0f64).to_bits())
    );
    assert_eq!(
        call(&m, "ceil", Val::F32((-1.5f32).to_bits())),
        Val::F32((-1.0f32).to_bits())
    );
    assert_eq!(
        call(&m, "nearest", Val::F64((2.5f64).to_bits())),
        Val::F64((2.0f64).to_bits())
    );
}

/// Cranelift reaches imports through the GOT; a direct call to one gets a
/// PLT stub that jumps through the same GOT slot.
#[test]
fn direct_calls_to_imports_go_through_a_plt_stub() {
    let mut object = object_calling_libm();
    let at = first_code_relocation(&object);
    assert_eq!(
        object[at + 8..at + 12],
        elf::R_X86_64_GOTPCREL.to_le_bytes()
    );
    object[at + 8..at + 12].copy_from_slice(&elf::R_X86_64_PLT32.to_le_bytes());
    let place = u64::from_le_bytes(object[at..at + 8].try_into().unwrap());
    let addend = i64::from_le_bytes(object[at + 16..at + 24].try_into().unwrap());
    let so = write(&object).unwrap();
    let file = object::File::parse(&*so).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let plt = file.section_by_name(".plt").unwrap();
    let stubs = plt.data().unwrap();
    // floor is the first import: the first stub, `jmp *slot(%rip)`.
    assert_eq!(stubs[..2], [0xff, 0x25]);
    let disp = i32::from_le_bytes(stubs[2..6].try_into().unwrap());
    let slot = plt.address().wrapping_add_signed(6 + i64::from(disp));
    let floor_slot = file
        .dynamic_relocations()
        .unwrap()
        .find(|(_, r)| {
            r.flags()
                == object::RelocationFlags::Elf {
                    r_type: elf::R_X86_64_GLOB_DAT,
                }
                && r.target() == object::RelocationTarget::Symbol(object::SymbolIndex(1))
        })
        .map(|(offset, _)| offset)
        .unwrap();
    assert_eq!(slot, floor_slot);
    let first_import = file.dynamic_symbols().find(|s| s.index().0 == 1).unwrap();
    assert_eq!(first_import.name(), Ok("floor"));
    // The call's displacement reaches the stub.
    let at = place as usize;
    let written = i32::from_le_bytes(text.data().unwrap()[at..at + 4].try_into().unwrap());
    let reached = (text.address() + place).wrapping_add_signed(i64::from(written) - addend);
    assert_eq!(reached, plt.address());
}

#[test]
fn only_the_libcalls_may_be_imported() {
    // The libm object with `floor` renamed `flood` in its string table.
    let mut object = object_calling_libm();
    let (strtab, _) = section_range(&object, b".strtab");
    let at = strtab
        + object[strtab..]
            .windows(7)
            .position(|w| w == b"\0floor\0")
            .expect("floor in the string table");
    object[at + 4..at + 6].copy_from_slice(b"od");
    match write(&object) {
        Err(LinkError::Undefined(name)) => assert_eq!(name, "flood"),
        other => panic!("{:?}", other.map(|_| "a shared object")),
    }
}

/// The file offset and size of section `name` of `object`.
fn section_range(object: &[u8], name: &[u8]) -> (usize, usize) {
    let header = elf::FileHeader64::<LE>::parse(object).unwrap();
    let sections = header.sections(LE, object).unwrap();
    let s = sections
        .iter()
        .find(|s| sections.section_name(LE, s).unwrap() == name)
        .unwrap();
    (s.sh_offset(LE) as usize, s.sh_size(LE) as usize)
}

/// The file offset of the first relocation of `.rela.text` in `object`.
fn first_code_relocation(object: &[u8]) -> usize {
    section_range(object, b".rela.text").0
}

const CALLS: &str = r#"
(module
  (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func (export "quadruple") (param i32) (result i32)
    (call $double (call $double (local.get 0)))))
"#;

#[test]
fn relocations_it_cannot_resolve_are_refused_by_kind() {
    let object = object_of(CALLS);
    let at = first_code_relocation(&object);
    for (kind, expect) in [
        (elf::R_X86_64_32, "not a relocation"),
        (elf::R_X86_64_TPOFF32, "not a relocation"),
        (elf::R_X86_64_64, "an absolute address outside .data.rel.ro"),
    ] {
        let mut o = object.clone();
        o[at + 8..at + 12].copy_from_slice(&kind.to_le_bytes());
        match write(&o) {
            Err(e @ LinkError::Relocation { .. }) => {
                assert!(e.to_string().contains(expect), "{e}");
                assert!(e.to_string().contains(".text"), "{e}");
            }
            other => panic!("type {kind}: {:?}", other.map(|_| "a shared object")),
        }
    }
    // Past the end of its section.
    let mut o = object.clone();
    o[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(
        matches!(write(&o), Err(LinkError::Relocation { ref reason, .. }) if reason.contains("outside")),
    );
}

#[test]
fn calls_between_functions_are_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let m = load(dir.path(), &object_of(CALLS));
    assert_eq!(call(&m, "quadruple", Val::I32(5)), Val::I32(20));
}

#[test]
fn an_empty_module_has_no_code_segment_and_loads() {
    let object = object_of("(module)");
    let so = write(&object).unwrap();
    let file = object::File::parse(&*so).unwrap();
    assert!(file.segments().all(
        |s| !matches!(s.flags(), object::SegmentFlags::Elf { p_flags } if p_flags & elf::PF_X != 0)
    ));
    let dir = tempfile::tempdir().unwrap();
    let m = load(dir.path(), &object);
    assert!(m.data().functions.is_empty());
}

/// A small deterministic generator for the mutations below.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn broken_objects_are_errors_not_panics() {
    assert!(matches!(write(b""), Err(LinkError::Malformed(_))));
    assert!(matches!(write(b"\x7fELF"), Err(LinkError::Malformed(_))));
    let object = object_of(CALLS);
    // A shared object is not a relocatable one.
    let so = write(&object).unwrap();
    assert!(matches!(write(&so), Err(LinkError::Malformed(_))));
    for cut in (0..object.len()).step_by(97) {
        let _ = write(&object[..cut]);
    }
    let mut state = 0x5eed;
    for _ in 0..3000 {
        let mut o = object.clone();
        for _ in 0..1 + next(&mut state) % 4 {
            let at = (next(&mut state) as usize) % o.len();
            o[at] = next(&mut state) as u8;
        }
        // Whatever it makes of it, it returns.
        let _ = write(&o);
    }
}

#[test]
fn output_is_deterministic() {
    let object = object_of(CALLS);
    assert_eq!(write(&object).unwrap(), write(&object).unwrap());
}

#[test]
fn the_function_table_is_relro_and_the_code_is_named() {
    let so = write(&object_of(CALLS)).unwrap();
    let file = object::File::parse(&*so).unwrap();
    let table = file
        .dynamic_symbols()
        .find(|s| s.name() == Ok(lucet_module::symbols::FUNCTION_TABLE))
        .unwrap();
    let header = elf::FileHeader64::<LE>::parse(&*so).unwrap();
    let relro = header
        .program_headers(LE, &*so)
        .unwrap()
        .iter()
        .find(|p| p.p_type.get(LE) == elf::PT_GNU_RELRO)
        .unwrap();
    let (start, end) = (
        relro.p_vaddr.get(LE),
        relro.p_vaddr.get(LE) + relro.p_memsz.get(LE),
    );
    assert!(start <= table.address() && table.address() + table.size() <= end);
    assert_eq!(start % 4096, 0);
    assert_eq!(end % 4096, 0, "the loader protects whole pages only");
    let dynamic = file.section_by_name(".dynamic").unwrap();
    assert!(start <= dynamic.address() && dynamic.address() + dynamic.size() <= end);
    // Functions keep their names for disassemblers and profilers.
    assert!(file.symbols().any(|s| s.name() == Ok("guest_func_1")));
}
