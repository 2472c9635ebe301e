"""Recognition core: detection, 5-point alignment, embedding, quality, liveness and the FAISS whitelist index.

Stages exchange the typed objects in :mod:`recognition.types`. Model wrappers
implement Protocols and take an injected ONNX Runtime session; which model runs
is chosen by configuration, never guessed from tensor shapes.
"""
