// Finding 4 of the second isolation review: loading an object without a
// signature runs whatever native code the file holds, so it is `unsafe`:
// safe code cannot do it (a verified load, `Module::load_verified`, can).
use lucet_runtime::{LoadOptions, Module};

fn main() {
    let _ = Module::load_unverified("handler.so");
    let _ = Module::load_with("handler.so", &LoadOptions::unverified());
}
