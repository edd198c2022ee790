;; bigmax.wat: a guest whose memory declares a maximum of 2048 pages
;; (128 MiB), above the default memory_limit (64 MiB).
;; Build: wat2wasm bigmax.wat
(module
  (memory (export "memory") 1 2048)
  (func (export "pipe_abi_version") (result i32) (i32.const 1))
  (func (export "pipe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "pipe_transform") (param i32 i32) (result i64) (i64.const 0)))
