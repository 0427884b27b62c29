"""Noise Lens core: data, models and white-noise analysis, with no Streamlit in it."""

import os

from core.cpus import fit_tensorflow_to_the_cpus, fix_mmap_threshold, limit_malloc_arenas, one_blas_thread

# TensorFlow's C++ start-up chatter hides real messages in the CLI and the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Before TensorFlow starts: under a CPU quota (a shared cloud CPU) as many threads as allowed CPUs, not cores seen.
fit_tensorflow_to_the_cpus()
# A long-lived server's threads (a new one per rerun) each reach for a heap of their own: hold glibc to two.
limit_malloc_arenas()
# Large arrays in mappings of their own: in the heap, the long-lived among them strand the freed space between.
fix_mmap_threshold()
# numpy's BLAS threads spin after each product, on the cores the model's next chunk needs: one thread.
one_blas_thread()
