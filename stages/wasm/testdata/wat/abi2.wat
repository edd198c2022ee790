;; abi2.wat: a guest of a future ABI version 2. Build: wat2wasm abi2.wat
(module
  (memory (export "memory") 1)
  (func (export "pipe_abi_version") (result i32) (i32.const 2))
  (func (export "pipe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "pipe_transform") (param i32 i32) (result i64) (i64.const 0)))
