(module (memory (export "memory") 1000) (func (export "_start")))
