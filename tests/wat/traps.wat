;; Every trap kind, each a typed error; the instance keeps working after.
(module
  (memory 1 2)
  ;; trap div_s i32:1 i32:0 => integer divide by zero
  ;; trap div_s i32:-2147483648 i32:-1 => integer overflow
  ;; invoke div_s i32:7 i32:-1 => i32:-7
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  ;; trap rem_u64 i64:1 i64:0 => integer divide by zero
  ;; invoke rem_s64 i64:-9223372036854775808 i64:-1 => i64:0
  (func (export "rem_u64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
  (func (export "rem_s64") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  ;; trap trunc f64:nan => invalid conversion to integer
  ;; trap trunc f64:3e9 => integer overflow
  ;; invoke trunc f64:-3.5 => i32:-3
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  ;; trap load i32:65536 => out of bounds memory access
  ;; trap load i32:65533 => out of bounds memory access
  ;; invoke load i32:65532 => i32:0
  ;; trap load i32:-1 => out of bounds memory access
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; trap load_far_offset i32:0 => out of bounds memory access
  ;; trap load_far_offset i32:-16 => out of bounds memory access
  (func (export "load_far_offset") (param i32) (result i32) (i32.load offset=4294967280 (local.get 0)))
  ;; trap store64 i32:65529 => out of bounds memory access
  (func (export "store64") (param i32) (i64.store (local.get 0) (i64.const -1)))
  ;; invoke grow_then_load => i32:1 i32:0
  ;; trap load i32:131072 => out of bounds memory access
  (func (export "grow_then_load") (result i32 i32)
    (memory.grow (i32.const 1))
    (i32.load (i32.const 70000)))
  ;; invoke grow_past_max => i32:-1 i32:2
  (func (export "grow_past_max") (result i32 i32)
    (memory.grow (i32.const 1)) (memory.size))
  ;; trap fill_oob => out of bounds memory access
  (func (export "fill_oob") (memory.fill (i32.const 131000) (i32.const 1) (i32.const 100)))
)
