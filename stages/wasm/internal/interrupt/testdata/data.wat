;; data.wat: active data segments out of order, overlapping (a later one
;; overwrites an earlier one), a few bytes apart and far apart, which
;; merging must lay out as instantiation would.
(module
  (memory (export "memory") 2)
  (data (i32.const 100) "hello")
  (data (i32.const 90) "0123456789")
  (data (i32.const 102) "XY")
  (data (i32.const 120) "gap of 15 bytes before")
  (data (i32.const 70000) "far away, on the next page")
  (data (i32.const 110) "\00\01\02")
  (func (export "f") (result i32) (i32.load8_u (i32.const 100))))
