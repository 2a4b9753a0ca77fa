;; Linear memory: loads and stores of every width, data segments, growth,
;; bulk memory.
(module
  (memory (export "memory") 1 4)
  (data (i32.const 16) "\01\02\03\04\05\06\07\08")
  (data $passive "hello")
  ;; invoke widths => i32:0x04030201 i32:1 i32:0x0201 i64:0x0807060504030201 i32:0x0605
  (func (export "widths") (result i32 i32 i32 i64 i32)
    (i32.load (i32.const 16))
    (i32.load8_u (i32.const 16))
    (i32.load16_u (i32.const 16))
    (i64.load (i32.const 16))
    (i32.load16_u offset=4 (i32.const 16)))
  ;; invoke signed_loads => i32:-1 i64:-1 i64:4294967295
  (func (export "signed_loads") (result i32 i64 i64)
    (i32.store (i32.const 100) (i32.const -1))
    (i32.load8_s (i32.const 100))
    (i64.load16_s (i32.const 100))
    (i64.load32_u (i32.const 100)))
  ;; invoke floats => f32:1.5 f64:-2.25
  (func (export "floats") (result f32 f64)
    (f32.store (i32.const 200) (f32.const 1.5))
    (f64.store (i32.const 208) (f64.const -2.25))
    (f32.load (i32.const 200))
    (f64.load (i32.const 208)))
  ;; invoke size_grow => i32:1 i32:1 i32:3 i32:3 i32:-1 i32:3
  (func (export "size_grow") (result i32 i32 i32 i32 i32 i32)
    (memory.size)
    (memory.grow (i32.const 2))
    (memory.size)
    (memory.grow (i32.const 0))
    (memory.grow (i32.const 2))
    (memory.size))
  ;; invoke grown_is_zero => i32:0 i32:7
  (func (export "grown_is_zero") (result i32 i32)
    (i32.load (i32.const 150000))
    (i32.store (i32.const 150000) (i32.const 7))
    (i32.load (i32.const 150000)))
  ;; invoke bulk => i32:0x04030201 i32:0x09090909 i32:0x6c6c6568 i32:111
  (func (export "bulk") (result i32 i32 i32 i32)
    (memory.copy (i32.const 300) (i32.const 16) (i32.const 8))
    (i32.load (i32.const 300))
    (memory.fill (i32.const 400) (i32.const 9) (i32.const 4))
    (i32.load (i32.const 400))
    (memory.init $passive (i32.const 500) (i32.const 0) (i32.const 5))
    (i32.load (i32.const 500))
    (i32.load8_u (i32.const 504)))
  ;; invoke overlap_copy => i64:0x0605040302010201
  (func (export "overlap_copy") (result i64)
    (memory.copy (i32.const 18) (i32.const 16) (i32.const 6))
    (i64.load (i32.const 16)))
  ;; invoke drop_data => i32:0
  (func (export "drop_data") (result i32)
    (data.drop $passive)
    (memory.init $passive (i32.const 600) (i32.const 0) (i32.const 0))
    (i32.const 0))
  ;; trap init_dropped => out of bounds memory access
  (func (export "init_dropped")
    (memory.init $passive (i32.const 600) (i32.const 0) (i32.const 1)))
)
