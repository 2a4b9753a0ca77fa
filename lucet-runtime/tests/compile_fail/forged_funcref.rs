// Hazard 1: a function reference cannot be made up from an address.
use lucet_runtime::Val;

fn main() {
    let _ = Val::FuncRef(Some(0x1234));
}
