//! `containerd-shim-lucet-v1`: the containerd shim binary. containerd runs
//! it (`start`, then as the shim daemon, and `delete`) for runtime
//! `io.containerd.lucet.v1`; see the crate's documentation.

use containerd_shim_lucet::host;
use containerd_shim_lucet::shim::LucetShim;
use containerd_shim_wasm::shim::Cli;

fn main() {
    // Before runwasi forks its helper processes: they, and the containers
    // they create, inherit what this reads on the host.
    let host = host::init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if host::is_start_command(&args) {
        // containerd reports a failed `start` with its stderr, so a bad
        // configuration or annotation shows where the container is made.
        if let Err(e) = host.check() {
            eprintln!("containerd-shim-lucet-v1: error: {e}");
            std::process::exit(1);
        }
    }
    LucetShim::run(None);
}
