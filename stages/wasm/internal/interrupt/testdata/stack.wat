;; stack.wat: every way out of a function, which the stack bound must
;; count back down (StackExport is 0 again after each export returns), and
;; a recursion without end.
(module
  (memory (export "memory") 1)
  (global $calls (export "calls") (mut i32) (i32.const 0))
  ;; return
  (func $ret (export "ret") (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (return (i32.add (call $ret (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))))
  ;; br to the function's label from inside a block
  (func $br (export "br") (param $n i32) (result i32)
    (block
      (br_if 0 (local.get $n))
      (br 1 (i32.const 0)))
    (i32.add (call $br (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  ;; br_if to the function's label, taken and not taken
  (func $brif (export "brif") (param $n i32) (result i32)
    (br_if 0 (i32.const 0) (i32.eqz (local.get $n)))
    (drop)
    (i32.add (call $brif (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  ;; br_table with the function's label among its targets
  (func $table (export "table") (param $n i32) (result i32)
    (block $rec (result i32)
      (br_table 1 $rec (i32.const 0) (i32.gt_u (local.get $n) (i32.const 0))))
    (drop)
    (i32.add (call $table (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  ;; several results, a return from inside a loop
  (func $pair (export "pair") (param $n i32) (result i32 i64)
    (loop $l
      (if (i32.eqz (local.get $n)) (then (return (i32.const 7) (i64.const 8))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))
    (i32.const 0) (i64.const 0))
  (func (export "pairsum") (param $n i32) (result i64)
    (local $a i32) (local $b i64)
    (call $pair (local.get $n))
    (local.set $b) (local.set $a)
    (i64.add (i64.extend_i32_u (local.get $a)) (local.get $b)))
  ;; a function ending in unreachable code after its last return
  (func (export "dead") (param $n i32) (result i32)
    (return (call $ret (local.get $n)))
    (unreachable))
  ;; recursion without end; counts the calls that ran
  (func $endless (export "endless") (param $n i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $endless (i32.add (local.get $n) (i32.const 1)))))
