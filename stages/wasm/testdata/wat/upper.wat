;; upper.wat: the W2 workload (upper-case the whole line) written by hand
;; against ABI v1 (../../ABI.md), without any SDK. Build: wat2wasm upper.wat
;;
;; Memory layout: the input buffer starts at 1024; the result is written
;; right after the input. A result record takes 13 bytes plus the data and
;; an input record at least 8 plus the data, so the result never needs more
;; than twice the input: pipe_alloc grows memory to 1024 + 3 * size.
(module
  (memory (export "memory") 1)

  (func (export "pipe_abi_version") (result i32) (i32.const 1))

  ;; pipe_alloc(size) -> address of a buffer of size bytes, 0 if memory
  ;; cannot grow that far.
  (func (export "pipe_alloc") (param $size i32) (result i32)
    (local $need i32)
    ;; pages needed for 1024 + 3*size + 16 bytes
    (local.set $need
      (i32.shr_u
        (i32.add (i32.add (i32.mul (local.get $size) (i32.const 3)) (i32.const 1040)) (i32.const 65535))
        (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1024))

  ;; pipe_transform(ptr, len) -> result address << 32 | result length
  (func (export "pipe_transform") (param $ptr i32) (param $len i32) (result i64)
    (local $count i32) (local $i i32) (local $p i32) (local $o i32) (local $out i32)
    (local $dlen i32) (local $d i32) (local $end i32) (local $c i32) (local $m i32)
    (local $v v128)
    (local.set $count (i32.load (local.get $ptr)))
    (local.set $p (i32.add (local.get $ptr) (i32.const 4)))
    (local.set $out (i32.add (local.get $ptr) (local.get $len)))
    (i32.store (local.get $out) (local.get $count))
    (local.set $o (i32.add (local.get $out) (i32.const 4)))
    (block $done
      (loop $records
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        ;; record: data_len, data
        (local.set $dlen (i32.load (local.get $p)))
        (local.set $d (i32.add (local.get $p) (i32.const 4)))
        (local.set $p (i32.add (local.get $d) (local.get $dlen)))
        ;; metadata: skip its pairs
        (local.set $m (i32.load (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (block $nometa
          (loop $pairs
            (br_if $nometa (i32.eqz (local.get $m)))
            (local.set $p (i32.add (local.get $p) (i32.add (i32.const 4) (i32.load (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (i32.add (i32.const 4) (i32.load (local.get $p)))))
            (local.set $m (i32.sub (local.get $m) (i32.const 1)))
            (br $pairs)))
        ;; result: status 0 (emit), one record, its data upper-cased,
        ;; metadata inherited (0xFFFFFFFF)
        (i32.store8 (local.get $o) (i32.const 0))
        (i32.store (i32.add (local.get $o) (i32.const 1)) (i32.const 1))
        (i32.store (i32.add (local.get $o) (i32.const 5)) (local.get $dlen))
        (local.set $o (i32.add (local.get $o) (i32.const 9)))
        (local.set $end (i32.add (local.get $d) (local.get $dlen)))
        ;; sixteen bytes a step (SIMD): a byte b is lower case when b - 'a'
        ;; (wrapping) is below 26; those lose 32
        (block $wide
          (loop $chunks
            (br_if $wide (i32.lt_u (i32.sub (local.get $end) (local.get $d)) (i32.const 16)))
            (local.set $v (v128.load (local.get $d)))
            (v128.store (local.get $o)
              (i8x16.sub (local.get $v)
                (v128.and
                  (i8x16.lt_u (i8x16.sub (local.get $v) (i8x16.splat (i32.const 97))) (i8x16.splat (i32.const 26)))
                  (i8x16.splat (i32.const 32)))))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $chunks)))
        ;; the rest byte by byte
        (block $copied
          (loop $bytes
            (br_if $copied (i32.ge_u (local.get $d) (local.get $end)))
            (local.set $c (i32.load8_u (local.get $d)))
            (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
              (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
            (i32.store8 (local.get $o) (local.get $c))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $bytes)))
        (i32.store (local.get $o) (i32.const -1))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $records)))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $o) (local.get $out))))))
