// Hazard 1: nor built from its parts.
use lucet_runtime::{FuncRef, Val};

fn main() {
    let r = FuncRef { domain: 1, record: 0x1234 };
    let _ = Val::FuncRef(Some(r));
}
