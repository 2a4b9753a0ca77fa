// Hazard 4: a synchronous hostcall cannot suspend its own frame (the old
// `Caller::yield_value` is gone): yields happen inside a Send future only.
use lucet_runtime::{FuncType, Linker, ValType};

fn main() {
    let mut linker = Linker::new();
    linker.func("host", "ask", FuncType::new([ValType::I32], [ValType::I32]), |caller, args, results| {
        results[0] = caller.yield_value(args[0]);
        Ok(())
    });
}
