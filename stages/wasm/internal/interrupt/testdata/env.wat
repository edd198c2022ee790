;; env.wat: the imports of sink.wat.
(module
  (global (export "base") i32 (i32.const 1000))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
