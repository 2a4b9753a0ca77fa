// Hazard 1: nor built from its parts: the fields are private, so a real
// reference cannot be retargeted at another address (every error below is
// about privacy; with public fields this would compile).
use lucet_runtime::{FuncRef, Val};

fn forge(real: FuncRef) -> Val {
    let r = FuncRef {
        domain: real.domain,
        record: real.record.checked_add(64).unwrap(),
    };
    Val::FuncRef(Some(r))
}

fn main() {
    let _ = forge;
}
