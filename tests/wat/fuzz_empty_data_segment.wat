;; Found by differential fuzzing (and in the trusted-artifacts issue): an
;; empty data segment past the end of the other segments made the heap
;; image builder slice past the image's end, so `Module::load` panicked.
(module
  (memory 1)
  (data (i32.const 0) "a")
  (data (i32.const 8192) "")
  ;; invoke f => i32:97
  (func (export "f") (result i32) (i32.load8_u (i32.const 0))))
