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
