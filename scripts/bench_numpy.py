"""The same network and training step as core's `train` bench, vectorised in numpy.

3 -> 64 (ReLU) -> 200 (softmax), cross-entropy, Adam, batch 64, one epoch over 1,000,000
random rows. Prints rows per second: the yardstick the issue compares cinerec against.
Run: python3 scripts/bench_numpy.py  (needs numpy; scripts/bench.sh runs it when present)
"""
import time

import numpy as np

ROWS, CLASSES, HIDDEN, BATCH = 1_000_000, 200, 64, 64
rng = np.random.default_rng(1)
x_all = rng.standard_normal((ROWS, 3)).astype(np.float32)
y_all = rng.integers(0, CLASSES, ROWS)
params = [
    (rng.standard_normal((3, HIDDEN)) * np.sqrt(2 / 3)).astype(np.float32),
    np.zeros(HIDDEN, np.float32),
    (rng.standard_normal((HIDDEN, CLASSES)) * np.sqrt(2 / HIDDEN)).astype(np.float32),
    np.zeros(CLASSES, np.float32),
]
m = [np.zeros_like(p) for p in params]
v = [np.zeros_like(p) for p in params]
lr, b1, b2, eps = np.float32(0.01), np.float32(0.9), np.float32(0.999), np.float32(1e-8)

start = time.perf_counter()
order = rng.permutation(ROWS)
for step, begin in enumerate(range(0, ROWS, BATCH), start=1):
    idx = order[begin:begin + BATCH]
    x, y = x_all[idx], y_all[idx]
    w1, c1, w2, c2 = params
    h = np.maximum(x @ w1 + c1, 0)
    z = h @ w2 + c2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    gw2, gc2 = h.T @ p, p.sum(axis=0)
    dh = (p @ w2.T) * (h > 0)
    gw1, gc1 = x.T @ dh, dh.sum(axis=0)
    step_size = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    for i, g in enumerate((gw1, gc1, gw2, gc2)):
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        params[i] -= step_size * m[i] / (np.sqrt(v[i]) + eps)
seconds = time.perf_counter() - start
print(f"numpy {np.__version__}: {ROWS / seconds:,.0f} rows/s ({seconds:.2f} s for one epoch of {ROWS:,} rows)")
try:
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        print(
            f"  {pool.get('internal_api')} {pool.get('version')}: kernel "
            f"{pool.get('architecture')}, {pool.get('num_threads')} threads"
        )
except ImportError:
    print("  (pip install threadpoolctl to see which BLAS kernel numpy ran)")
