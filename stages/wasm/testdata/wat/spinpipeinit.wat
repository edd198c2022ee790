;; spinpipeinit.wat: a guest whose pipe_init never returns.
;; Build: wat2wasm spinpipeinit.wat
(module
  (memory (export "memory") 1)
  (func (export "pipe_abi_version") (result i32) (i32.const 1))
  (func (export "pipe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "pipe_init") (param i32 i32) (result i64) (loop $forever (br $forever)) (i64.const 0))
  (func (export "pipe_transform") (param i32 i32) (result i64) (i64.const 0)))
