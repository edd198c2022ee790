;; loops.wat: loops the rewrite wraps (no parameters), with branches out of
;; them (br, br_if, br_table, to blocks and to the function), nested loops
;; and a loop with a result, for TestWrappedLoops.
(module
  ;; sum of i*j for i < n, j < i, with the inner loop left by br_if and
  ;; the outer by br to the function's label
  (func (export "nested") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $s i32)
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $inner_done
          (loop $inner
            (br_if $inner_done (i32.ge_u (local.get $j) (local.get $i)))
            (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.gt_u (local.get $s) (i32.const 100000))
          (then (return (i32.const -1))))
        (br $outer)))
    (local.get $s))
  ;; a loop with a result, left by br_table to the loop itself (four times),
  ;; then to one of two blocks
  (func (export "table") (param $k i32) (result i32)
    (local $c i32)
    (block $b2 (result i32)
      (block $b1
        (block $b0
          (drop
            (loop $l (result i32)
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              (i32.const 7)
              (br_table $l $b0 $b1 $b1
                (select (i32.const 0) (i32.add (local.get $k) (i32.const 1)) (i32.lt_u (local.get $c) (i32.const 5))))))
          (return (i32.const 100)))
        (return (i32.add (i32.const 200) (local.get $c))))
      (i32.const 300)))
  ;; a loop with a result that falls through, inside a loop
  (func (export "result") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $again
      (local.set $acc (i32.add (local.get $acc)
        (loop $l (result i32)
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.and (local.get $i) (i32.const 3)))
          (local.get $i))))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc)))
