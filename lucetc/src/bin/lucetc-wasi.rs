//! `lucetc-wasi`: `lucetc` with WASI (`wasi_snapshot_preview1`) as the set
//! of functions a module may import: those of
//! `lucet_module::wasi_preview1`, which `lucet-wasi` implements. An import
//! that is not a WASI function, or has the wrong signature, is an error
//! naming it.
//!
//! Exit codes: 0 on success, 1 when the input is rejected or compilation
//! fails, 2 on bad command-line usage.

fn main() {
    lucetc::cli::main("lucetc-wasi", Some(lucetc::AllowedImport::wasi_preview1()))
}
