;; Exceptions cross every kind of call: direct, through a table, through a
;; typed function reference, and out of tail calls (which leave the
;; caller's handlers behind); and an imported function of another
;; instance throws into the importer's handler.

(module $callee
  (tag $t (export "t") (param i32))
  (type $f (func (param i32) (result i32)))
  (func $thrower (export "thrower") (type $f)
    (throw $t (local.get 0)))
  (table (export "table") 1 funcref)
  (elem (i32.const 0) $thrower))
(register "callee" $callee)

(module
  (tag $t (import "callee" "t") (param i32))
  (type $f (func (param i32) (result i32)))
  (func $imported (import "callee" "thrower") (type $f))
  (table $tab 2 funcref)
  (elem (table $tab) (i32.const 0) func $local $imported)
  (elem declare func $local)
  (func $local (type $f) (throw $t (i32.add (local.get 0) (i32.const 1000))))

  (func (export "direct") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h) (call $local (local.get 0)))))
  (func (export "imported") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h) (call $imported (local.get 0)))))
  (func (export "indirect") (param i32 i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h)
        (call_indirect $tab (type $f) (local.get 0) (local.get 1)))))
  (func (export "by-ref") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h)
        (call_ref $f (local.get 0) (ref.func $local)))))

  ;; A tail call leaves this frame, and its handler with it: the caller's
  ;; handler catches.
  (func $tail (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h)
        (return_call $local (local.get 0))))
    (drop)
    (i32.const -1))
  (func $tail-ref (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h)
        (return_call_ref $f (local.get 0) (ref.func $local))))
    (drop)
    (i32.const -1))
  (func (export "tail") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h) (call $tail (local.get 0))))
    (i32.const 1)
    (i32.add))
  (func (export "tail-ref") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h) (call $tail-ref (local.get 0))))
    (i32.const 1)
    (i32.add))
  ;; A null typed reference traps; the trap is not an exception.
  (func (export "null-ref") (result i32)
    (block $h
      (try_table (catch_all $h)
        (drop (call_ref $f (i32.const 0) (ref.null $f)))))
    (i32.const 0)))

(assert_return (invoke "direct" (i32.const 1)) (i32.const 1001))
(assert_return (invoke "imported" (i32.const 2)) (i32.const 2))
(assert_return (invoke "indirect" (i32.const 3) (i32.const 0)) (i32.const 1003))
(assert_return (invoke "indirect" (i32.const 4) (i32.const 1)) (i32.const 4))
(assert_return (invoke "by-ref" (i32.const 5)) (i32.const 1005))
(assert_return (invoke "tail" (i32.const 6)) (i32.const 1007))
(assert_return (invoke "tail-ref" (i32.const 7)) (i32.const 1008))
(assert_trap (invoke "null-ref") "null function reference")
