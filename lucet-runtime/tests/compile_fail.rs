//! Programs that would be unsound must not compile (see each file's first
//! comment for the hazard it stands for).

#[test]
fn unsound_programs_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}

/// Hazard 3: a domain runs one guest at a time, so neither a store nor a
/// standalone instance may be shared between threads (`Sync`), while both
/// may move between them (`Send`), suspended calls included. Checked at
/// compile time: this file stops compiling if either becomes `Sync`.
#[test]
fn stores_and_instances_move_between_threads_but_are_never_shared() {
    fn is_send<T: Send>() {}
    is_send::<lucet_runtime::Store>();
    is_send::<lucet_runtime::Instance>();
    is_send::<lucet_runtime::InterruptHandle>();
    is_send::<lucet_runtime::Linker>();

    // `Ambiguous<_>` resolves only if exactly one impl applies: for a type
    // that is also `Sync`, both do, and type inference fails.
    trait Ambiguous<A> {
        fn check() {}
    }
    impl<T: ?Sized> Ambiguous<()> for T {}
    impl<T: ?Sized + Sync> Ambiguous<u8> for T {}
    <lucet_runtime::Store as Ambiguous<_>>::check();
    <lucet_runtime::Instance as Ambiguous<_>>::check();
}
