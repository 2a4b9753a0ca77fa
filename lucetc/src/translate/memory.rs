//! Linear memory: heap addressing under the guard-page contract, loads and
//! stores (scalar and vector), and memory.size/grow and bulk operations.
//!
//! Every memory is a static heap: a reservation of at least 4 GiB (the
//! loader refuses less) followed by a guard region. Any 32-bit index plus
//! a static offset that is at most the guard size lands in the reservation
//! or the guard, so such accesses need no check: the guard page faults and
//! the runtime turns the fault into a trap. Only a larger static offset
//! gets an explicit compare, with a spectre guard on the address.
//!
//! A 64-bit memory (memory64) has the same layout, but no guard covers a
//! 64-bit index: every access compares `index + offset + size` with the
//! reservation plus guard (one compare, and the spectre select), and
//! everything in the reservation beyond the accessible size faults as
//! for 32-bit memories. An index at or past the reservation traps; it
//! never wraps. A constant index that fits needs no compare.

use crate::translate::env::trusted;
use crate::translate::{simd, Translator};
use crate::Error;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::*, InstBuilder, MemFlagsData, TrapCode,
};
use cranelift_frontend::FunctionBuilder;
use lucet_module::abi::Builtin;
use lucet_module::memory_def;
use wasmparser::{MemArg, Operator};

/// The alias region of every linear-memory access. Only guest heap
/// accesses (and calls, which clobber everything) touch heap bytes, so
/// Cranelift may keep vmctx loads (globals, the heap base) across heap
/// stores.
const HEAP_REGION: u32 = 1;

/// How a load widens its value.
#[derive(Clone, Copy)]
enum Widen {
    /// Loaded at the result type.
    None,
    /// Sign-extended from a narrower load.
    Signed,
    /// Zero-extended from a narrower load.
    Unsigned,
}

/// The 128-bit vector type of `lane`s.
fn lanes_of(lane: ir::Type) -> ir::Type {
    lane.by(128 / lane.bits())
        .expect("a lane type of at most 64 bits")
}

fn splat(b: &mut FunctionBuilder<'_>, ty: ir::Type, x: ir::Value) -> ir::Value {
    b.ins().splat(ty, x)
}

fn zero_extend(b: &mut FunctionBuilder<'_>, ty: ir::Type, x: ir::Value) -> ir::Value {
    b.ins().scalar_to_vector(ty, x)
}

impl Translator<'_, '_> {
    /// Flags for a guest heap access: little-endian, in the heap's alias
    /// region, and a fault there is an out-of-bounds access.
    fn heap_flags(&mut self) -> MemFlagsData {
        let region = self.b.func.dfg.alias_regions.insert(ir::AliasRegionData {
            user_id: HEAP_REGION,
            description: "heap".into(),
        });
        MemFlagsData::new()
            .with_endianness(ir::Endianness::Little)
            .with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS))
            .with_alias_region(Some(region))
    }

    /// The address to access `size` bytes at `index + memarg.offset`, and
    /// the immediate offset to use with it.
    fn heap_addr(&mut self, memarg: &MemArg, size: u64, index: ir::Value) -> (ir::Value, i32) {
        let opts = &self.env.module.data.options;
        let (reserved, guard) = (opts.heap_reserved_size, opts.heap_guard_size);
        let spectre = self.env.spectre_guards();
        let memory64 = self.memory64(memarg.memory);
        let base = self.env.heap_base(&mut self.b, memarg.memory);
        let index = if memory64 {
            index
        } else {
            self.b.ins().uextend(I64, index)
        };
        let end = memarg.offset.saturating_add(size);
        let span = reserved.saturating_add(guard);
        // A 64-bit index is covered by no guard, but a constant one that
        // lands in the reservation or guard needs no check either.
        let covered = if memory64 {
            self.constant(index)
                .is_some_and(|i| i.checked_add(end).is_some_and(|e| e <= span))
        } else {
            end <= guard
        };
        if covered {
            // Covered by the guard (the reservation holds every 32-bit
            // index, or the constant 64-bit one): no check.
            let addr = self.b.ins().iadd(base, index);
            return match i32::try_from(memarg.offset) {
                Ok(imm) => (addr, imm),
                Err(_) => (self.b.ins().iadd_imm_u(addr, memarg.offset as i64), 0),
            };
        }
        if end > span {
            // No index makes this access fit.
            self.b.ins().trap(TrapCode::HEAP_OUT_OF_BOUNDS);
            // Keep emitting well-formed code for the rest of the operator
            // in a block nothing reaches.
            let dead = self.b.create_block();
            self.b.seal_block(dead);
            self.b.switch_to_block(dead);
            return (base, 0);
        }
        let oob = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThan, index, (span - end) as i64);
        let addr = self.b.ins().iadd(base, index);
        let addr = self.b.ins().iadd_imm_u(addr, memarg.offset as i64);
        if !spectre {
            self.b.ins().trapnz(oob, TrapCode::HEAP_OUT_OF_BOUNDS);
            return (addr, 0);
        }
        // One compare does both jobs: out of bounds, architecturally or
        // speculatively, the access goes to address zero. Page zero is
        // never mapped (the kernel's mmap_min_addr), so it faults, and the
        // access's trap code makes that fault the heap trap: no branch.
        let null = self.b.ins().iconst(I64, 0);
        (self.b.ins().select_spectre_guard(oob, null, addr), 0)
    }

    /// Whether memory `mem` is addressed with `i64` (memory64).
    fn memory64(&self, mem: u32) -> bool {
        self.env
            .module
            .data
            .memory_type(mem)
            .is_some_and(|m| m.memory64)
    }

    /// The value of `v` if it is an integer constant.
    fn constant(&self, v: ir::Value) -> Option<u64> {
        let inst = self.b.func.dfg.value_def(v).inst()?;
        match self.b.func.dfg.insts[inst] {
            ir::InstructionData::UnaryImm {
                opcode: ir::Opcode::Iconst,
                imm,
            } => Some(imm.bits() as u64),
            _ => None,
        }
    }

    /// A memory address or length operand of memory `mem` as the u64 the
    /// builtins take.
    fn address_operand(&mut self, mem: u32, v: ir::Value) -> ir::Value {
        if self.memory64(mem) {
            v
        } else {
            self.b.ins().uextend(I64, v)
        }
    }

    fn load(&mut self, memarg: &MemArg, ty: ir::Type, width: ir::Type, extend: Widen) {
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, u64::from(width.bytes()), index);
        let flags = self.heap_flags();
        let v = match (extend, width.bits()) {
            (Widen::None, _) => self.b.ins().load(ty, flags, addr, imm),
            (Widen::Signed, 8) => self.b.ins().sload8(ty, flags, addr, imm),
            (Widen::Signed, 16) => self.b.ins().sload16(ty, flags, addr, imm),
            (Widen::Signed, _) => self.b.ins().sload32(flags, addr, imm),
            (Widen::Unsigned, 8) => self.b.ins().uload8(ty, flags, addr, imm),
            (Widen::Unsigned, 16) => self.b.ins().uload16(ty, flags, addr, imm),
            (Widen::Unsigned, _) => self.b.ins().uload32(flags, addr, imm),
        };
        self.stack.push(v);
    }

    fn store(&mut self, memarg: &MemArg, width: ir::Type) {
        let value = self.stack.pop();
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, u64::from(width.bytes()), index);
        let flags = self.heap_flags();
        let ty = self.b.func.dfg.value_type(value);
        match width.bits() {
            8 if ty.is_int() => self.b.ins().istore8(flags, value, addr, imm),
            16 if ty.is_int() => self.b.ins().istore16(flags, value, addr, imm),
            32 if ty == I64 => self.b.ins().istore32(flags, value, addr, imm),
            _ => self.b.ins().store(flags, value, addr, imm),
        };
    }

    /// Load a `lanes`-lane vector of `width`-bit lanes, widening each lane.
    fn load_extend(&mut self, memarg: &MemArg, op: &Operator<'_>) {
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, 8, index);
        let f = self.heap_flags();
        let ins = self.b.ins();
        let v = match op {
            Operator::V128Load8x8S { .. } => ins.sload8x8(f, addr, imm),
            Operator::V128Load8x8U { .. } => ins.uload8x8(f, addr, imm),
            Operator::V128Load16x4S { .. } => ins.sload16x4(f, addr, imm),
            Operator::V128Load16x4U { .. } => ins.uload16x4(f, addr, imm),
            Operator::V128Load32x2S { .. } => ins.sload32x2(f, addr, imm),
            _ => ins.uload32x2(f, addr, imm),
        };
        self.push_vector(v);
    }

    /// Push a vector value in the stack's canonical lane type.
    fn push_vector(&mut self, v: ir::Value) {
        simd::push_v128(&mut self.b, &mut self.stack, v);
    }

    /// Load one scalar of type `lane` and build a vector of it with
    /// `build` (a splat, or lane 0 of zeros).
    fn load_scalar_into(
        &mut self,
        memarg: &MemArg,
        lane: ir::Type,
        build: fn(&mut FunctionBuilder<'_>, ir::Type, ir::Value) -> ir::Value,
    ) {
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, u64::from(lane.bytes()), index);
        let flags = self.heap_flags();
        let x = self.b.ins().load(lane, flags, addr, imm);
        let v = build(&mut self.b, lanes_of(lane), x);
        self.push_vector(v);
    }

    /// Load one scalar into lane `lane` of the vector operand.
    fn load_lane(&mut self, memarg: &MemArg, ty: ir::Type, lane: u8) {
        let vector = self.stack.pop();
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, u64::from(ty.bytes()), index);
        let flags = self.heap_flags();
        let x = self.b.ins().load(ty, flags, addr, imm);
        let vector = simd::cast(&mut self.b, lanes_of(ty), vector);
        let v = self.b.ins().insertlane(vector, x, lane);
        self.push_vector(v);
    }

    /// Store lane `lane` of the vector operand.
    fn store_lane(&mut self, memarg: &MemArg, ty: ir::Type, lane: u8) {
        let vector = self.stack.pop();
        let index = self.stack.pop();
        let (addr, imm) = self.heap_addr(memarg, u64::from(ty.bytes()), index);
        let vector = simd::cast(&mut self.b, lanes_of(ty), vector);
        let x = self.b.ins().extractlane(vector, lane);
        let flags = self.heap_flags();
        self.b.ins().store(flags, x, addr, imm);
    }

    /// Lower a memory operator; false if `op` is not one.
    pub(super) fn memory(&mut self, op: &Operator<'_>) -> Result<bool, Error> {
        use Operator as O;
        use Widen::{None as Full, Signed, Unsigned};
        match op {
            O::I32Load { memarg } => self.load(memarg, I32, I32, Full),
            O::I64Load { memarg } => self.load(memarg, I64, I64, Full),
            O::F32Load { memarg } => self.load(memarg, F32, F32, Full),
            O::F64Load { memarg } => self.load(memarg, F64, F64, Full),
            O::V128Load { memarg } => self.load(memarg, I8X16, I8X16, Full),
            O::I32Load8S { memarg } => self.load(memarg, I32, I8, Signed),
            O::I32Load8U { memarg } => self.load(memarg, I32, I8, Unsigned),
            O::I32Load16S { memarg } => self.load(memarg, I32, I16, Signed),
            O::I32Load16U { memarg } => self.load(memarg, I32, I16, Unsigned),
            O::I64Load8S { memarg } => self.load(memarg, I64, I8, Signed),
            O::I64Load8U { memarg } => self.load(memarg, I64, I8, Unsigned),
            O::I64Load16S { memarg } => self.load(memarg, I64, I16, Signed),
            O::I64Load16U { memarg } => self.load(memarg, I64, I16, Unsigned),
            O::I64Load32S { memarg } => self.load(memarg, I64, I32, Signed),
            O::I64Load32U { memarg } => self.load(memarg, I64, I32, Unsigned),
            O::I32Store { memarg } | O::F32Store { memarg } => self.store(memarg, I32),
            O::I64Store { memarg } | O::F64Store { memarg } => self.store(memarg, I64),
            O::V128Store { memarg } => self.store(memarg, I8X16),
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, I8),
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, I16),
            O::I64Store32 { memarg } => self.store(memarg, I32),
            O::V128Load8x8S { memarg }
            | O::V128Load8x8U { memarg }
            | O::V128Load16x4S { memarg }
            | O::V128Load16x4U { memarg }
            | O::V128Load32x2S { memarg }
            | O::V128Load32x2U { memarg } => self.load_extend(memarg, op),
            O::V128Load8Splat { memarg } => self.load_scalar_into(memarg, I8, splat),
            O::V128Load16Splat { memarg } => self.load_scalar_into(memarg, I16, splat),
            O::V128Load32Splat { memarg } => self.load_scalar_into(memarg, I32, splat),
            O::V128Load64Splat { memarg } => self.load_scalar_into(memarg, I64, splat),
            O::V128Load32Zero { memarg } => self.load_scalar_into(memarg, I32, zero_extend),
            O::V128Load64Zero { memarg } => self.load_scalar_into(memarg, I64, zero_extend),
            O::V128Load8Lane { memarg, lane } => self.load_lane(memarg, I8, *lane),
            O::V128Load16Lane { memarg, lane } => self.load_lane(memarg, I16, *lane),
            O::V128Load32Lane { memarg, lane } => self.load_lane(memarg, I32, *lane),
            O::V128Load64Lane { memarg, lane } => self.load_lane(memarg, I64, *lane),
            O::V128Store8Lane { memarg, lane } => self.store_lane(memarg, I8, *lane),
            O::V128Store16Lane { memarg, lane } => self.store_lane(memarg, I16, *lane),
            O::V128Store32Lane { memarg, lane } => self.store_lane(memarg, I32, *lane),
            O::V128Store64Lane { memarg, lane } => self.store_lane(memarg, I64, *lane),
            O::MemorySize { mem } => {
                let def = self.env.memory_def(&mut self.b, *mem);
                let len = self.b.ins().load(I64, trusted(), def, memory_def::LENGTH);
                let pages = self.b.ins().ushr_imm_u(len, 16);
                let pages = if self.memory64(*mem) {
                    pages
                } else {
                    self.b.ins().ireduce(I32, pages)
                };
                self.stack.push(pages);
            }
            O::MemoryGrow { mem: index } => {
                let delta = self.stack.pop();
                let mem = self.b.ins().iconst(I32, i64::from(*index));
                let delta = self.address_operand(*index, delta);
                let old = self
                    .env
                    .call_builtin(&mut self.b, Builtin::MemoryGrow, &[mem, delta])
                    .expect("memory.grow returns the old size");
                let old = if self.memory64(*index) {
                    old
                } else {
                    self.b.ins().ireduce(I32, old)
                };
                self.stack.push(old);
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.stack.pop3();
                let to = self.b.ins().iconst(I32, i64::from(*dst_mem));
                let from = self.b.ins().iconst(I32, i64::from(*src_mem));
                let dst = self.address_operand(*dst_mem, dst);
                let src = self.address_operand(*src_mem, src);
                // The length is an i64 only between two 64-bit memories.
                let len = if self.b.func.dfg.value_type(len) == I64 {
                    len
                } else {
                    self.b.ins().uextend(I64, len)
                };
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::MemoryCopy,
                    &[to, from, dst, src, len],
                    TrapCode::HEAP_OUT_OF_BOUNDS,
                );
            }
            O::MemoryFill { mem: index } => {
                let (dst, val, len) = self.stack.pop3();
                let mem = self.b.ins().iconst(I32, i64::from(*index));
                let dst = self.address_operand(*index, dst);
                let len = self.address_operand(*index, len);
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::MemoryFill,
                    &[mem, dst, val, len],
                    TrapCode::HEAP_OUT_OF_BOUNDS,
                );
            }
            O::MemoryInit {
                data_index,
                mem: index,
            } => {
                let (dst, src, len) = self.stack.pop3();
                let mem = self.b.ins().iconst(I32, i64::from(*index));
                let seg = self.b.ins().iconst(I32, i64::from(*data_index));
                let dst = self.address_operand(*index, dst);
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::MemoryInit,
                    &[mem, seg, dst, src, len],
                    TrapCode::HEAP_OUT_OF_BOUNDS,
                );
            }
            O::DataDrop { data_index } => {
                let seg = self.b.ins().iconst(I32, i64::from(*data_index));
                self.env
                    .call_builtin(&mut self.b, Builtin::DataDrop, &[seg]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
