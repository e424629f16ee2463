"""EAGER's rules as pure functions: where a reasoning model may fork (``branch_region``), its
answer (``final_answer``), DeepConf's confidence (``confidence``), budget reallocation over a
dataset (``budget``) and the θ what-if of a recorded tree (``what_if``).

No I/O, no engine, no decode loop: these import only the standard library, numpy and errors.
"""
