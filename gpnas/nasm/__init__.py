"""A discovered NASM as users keep and use it: program files (:mod:`.programfile`), scoring any
torch model (:mod:`.score`), formulas (:mod:`.simplify`) and exports (:mod:`.export`)."""
