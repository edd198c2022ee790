;; spininit.wat: a guest whose _initialize never returns.
;; Build: wat2wasm spininit.wat
(module
  (memory (export "memory") 1)
  (func (export "_initialize") (loop $forever (br $forever)))
  (func (export "pipe_abi_version") (result i32) (i32.const 1))
  (func (export "pipe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "pipe_transform") (param i32 i32) (result i64) (i64.const 0)))
