;; dispatch.wat: functions in the shape Go's wasm backend gives a function
;; with jumps between basic blocks (a loop around blocks and a br_table on
;; $pc; a jump sets $pc and branches to the loop), for ThreadJumps.
(module
  ;; sum(n) = 0 + 1 + ... + (n-1): forward jumps from resume points 0, 1
  ;; and 2, a backward jump (the next iteration) from 2.
  (func $sum (export "sum") (param $n i32) (result i32)
    (local $pc i32) (local $i i32) (local $acc i32)
    (loop $entry
      (block $b3
        (block $b2
          (block $b1
            (block $b0
              (br_table $b0 $b1 $b2 $b3 $b0 (local.get $pc)))
            ;; resume point 0: the start
            (local.set $i (i32.const 0))
            (local.set $acc (i32.const 0))
            (local.set $pc (i32.const 2))
            (br $entry))
          ;; resume point 1: the body
          (local.set $acc (i32.add (local.get $acc) (local.get $i)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $pc (i32.const 2))
          (br $entry))
        ;; resume point 2: the test
        (if (i32.lt_u (local.get $i) (local.get $n))
          (then
            (local.set $pc (i32.const 1))
            (br $entry)))
        (local.set $pc (i32.const 3))
        (br $entry))
      ;; resume point 3: the exit
      (return (local.get $acc)))
    (unreachable))

  ;; pick(k) jumps from resume point 0 to resume point k (the br_table's
  ;; default for k > 2), which returns 10 + its number: $pc comes from the
  ;; parameter, so the jump cannot be threaded.
  (func $pick (export "pick") (param $k i32) (result i32)
    (local $pc i32)
    (loop $entry
      (block $b2
        (block $b1
          (block $b0
            (br_table $b0 $b1 $b2 $b0 (local.get $pc)))
          (if (i32.eqz (local.get $pc))
            (then
              (local.set $pc (local.get $k))
              (if (i32.eqz (local.get $k)) (then (return (i32.const 10))))
              (br $entry)))
          (return (i32.const 10)))
        (return (i32.const 11)))
      (return (i32.const 12)))
    (unreachable))
;; rec(n): 2^n calls, each through a dispatch loop, and no backward
  ;; jump: the loop's check, which every call runs before it can call
  ;; again, stands for the entry check (which the rewrite leaves out).
  (func $rec (export "rec") (param $n i32)
    (local $pc i32)
    (loop $entry
      (block $b0
        (br_table $b0 $b0 (local.get $pc)))
      (if (local.get $n)
        (then
          (call $rec (i32.sub (local.get $n) (i32.const 1)))
          (call $rec (i32.sub (local.get $n) (i32.const 1)))))
      (return)))

  ;; pre() calls before its dispatch loop: it keeps its entry check.
  (func $pre (export "pre") (result i32)
    (local $pc i32)
    (call $rec (i32.const 3))
    (loop $entry
      (block $b0
        (br_table $b0 $b0 (local.get $pc)))
      (return (i32.const 7)))
    (unreachable))
)
