//! Tables and references: table.get/set/size/grow/fill/copy/init,
//! elem.drop, and ref.null/ref.is_null/ref.func.
//!
//! A reference is a pointer-sized word: a funcref is the address of a
//! funcref record (null is 0), an externref is the embedder's word.
//! Element accesses are bounds-checked inline; the bulk operations go
//! through the runtime's builtins. A 64-bit table (table64) takes `i64`
//! indices and counts; the runtime counts elements in u32, so larger
//! operands are clamped to a value that is out of bounds all the same.

use crate::translate::env::trusted;
use crate::translate::{traps, Translator};
use crate::Error;
use cranelift_codegen::ir::{self, condcodes::IntCC, types::*, InstBuilder};
use lucet_module::abi::Builtin;
use lucet_module::table_def;
use wasmparser::Operator;

impl Translator<'_, '_> {
    /// Lower a table or reference operator; false if `op` is not one.
    pub(super) fn table(&mut self, op: &Operator<'_>) -> Result<bool, Error> {
        match *op {
            Operator::TableGet { table } => {
                let index = self.stack.pop();
                let addr = self.env.table_elem_addr(&mut self.b, table, index);
                let v = self.b.ins().load(I64, trusted(), addr, 0);
                self.stack.push(v);
            }
            Operator::TableSet { table } => {
                let (index, value) = self.stack.pop2();
                let addr = self.env.table_elem_addr(&mut self.b, table, index);
                self.b.ins().store(trusted(), value, addr, 0);
            }
            Operator::TableSize { table } => {
                let def = self.env.table_def(&mut self.b, table);
                let len = self.b.ins().load(I32, trusted(), def, table_def::LENGTH);
                let len = self.as_index_type(table, len);
                self.stack.push(len);
            }
            Operator::TableGrow { table } => {
                let (init, delta) = self.stack.pop2();
                let delta = self.narrow_index(delta);
                let t = self.b.ins().iconst(I32, i64::from(table));
                let old = self
                    .env
                    .call_builtin(&mut self.b, Builtin::TableGrow, &[t, delta, init])
                    .expect("table.grow returns the old size");
                // -1 (failure) stays -1; sizes are far below 2^31.
                let old = if self.table64(table) {
                    self.b.ins().sextend(I64, old)
                } else {
                    old
                };
                self.stack.push(old);
            }
            Operator::TableFill { table } => {
                let (dst, val, len) = self.stack.pop3();
                let (dst, len) = (self.narrow_index(dst), self.narrow_index(len));
                let t = self.b.ins().iconst(I32, i64::from(table));
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::TableFill,
                    &[t, dst, val, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let (dst, src, len) = self.stack.pop3();
                let (dst, src, len) = (
                    self.narrow_index(dst),
                    self.narrow_index(src),
                    self.narrow_index(len),
                );
                let d = self.b.ins().iconst(I32, i64::from(dst_table));
                let s = self.b.ins().iconst(I32, i64::from(src_table));
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::TableCopy,
                    &[d, s, dst, src, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            Operator::TableInit { elem_index, table } => {
                let (dst, src, len) = self.stack.pop3();
                let dst = self.narrow_index(dst);
                let t = self.b.ins().iconst(I32, i64::from(table));
                let s = self.b.ins().iconst(I32, i64::from(elem_index));
                self.env.call_builtin_checked(
                    &mut self.b,
                    Builtin::TableInit,
                    &[t, s, dst, src, len],
                    traps::TABLE_OUT_OF_BOUNDS,
                );
            }
            Operator::ElemDrop { elem_index } => {
                let seg = self.b.ins().iconst(I32, i64::from(elem_index));
                self.env
                    .call_builtin(&mut self.b, Builtin::ElemDrop, &[seg]);
            }
            Operator::RefNull { .. } => {
                let v = self.b.ins().iconst(I64, 0);
                self.stack.push(v);
            }
            Operator::RefAsNonNull => {
                let r = self.stack.peek();
                self.b.ins().trapz(r, traps::NULL_REFERENCE);
            }
            Operator::RefIsNull => {
                let r = self.stack.pop();
                let is_null = self.b.ins().icmp_imm_s(IntCC::Equal, r, 0);
                let v = self.b.ins().uextend(I32, is_null);
                self.stack.push(v);
            }
            Operator::RefFunc { function_index } => {
                let v = self.env.funcref(&mut self.b, function_index)?;
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether table `table` is indexed with `i64` (table64).
    fn table64(&self, table: u32) -> bool {
        self.env
            .module
            .data
            .table_type(table)
            .is_some_and(|t| t.table64)
    }

    /// A u32 count or size as table `table`'s index type.
    fn as_index_type(&mut self, table: u32, v: ir::Value) -> ir::Value {
        if self.table64(table) {
            self.b.ins().uextend(I64, v)
        } else {
            v
        }
    }

    /// A table index, count or delta as the u32 the builtins take. A
    /// table64 operand above `u32::MAX` becomes `u32::MAX`: tables never
    /// hold that many elements, so it stays out of bounds (or a growth
    /// that fails), as the 64-bit value was.
    fn narrow_index(&mut self, v: ir::Value) -> ir::Value {
        if self.b.func.dfg.value_type(v) != I64 {
            return v;
        }
        let most = self.b.ins().iconst(I64, i64::from(u32::MAX));
        let v = self.b.ins().umin(v, most);
        self.b.ins().ireduce(I32, v)
    }
}
