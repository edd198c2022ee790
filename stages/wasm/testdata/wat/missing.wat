;; missing.wat: declares the ABI version but exports neither pipe_alloc nor
;; pipe_transform. Build: wat2wasm missing.wat
(module
  (memory (export "memory") 1)
  (func (export "pipe_abi_version") (result i32) (i32.const 1)))
