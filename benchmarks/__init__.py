"""Benchmarks: cold start, warm path, local API, batching, memory and size (`python -m benchmarks`).

Nothing in `handler/` imports this package. Every measurement that needs the handler runs in a
fresh process (same interpreter, same environment), so the parent never loads TensorFlow and each
figure starts from a clean container, as on Lambda.
"""
