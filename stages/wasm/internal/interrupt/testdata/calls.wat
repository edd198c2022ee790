;; calls.wat: call shapes for the entry checks (TestEntryChecks). The
;; functions named dispatch_* open with a dispatch loop (the shape Go's wasm
;; backend gives a function with jumps) and so have no entry check; the
;; others keep theirs. Every export that can run for ever is stopped by
;; the interrupt.
(module
  (type $t (func (param i32)))
  (table 2 funcref)
  (elem (i32.const 0) $dispatch_ind $leaf)
  ;; 2^n calls of itself, no loop
  (func $self (export "self") (param $n i32)
    (if (local.get $n)
      (then (call $self (i32.sub (local.get $n) (i32.const 1)))
            (call $self (i32.sub (local.get $n) (i32.const 1))))))
  ;; 2^n calls through two dispatch-loop functions calling each other
  (func $dispatch_a (export "mutual") (param $n i32)
    (local $pc i32)
    (loop $entry
      (block $b0 (br_table $b0 $b0 (local.get $pc)))
      (if (local.get $n)
        (then (call $dispatch_b (i32.sub (local.get $n) (i32.const 1)))
              (call $dispatch_b (i32.sub (local.get $n) (i32.const 1)))))
      (return)))
  (func $dispatch_b (param $n i32)
    (local $pc i32)
    (loop $entry
      (block $b0 (br_table $b0 $b0 (local.get $pc)))
      (if (local.get $n)
        (then (call $dispatch_a (i32.sub (local.get $n) (i32.const 1)))
              (call $dispatch_a (i32.sub (local.get $n) (i32.const 1)))))
      (return)))
  ;; 2^n calls of itself through the table
  (func $dispatch_ind (export "indirect") (param $n i32)
    (local $pc i32)
    (loop $entry
      (block $b0 (br_table $b0 $b0 (local.get $pc)))
      (if (local.get $n)
        (then (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))
              (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))
      (return)))
  ;; a leaf with a loop of n iterations, and one without
  (func $leaf_loop (export "leaf_loop") (param $n i32)
    (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func $leaf (param i32))
  ;; a chain that does not recurse: chain(n) calls the leaves with a loop
  ;; from a loop of n iterations, twice over
  (func $chain (export "chain") (param $n i32)
    (local $i i32)
    (loop $l
      (call $leaf_loop (local.get $n))
      (call $leaf_loop (local.get $n))
      (call $leaf (local.get $n))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
)
