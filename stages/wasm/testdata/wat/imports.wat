;; imports.wat: imports host functions pipe does not provide.
;; Build: wat2wasm imports.wat
(module
  (import "env" "now" (func (result i64)))
  (import "pipe" "http_get" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "pipe_abi_version") (result i32) (i32.const 1))
  (func (export "pipe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "pipe_transform") (param i32 i32) (result i64) (i64.const 0)))
