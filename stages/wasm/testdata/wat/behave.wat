;; behave.wat: a misbehaving guest for the bad-input tests. It passes every
;; record unchanged, except the records (exactly these four bytes):
;;   "trap"  executes unreachable
;;   "spin"  loops forever
;;   "grow"  grows memory by 1000 pages (64 MiB) and traps if that fails
;;   "oobp"  returns a result pointer outside memory
;;   "junk"  returns a result claiming one record more than the batch has
;;   "logs"  logs "behave: logs" through pipe.log at level warn
;;   "slow"  counts down from 100000 before passing (a slow record: about
;;           100-200µs on the machine of bench/RESULTS.md)
;;   "deep"  recurses without end (until the stack bound traps)
;; Build: wat2wasm behave.wat
(module
  (import "pipe" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "behave: logs")

  (func (export "pipe_abi_version") (result i32) (i32.const 1))

  (func $deep (param $n i32) (result i32)
    (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))

  (func (export "pipe_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.shr_u
        (i32.add (i32.add (i32.mul (local.get $size) (i32.const 3)) (i32.const 1040)) (i32.const 65535))
        (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1024))

  (func (export "pipe_transform") (param $ptr i32) (param $len i32) (result i64)
    (local $count i32) (local $i i32) (local $p i32) (local $o i32) (local $out i32)
    (local $dlen i32) (local $d i32) (local $m i32) (local $word i32) (local $junk i32)
    (local $n i32)
    (local.set $count (i32.load (local.get $ptr)))
    (local.set $p (i32.add (local.get $ptr) (i32.const 4)))
    (local.set $out (i32.add (local.get $ptr) (local.get $len)))
    (i32.store (local.get $out) (local.get $count))
    (local.set $o (i32.add (local.get $out) (i32.const 4)))
    (block $done
      (loop $records
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $dlen (i32.load (local.get $p)))
        (local.set $d (i32.add (local.get $p) (i32.const 4)))
        (local.set $p (i32.add (local.get $d) (local.get $dlen)))
        (local.set $m (i32.load (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (block $nometa
          (loop $pairs
            (br_if $nometa (i32.eqz (local.get $m)))
            (local.set $p (i32.add (local.get $p) (i32.add (i32.const 4) (i32.load (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (i32.add (i32.const 4) (i32.load (local.get $p)))))
            (local.set $m (i32.sub (local.get $m) (i32.const 1)))
            (br $pairs)))
        (if (i32.eq (local.get $dlen) (i32.const 4))
          (then
            (local.set $word (i32.load (local.get $d)))
            (if (i32.eq (local.get $word) (i32.const 0x70617274)) ;; "trap"
              (then unreachable))
            (if (i32.eq (local.get $word) (i32.const 0x6e697073)) ;; "spin"
              (then (loop $forever (br $forever))))
            (if (i32.eq (local.get $word) (i32.const 0x776f7267)) ;; "grow"
              (then
                (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1))
                  (then unreachable))))
            (if (i32.eq (local.get $word) (i32.const 0x70626f6f)) ;; "oobp"
              (then (return (i64.const 0xfffff00000000010))))
            (if (i32.eq (local.get $word) (i32.const 0x6b6e756a)) ;; "junk"
              (then (local.set $junk (i32.const 1))))
            (if (i32.eq (local.get $word) (i32.const 0x776f6c73)) ;; "slow"
              (then
                (local.set $n (i32.const 100000))
                (loop $count
                  (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                  (br_if $count (local.get $n)))))
            (if (i32.eq (local.get $word) (i32.const 0x70656564)) ;; "deep"
              (then (drop (call $deep (i32.const 0)))))
            (if (i32.eq (local.get $word) (i32.const 0x73676f6c)) ;; "logs"
              (then (call $log (i32.const 2) (i32.const 16) (i32.const 12))))))
        ;; emit the record unchanged, metadata inherited
        (i32.store8 (local.get $o) (i32.const 0))
        (i32.store (i32.add (local.get $o) (i32.const 1)) (i32.const 1))
        (i32.store (i32.add (local.get $o) (i32.const 5)) (local.get $dlen))
        (memory.copy (i32.add (local.get $o) (i32.const 9)) (local.get $d) (local.get $dlen))
        (local.set $o (i32.add (i32.add (local.get $o) (i32.const 9)) (local.get $dlen)))
        (i32.store (local.get $o) (i32.const -1))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $records)))
    (if (local.get $junk)
      (then (i32.store (local.get $out) (i32.add (local.get $count) (i32.const 1)))))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $o) (local.get $out))))))
