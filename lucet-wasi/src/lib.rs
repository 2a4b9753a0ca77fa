//! WASI for lucet-runtime, and the pieces of the `lucet-wasi` command.

pub mod invoke;
