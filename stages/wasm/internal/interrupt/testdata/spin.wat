;; spin.wat: guests that never return unless interrupted.
(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $l (br $l)))
  ;; 2^n calls and no loop: only the function-entry check stops it
  (func $rec (export "rec") (param i32)
    (if (local.get 0)
      (then (call $rec (i32.sub (local.get 0) (i32.const 1)))
            (call $rec (i32.sub (local.get 0) (i32.const 1))))))
  ;; a loop with a parameter
  (func (export "count") (param i32) (result i32)
    (local.get 0)
    (loop $l (param i32) (result i32) (br $l (i32.add (i32.const 1))))))
