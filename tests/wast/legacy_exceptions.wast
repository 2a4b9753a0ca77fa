;; The legacy exception-handling encoding (try, catch, catch_all,
;; delegate, rethrow), which clang still emits by default. The official
;; legacy scripts are not in the test-suite crate this project uses, so
;; these are our own, in the same format.

(module
  (tag $e0)
  (tag $e1 (param i32))
  (tag $e2 (param i32 i64))

  (func $throw1 (param i32) (throw $e1 (local.get 0)))
  (func $throw_if (param i32) (result i32)
    (if (local.get 0) (then (throw $e1 (local.get 0))))
    (i32.const 7))

  ;; The body's value when nothing is thrown, the handler's otherwise.
  (func (export "no-throw") (result i32)
    try (result i32)
      i32.const 0
      call $throw_if
    catch $e1
    end)
  (func (export "catch-payload") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $throw_if
    catch $e1
      i32.const 100
      i32.add
    end)
  (func (export "two-values") (result i64) (local i64)
    try (result i64)
      i32.const 3
      i64.const 4
      throw $e2
    catch $e2
      local.set 0
      i64.extend_i32_u
      local.get 0
      i64.add
    end)

  ;; Clauses in order; catch_all last.
  (func (export "which") (param i32) (result i32)
    try (result i32)
      (if (i32.eq (local.get 0) (i32.const 0)) (then (throw $e0)))
      (if (i32.eq (local.get 0) (i32.const 1)) (then (throw $e1 (i32.const 5))))
      (throw $e2 (i32.const 1) (i64.const 1))
    catch $e0
      i32.const 10
    catch $e1
      drop
      i32.const 11
    catch_all
      i32.const 12
    end)

  ;; An exception no clause matches goes on to the enclosing try.
  (func (export "outer-catches") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 2))
        i32.const 0
      catch $e0
        i32.const 1
      end
    catch $e1
    end)

  ;; A throw in a clause goes outward, not to the same try.
  (func (export "throw-in-catch") (result i32)
    try (result i32)
      try (result i32)
        throw $e0
      catch $e0
        (throw $e1 (i32.const 21))
      end
    catch $e1
    end)

  ;; rethrow 0, and rethrow 1 from a nested clause (the outer's exception).
  (func (export "rethrow-0") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 30))
        i32.const 0
      catch $e1
        drop
        rethrow 0
      end
    catch $e1
    end)
  (func (export "rethrow-1") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 31))
        i32.const 0
      catch $e1
        drop
        try (result i32)
          throw $e0
        catch $e0
          rethrow 1
        end
      end
    catch $e1
    end)
  (func (export "rethrow-catch-all") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 32))
        i32.const 0
      catch_all
        rethrow 0
      end
    catch $e1
    end)

  ;; delegate N hands the exception to the clauses of the try N labels
  ;; out (0: just outside); naming a block, to the next try outside it.
  (func (export "delegate-0") (result i32)
    try (result i32)
      try (result i32)
        (call $throw1 (i32.const 40))
        i32.const 0
      delegate 0
    catch $e1
    end)
  (func (export "delegate-skips") (result i32)
    try (result i32)
      try (result i32)
        block (result i32)
          try (result i32)
            (call $throw1 (i32.const 41))
            i32.const 0
          delegate 2
        end
      catch $e1
        drop
        i32.const 999
      end
    catch $e1
    end)
  (func (export "delegate-to-block") (result i32)
    try (result i32)
      try (result i32)
        block (result i32)
          try (result i32)
            (call $throw1 (i32.const 41))
            i32.const 0
          delegate 0
        end
      catch $e1
        drop
        i32.const 999
      end
    catch $e1
    end)
  ;; delegate to the function's label: straight to the caller.
  (func $delegate-out (result i32)
    try (result i32)
      (call $throw1 (i32.const 42))
      i32.const 0
    delegate 0)
  (func (export "delegate-to-caller") (result i32)
    try (result i32)
      call $delegate-out
    catch $e1
    end)

  ;; Exceptions cross calls; a try in a loop catches each round.
  (func (export "loop-catches") (param i32) (result i32) (local $sum i32)
    (loop $again
      try
        (call $throw1 (local.get 0))
      catch $e1
        (local.set $sum (i32.add (local.get $sum)))
      end
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $again (local.get 0)))
    (local.get $sum))

  ;; Block parameters flow into the body; a branch out of a clause.
  (func (export "params") (result i32)
    i32.const 5
    try (param i32) (result i32)
      i32.const 6
      i32.add
      call $throw1
      i32.const 0
    catch $e1
      i32.const 1
      i32.add
    end)
  (func (export "br-out-of-catch") (result i32)
    block $out (result i32)
      try (result i32)
        (call $throw1 (i32.const 50))
        i32.const 0
      catch $e1
        br $out
      end
    end)

  (func (export "uncaught") (throw $e0))
  (func (export "uncaught-through-catch") (param i32)
    try
      (call $throw1 (local.get 0))
    catch $e0
    end)
)

(assert_return (invoke "no-throw") (i32.const 7))
(assert_return (invoke "catch-payload" (i32.const 0)) (i32.const 7))
(assert_return (invoke "catch-payload" (i32.const 5)) (i32.const 105))
(assert_return (invoke "two-values") (i64.const 7))
(assert_return (invoke "which" (i32.const 0)) (i32.const 10))
(assert_return (invoke "which" (i32.const 1)) (i32.const 11))
(assert_return (invoke "which" (i32.const 2)) (i32.const 12))
(assert_return (invoke "outer-catches") (i32.const 2))
(assert_return (invoke "throw-in-catch") (i32.const 21))
(assert_return (invoke "rethrow-0") (i32.const 30))
(assert_return (invoke "rethrow-1") (i32.const 31))
(assert_return (invoke "rethrow-catch-all") (i32.const 32))
(assert_return (invoke "delegate-0") (i32.const 40))
(assert_return (invoke "delegate-skips") (i32.const 41))
(assert_return (invoke "delegate-to-block") (i32.const 999))
(assert_return (invoke "delegate-to-caller") (i32.const 42))
(assert_return (invoke "loop-catches" (i32.const 4)) (i32.const 10))
(assert_return (invoke "params") (i32.const 12))
(assert_return (invoke "br-out-of-catch") (i32.const 50))
(assert_exception (invoke "uncaught"))
(assert_exception (invoke "uncaught-through-catch" (i32.const 1)))

;; Exceptions between instances of one store: a tag's identity is its
;; defining instance's, whatever module imports it.
(module $a
  (tag $t (export "t") (param i32))
  (func (export "throw") (param i32) (throw $t (local.get 0)))
)
(register "a" $a)

(module $b
  (tag $t (import "a" "t") (param i32))
  (tag $own (param i32))
  (func $throw (import "a" "throw") (param i32))
  (func (export "catch-imported") (result i32)
    try (result i32)
      (call $throw (i32.const 61))
      i32.const 0
    catch $t
    end)
  ;; Its own tag of the same type is another tag.
  (func (export "own-tag-misses") (result i32)
    try (result i32)
      try (result i32)
        (call $throw (i32.const 62))
        i32.const 0
      catch $own
        drop
        i32.const -1
      end
    catch_all
      i32.const 63
    end)
  (func (export "throw-imported-tag") (throw $t (i32.const 64))))

(assert_return (invoke $b "catch-imported") (i32.const 61))
(assert_return (invoke $b "own-tag-misses") (i32.const 63))
(assert_exception (invoke $b "throw-imported-tag"))
