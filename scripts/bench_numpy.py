"""The same network and training step as cinerec's, vectorised in numpy: the yardstick.

3 -> 64 (ReLU) -> 200 (softmax), cross-entropy, Adam, batch 64.

Without arguments: one epoch over 1,000,000 random rows, as learn's `train` bench
(`train/epoch_1m_rows_200_classes_batch_64`); prints rows per second.

With `--csv LOG`: the whole job `cinerec-trainer train --objective item --epochs 1` does, on
a watch log: read the CSV, label-encode the content ids, split the rows 64:16:20, standardise
with the training rows' mean and population deviation, one epoch at Adam's item learning rate
(0.3) with cinerec's warm-up and cosine schedule, the validation pass, test accuracy. Prints
the whole job's and the loop's (epoch and validation pass) seconds, and last a line
`seconds: job J loop L` for scripts/bench.sh.

Run: python3 scripts/bench_numpy.py [--csv LOG]  (needs numpy; pandas reads the CSV faster
when installed; threadpoolctl names the BLAS kernel)
"""
import argparse
import math
import time

import numpy as np

CLASSES, HIDDEN, BATCH = 200, 64, 64
B1, B2, EPS = np.float32(0.9), np.float32(0.999), np.float32(1e-8)


def he(rng, classes):
    return [
        (rng.standard_normal((3, HIDDEN)) * np.sqrt(2 / 3)).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.standard_normal((HIDDEN, classes)) * np.sqrt(2 / HIDDEN)).astype(np.float32),
        np.zeros(classes, np.float32),
    ]


def schedule(step, total):
    """cinerec's learning-rate factor: linear warm-up over a tenth, then a half cosine."""
    progress = step / total
    if progress < 0.1:
        return min((step + 1) / (0.1 * total), 1.0)
    return 0.5 * (1 + math.cos(math.pi * (progress - 0.1) / 0.9))


def softmax(x, params):
    w1, c1, w2, c2 = params
    h = np.maximum(x @ w1 + c1, 0)
    z = h @ w2 + c2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return h, p


def epoch(x_all, y_all, params, rng, lr, scheduled):
    """One epoch of Adam over the rows in a random order."""
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    rows = len(y_all)
    total = -(-rows // BATCH)
    order = rng.permutation(rows)
    for step, begin in enumerate(range(0, rows, BATCH), start=1):
        idx = order[begin:begin + BATCH]
        x, y = x_all[idx], y_all[idx]
        h, p = softmax(x, params)
        p[np.arange(len(y)), y] -= 1
        p /= len(y)
        w2 = params[2]
        gw2, gc2 = h.T @ p, p.sum(axis=0)
        dh = (p @ w2.T) * (h > 0)
        gw1, gc1 = x.T @ dh, dh.sum(axis=0)
        rate = lr * np.float32(schedule(step - 1, total)) if scheduled else lr
        step_size = rate * np.sqrt(1 - B2 ** step) / (1 - B1 ** step)
        for i, g in enumerate((gw1, gc1, gw2, gc2)):
            m[i] = B1 * m[i] + (1 - B1) * g
            v[i] = B2 * v[i] + (1 - B2) * g * g
            params[i] -= step_size * m[i] / (np.sqrt(v[i]) + EPS)


def accuracy(x_all, y_all, params):
    right = 0
    for begin in range(0, len(y_all), 4096):
        _, p = softmax(x_all[begin:begin + 4096], params)
        right += int((p.argmax(axis=1) == y_all[begin:begin + 4096]).sum())
    return right / max(len(y_all), 1)


def random_rows():
    rows = 1_000_000
    rng = np.random.default_rng(1)
    x_all = rng.standard_normal((rows, 3)).astype(np.float32)
    y_all = rng.integers(0, CLASSES, rows)
    params = he(rng, CLASSES)
    start = time.perf_counter()
    epoch(x_all, y_all, params, rng, np.float32(0.01), scheduled=False)
    seconds = time.perf_counter() - start
    print(f"numpy {np.__version__}: {rows / seconds:,.0f} rows/s "
          f"({seconds:.2f} s for one epoch of {rows:,} random rows)")


def read_log(path):
    columns = ["content_id", "watch_seconds", "rating", "popularity"]
    try:
        import pandas as pd

        frame = pd.read_csv(path, usecols=columns)
        return (frame["content_id"].to_numpy(),
                frame[["rating", "popularity", "watch_seconds"]].to_numpy(np.float64), "pandas")
    except ImportError:
        with open(path, encoding="utf-8") as log:
            header = log.readline().strip().split(",")
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        at = {name: header.index(name) for name in columns}
        features = table[:, [at["rating"], at["popularity"], at["watch_seconds"]]]
        return table[:, at["content_id"]].astype(np.int64), features, "np.loadtxt"


def whole_job(path):
    start = time.perf_counter()
    ids, raw, reader = read_log(path)
    classes, y_all = np.unique(ids, return_inverse=True)
    rng = np.random.default_rng(0)
    rows = len(y_all)
    order = rng.permutation(rows)
    test_len = -(-rows * 2 // 10)
    validation_len = -(-(rows - test_len) * 2 // 10)
    test = order[:test_len]
    validation = order[test_len:test_len + validation_len]
    train = order[test_len + validation_len:]
    mean = raw[train].mean(axis=0)
    scale = raw[train].std(axis=0)
    scale[scale == 0] = 1
    x_all = ((raw - mean) / scale).astype(np.float32)
    params = he(rng, len(classes))
    loop_start = time.perf_counter()
    epoch(x_all[train], y_all[train], params, rng, np.float32(0.3), scheduled=True)
    validation_accuracy = accuracy(x_all[validation], y_all[validation], params)
    loop = time.perf_counter() - loop_start
    test_accuracy = accuracy(x_all[test], y_all[test], params)
    job = time.perf_counter() - start
    print(f"numpy {np.__version__}, CSV read with {reader}: {rows:,} rows, {len(classes)} classes, "
          f"split {len(train):,}/{len(validation):,}/{len(test):,}")
    print(f"  loop (one epoch and the validation pass): {loop:.2f} s, "
          f"{len(train) / loop:,.0f} training rows/s; validation accuracy {validation_accuracy:.4f}")
    print(f"  whole job (CSV to test accuracy): {job:.2f} s; test accuracy {test_accuracy:.4f}")
    print(f"seconds: job {job:.3f} loop {loop:.3f}")


def kernels():
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(
                f"  {pool.get('internal_api')} {pool.get('version')}: kernel "
                f"{pool.get('architecture')}, {pool.get('num_threads')} threads"
            )
    except ImportError:
        print("  (pip install threadpoolctl to see which BLAS kernel numpy ran)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", help="a watch log: time the whole training job on it")
    args = parser.parse_args()
    if args.csv:
        whole_job(args.csv)
    else:
        random_rows()
    kernels()
