;; An empty data segment beyond the last non-empty one (empty segments are
;; common in generated modules): the heap image ends before it, and it must
;; not be copied into the image.
(module
  (memory 1)
  (data (i32.const 0) "a")
  (data (i32.const 8192) "")
  ;; invoke f => i32:97
  (func (export "f") (result i32) (i32.load8_u (i32.const 0)))
  ;; invoke g => i32:0
  (func (export "g") (result i32) (i32.load8_u (i32.const 8192))))
