;; Globals, reference types and table operations.
(module
  (global $counter (export "counter") (mut i32) (i32.const 10))
  (global $k i64 (i64.const -5))
  (global $f (mut f64) (f64.const 0.5))
  (global $sum (mut i32) (i32.add (i32.const 1) (i32.const 2)))
  (table $t (export "table") 2 10 funcref)
  (table $ext 3 externref)
  (elem declare func $seven)
  (func $seven (result i32) (i32.const 7))
  ;; invoke bump => i32:11
  ;; invoke bump => i32:12
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  ;; invoke consts => i64:-5 f64:0.5 i32:3
  (func (export "consts") (result i64 f64 i32) (global.get $k) (global.get $f) (global.get $sum))
  ;; invoke table_ops => i32:2 i32:1 i32:2 i32:5 i32:7 i32:0
  (func (export "table_ops") (result i32 i32 i32 i32 i32 i32)
    (table.size $t)
    (ref.is_null (table.get $t (i32.const 0)))
    (table.grow $t (ref.func $seven) (i32.const 3))
    (table.size $t)
    (call_indirect $t (result i32) (i32.const 4))
    (ref.is_null (table.get $t (i32.const 4))))
  ;; invoke grow_too_far => i32:-1
  (func (export "grow_too_far") (result i32) (table.grow $t (ref.null func) (i32.const 100)))
  ;; trap get_oob => undefined element: table index out of bounds
  (func (export "get_oob") (drop (table.get $t (i32.const 99))))
  ;; invoke fill_copy => i32:0 i32:0 i32:0
  (func (export "fill_copy") (result i32 i32 i32)
    (table.fill $t (i32.const 0) (ref.func $seven) (i32.const 2))
    (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 1))
    (ref.is_null (table.get $t (i32.const 0)))
    (ref.is_null (table.get $t (i32.const 2)))
    (ref.is_null (table.get $t (i32.const 1))))
  ;; invoke externs => i32:1 i32:0
  (func (export "externs") (result i32 i32)
    (ref.is_null (table.get $ext (i32.const 0)))
    (table.set $ext (i32.const 1) (ref.null extern))
    (i32.const 0))
)
