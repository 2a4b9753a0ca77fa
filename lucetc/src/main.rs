//! `lucetc`: compile a WebAssembly module to a shared object (see
//! [`lucetc::cli`] for options and exit codes).

fn main() {
    lucetc::cli::main("lucetc", None)
}
