// Typed hostcalls take and return wasm types only, checked at compile time.
use lucet_runtime::Linker;

fn main() {
    let mut linker = Linker::new();
    linker.func_wrap("env", "f", |s: String| s.len() as i32);
}
