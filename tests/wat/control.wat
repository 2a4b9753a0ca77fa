;; Control constructs: blocks, loops, branches, calls, indirect calls.
(module
  (type $i2i (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $double $square $fac)
  ;; invoke fac i64:20 => i64:2432902008176640000
  (func $fac_i64 (export "fac") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fac_i64 (i64.sub (local.get 0) (i64.const 1)))))))
  ;; invoke fib i32:25 => i32:75025
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; invoke sum_loop i32:100 => i32:5050
  (func (export "sum_loop") (param i32) (result i32) (local i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get 0)))
        (local.set 1 (i32.add (local.get 1) (local.get 0)))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $again)))
    (local.get 1))
  ;; invoke switch i32:0 => i32:100
  ;; invoke switch i32:1 => i32:101
  ;; invoke switch i32:2 => i32:102
  ;; invoke switch i32:7 => i32:199
  (func (export "switch") (param i32) (result i32)
    (block $default
      (block $two
        (block $one
          (block $zero
            (br_table $zero $one $two $default (local.get 0)))
          (return (i32.const 100)))
        (return (i32.const 101)))
      (return (i32.const 102)))
    (i32.const 199))
  ;; invoke select i32:1 => i32:10
  ;; invoke select i32:0 => i32:20
  (func (export "select") (param i32) (result i32)
    (select (i32.const 10) (i32.const 20) (local.get 0)))
  ;; invoke block_values => i32:3 i32:4
  (func (export "block_values") (result i32 i32)
    (block (result i32 i32) (i32.const 3) (i32.const 4)))
  ;; invoke loop_params => i32:10
  (func (export "loop_params") (result i32)
    (i32.const 6) (i32.const 4)
    (loop $l (param i32 i32) (result i32) (i32.add)))
  (func $double (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $i2i) (i32.mul (local.get 0) (local.get 0)))
  (func $fac (param i64) (result i32) (i32.const 0))
  ;; invoke dispatch i32:0 i32:21 => i32:42
  ;; invoke dispatch i32:1 i32:12 => i32:144
  ;; trap dispatch i32:2 i32:1 => indirect call type mismatch
  ;; trap dispatch i32:3 i32:1 => indirect call to null
  ;; trap dispatch i32:4 i32:1 => undefined element: table index out of bounds
  ;; trap dispatch i32:-1 i32:1 => undefined element: table index out of bounds
  (func (export "dispatch") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 1) (local.get 0)))
  ;; trap unreachable => unreachable executed
  (func (export "unreachable") (unreachable))
  ;; trap recurse i32:0 => call stack exhausted
  (func $recurse (export "recurse") (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  ;; invoke fib i32:10 => i32:55
)
