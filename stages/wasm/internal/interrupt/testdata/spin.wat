;; spin.wat: guests that never return unless interrupted.
;; Each export first calls env.ready (so a test knows it runs), then spins.
(module
  (import "env" "ready" (func $ready))
  (memory (export "memory") 1)
  (func (export "spin") (call $ready) (loop $l (br $l)))
  ;; 2^n calls and no loop: only the function-entry check stops it
  (func (export "rec") (param i32) (call $ready) (call $rec (local.get 0)))
  (func $rec (param i32)
    (if (local.get 0)
      (then (call $rec (i32.sub (local.get 0) (i32.const 1)))
            (call $rec (i32.sub (local.get 0) (i32.const 1))))))
  ;; a loop with a parameter
  (func (export "count") (param i32) (result i32)
    (call $ready)
    (local.get 0)
    (loop $l (param i32) (result i32) (br $l (i32.add (i32.const 1))))))
