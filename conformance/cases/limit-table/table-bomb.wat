(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1))))
    unreachable))
