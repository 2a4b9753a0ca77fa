// Hazard 4: a synchronous hostcall cannot suspend its own frame: yields
// happen only by awaiting `yield_value` inside the `Send` future of an
// async hostcall, and a synchronous host function's body cannot await.
use lucet_runtime::{yield_value, FuncType, Linker, ValType};

fn main() {
    let mut linker = Linker::new();
    linker.func("host", "ask", FuncType::new([ValType::I32], [ValType::I32]), |_caller, args, results| {
        results[0] = yield_value(args[0]).await;
        Ok(())
    });
}
