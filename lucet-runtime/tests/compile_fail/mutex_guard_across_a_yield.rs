// Hazard 4: nor a MutexGuard (it would be released on another thread).
use lucet_runtime::{yield_value, FuncType, Linker, ValType};
use std::sync::{Arc, Mutex};

fn main() {
    let shared = Arc::new(Mutex::new(0));
    let mut linker = Linker::new();
    linker.func_async("host", "ask", FuncType::new([ValType::I32], [ValType::I32]), move |_, args| {
        let q = args[0];
        let shared = shared.clone();
        Box::pin(async move {
            let guard = shared.lock().unwrap();
            let answer = yield_value(q).await;
            drop(guard);
            Ok(vec![answer])
        })
    });
}
