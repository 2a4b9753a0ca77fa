//! What lets the runtime stop a guest: instruction counting against the
//! run's budget, and checks of the interrupt flag at function entries and
//! loop headers.
//!
//! Counting is per straight-line stretch: operators are tallied at
//! translation time and the tally is added to the run's count before every
//! operator that ends or starts a basic block (or calls out), so each
//! stretch costs one add and one compare per execution.

use crate::translate::env::{trusted, FuncEnv};
use crate::translate::traps;
use cranelift_codegen::ir::{condcodes::IntCC, types::*, InstBuilder};
use cranelift_frontend::FunctionBuilder;
use lucet_module::run_limits;
use wasmparser::Operator;

/// Operators translated since the count was last brought up to date.
#[derive(Default)]
pub(crate) struct Meter {
    uncounted: i64,
}

impl Meter {
    /// Tally `op`, which is about to be translated in reachable code, and
    /// bring the count up to date first if `op` ends a stretch.
    pub fn before_operator(
        &mut self,
        env: &mut FuncEnv<'_>,
        b: &mut FunctionBuilder<'_>,
        op: &Operator<'_>,
    ) {
        if !env.module.data.options.count_instructions {
            return;
        }
        self.uncounted += 1;
        if matches!(
            op,
            Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::Else
                | Operator::End
                | Operator::Br { .. }
                | Operator::BrIf { .. }
                | Operator::BrTable { .. }
                | Operator::Return
                | Operator::Call { .. }
                | Operator::CallIndirect { .. }
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::CallRef { .. }
                | Operator::ReturnCallRef { .. }
                | Operator::BrOnNull { .. }
                | Operator::BrOnNonNull { .. }
                | Operator::Unreachable
                | Operator::TryTable { .. }
                | Operator::Try { .. }
                | Operator::Catch { .. }
                | Operator::CatchAll
                | Operator::Delegate { .. }
                | Operator::Throw { .. }
                | Operator::ThrowRef
                | Operator::Rethrow { .. }
        ) {
            self.flush(env, b);
        }
    }

    /// Add the tally to the run's count and stop the run when the count
    /// passes the budget.
    fn flush(&mut self, env: &mut FuncEnv<'_>, b: &mut FunctionBuilder<'_>) {
        if self.uncounted == 0 {
            return;
        }
        let limits = env.run_limits(b);
        let count = b
            .ins()
            .load(I64, trusted(), limits, run_limits::INSTRUCTION_COUNT);
        let count = b.ins().iadd_imm_s(count, self.uncounted);
        b.ins()
            .store(trusted(), count, limits, run_limits::INSTRUCTION_COUNT);
        let budget = b
            .ins()
            .load(I64, trusted(), limits, run_limits::INSTRUCTION_BUDGET);
        let over = b.ins().icmp(IntCC::UnsignedGreaterThan, count, budget);
        b.ins().trapnz(over, traps::INTERRUPT);
        self.uncounted = 0;
    }
}

/// Trap if the run has been asked to stop. Emitted at function entry and
/// at every loop header, so no guest runs long without looking.
pub(crate) fn interrupt_check(env: &mut FuncEnv<'_>, b: &mut FunctionBuilder<'_>) {
    if !env.module.data.options.interruptible {
        return;
    }
    let limits = env.run_limits(b);
    // An atomic load: a plain one would be merged with the previous check
    // by redundant-load elimination, and a loop would never see the flag
    // change.
    let addr = b.ins().iadd_imm_s(limits, run_limits::INTERRUPT as i64);
    let flag = b.ins().atomic_load(I64, trusted(), addr);
    b.ins().trapnz(flag, traps::INTERRUPT);
}

#[cfg(test)]
mod tests {
    use crate::codegen::{compile_functions, CompiledFunction};
    use crate::module_env::ModuleEnv;
    use crate::{decode, Options};
    use cranelift_codegen::dominator_tree::DominatorTree;
    use cranelift_codegen::flowgraph::ControlFlowGraph;
    use cranelift_codegen::ir::{InstructionData, Opcode};
    use cranelift_codegen::loop_analysis::LoopAnalysis;
    use lucet_module::VmctxOffsets;

    fn compiled(wat: &str) -> Vec<CompiledFunction> {
        let options = Options::default();
        let wasm = crate::wasm_from_bytes(wat.as_bytes()).expect("test text parses");
        let isa = options.isa().expect("host ISA");
        let decoded = decode::decode(&wasm, options.compile_options()).expect("valid module");
        let env = ModuleEnv::new(decoded.data, &*isa, false).expect("small module");
        compile_functions(&env, &*isa, decoded.bodies).expect("compiles")
    }

    /// A loop header's check costs one load, of the flag: the address of
    /// the run limits is loaded once, before the loop (it is the sieve
    /// kernel's outer and inner loops that showed the second load).
    #[test]
    fn loop_headers_load_only_the_flag() {
        let functions = compiled(
            r#"(module (func (param i32) (result i32)
                 (loop $outer
                   (loop $inner
                     (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                     (br_if $inner (i32.and (local.get 0) (i32.const 7))))
                   (br_if $outer (local.get 0)))
                 (local.get 0)))"#,
        );
        let func = &functions[0].func;
        let cfg = ControlFlowGraph::with_function(func);
        let domtree = DominatorTree::with_function(func, &cfg);
        let mut loops = LoopAnalysis::new();
        loops.compute(func, &cfg, &domtree);
        assert_eq!(loops.loops().count(), 2, "{}", func.display());
        for lp in loops.loops() {
            let header = loops.loop_header(lp);
            let flag_loads = func
                .layout
                .block_insts(header)
                .filter(|&i| func.dfg.insts[i].opcode() == Opcode::AtomicLoad)
                .count();
            assert_eq!(flag_loads, 1, "{}", func.display());
        }
        for block in func.layout.blocks() {
            if loops.innermost_loop(block).is_none() {
                continue;
            }
            for inst in func.layout.block_insts(block) {
                if let InstructionData::Load { offset, .. } = func.dfg.insts[inst] {
                    assert_ne!(
                        i32::from(offset),
                        VmctxOffsets::RUN_LIMITS,
                        "the run limits' address is loaded in a loop:\n{}",
                        func.display()
                    );
                }
            }
        }
    }
}
