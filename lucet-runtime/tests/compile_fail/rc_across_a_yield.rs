// Hazard 4: what a hostcall keeps across a suspension lives in its future,
// which must be Send: an Rc cannot be held across a yield.
use lucet_runtime::{yield_value, FuncType, Linker, Val, ValType};
use std::rc::Rc;

fn main() {
    let mut linker = Linker::new();
    linker.func_async("host", "ask", FuncType::new([ValType::I32], [ValType::I32]), |_, args| {
        let q = args[0];
        Box::pin(async move {
            let local = Rc::new(5);
            let answer = yield_value(q).await;
            let _ = *local;
            Ok(vec![answer])
        })
    });
    let _ = Val::I32(0);
}
