"""The engine: a model with a multi-sequence KV cache, one batched decode per call.

``base`` (the protocol, sequence-id pool), ``candidates`` (backend top-N rows), ``native``
(the only module that imports llama_cpp), ``llama`` (LlamaEngine over it) and ``fake``
(a deterministic engine for tests). Imports nothing above it but errors and ``models``
(the GGUF checks before a file reaches llama.cpp).
"""
