//! Tables and references: table.get/set/size/grow/fill/copy/init,
//! elem.drop, and ref.null/ref.is_null/ref.func.
//!
//! A reference is a pointer-sized word: a funcref is the address of a
//! funcref record (null is 0), an externref is the embedder's word.
//! Element accesses are bounds-checked inline; the bulk operations go
//! through the runtime's builtins.

use crate::translate::env::trusted;
use crate::translate::{traps, Translator};
use crate::Error;
use cranelift_codegen::ir::{condcodes::IntCC, types::*, InstBuilder};
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
                self.stack.push(len);
            }
            Operator::TableGrow { table } => {
                let (init, delta) = self.stack.pop2();
                let t = self.b.ins().iconst(I32, i64::from(table));
                let old = self
                    .env
                    .call_builtin(&mut self.b, Builtin::TableGrow, &[t, delta, init])
                    .expect("table.grow returns the old size");
                self.stack.push(old);
            }
            Operator::TableFill { table } => {
                let (dst, val, len) = self.stack.pop3();
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
}
