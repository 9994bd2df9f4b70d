#!/usr/bin/env python3
"""cql_bench_python.py - the official Python driver (cassandra-driver) on the
same workload as bench/cql_bench.c: the 70,000 MNIST images into
raw_train/raw_test with the same prepared INSERT through
execute_concurrent_with_args (bounded concurrency), then a paged scan of both
tables that materializes every row (pixels as a list of ints).
Prints the same line format as cql_bench. Protocol v4, like cassnn.

usage: cql_bench_python.py [--host H] [--port P] [--keyspace KS]
                           [--concurrency N] [--page-size N] [--data DIR]
                           [--phase insert|scan|all]
"""
import argparse
import gzip
import os
import struct
import sys
import time

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement


def read_idx(images_path, labels_path):
    """Tiny IDX reader: list of (label, [784 ints])."""
    with gzip.open(images_path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">iiii", f.read(16))
        assert magic == 2051, images_path
        pixels = f.read(n * rows * cols)
    with gzip.open(labels_path, "rb") as f:
        magic, m = struct.unpack(">ii", f.read(8))
        assert magic == 2049 and m == n, labels_path
        labels = f.read(m)
    size = rows * cols
    return [(labels[i], list(pixels[i * size:(i + 1) * size])) for i in range(n)]


def cpu_s():
    t = os.times()
    return t.user + t.system


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9042)
    ap.add_argument("--keyspace", default="cassnn_bench_py")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--data", default=os.environ.get("CASSNN_DATA", "/work/shared/data"))
    ap.add_argument("--phase", default="all")
    a = ap.parse_args()
    base = os.path.join(a.data, "mnist")
    cluster = Cluster([a.host], port=a.port, protocol_version=4)
    s = cluster.connect()
    ks = a.keyspace
    if a.phase != "scan":
        sets = {
            "raw_train": read_idx(os.path.join(base, "train-images-idx3-ubyte.gz"),
                                  os.path.join(base, "train-labels-idx1-ubyte.gz")),
            "raw_test": read_idx(os.path.join(base, "t10k-images-idx3-ubyte.gz"),
                                 os.path.join(base, "t10k-labels-idx1-ubyte.gz")),
        }
        s.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}" % ks)
        for t in sets:
            s.execute("DROP TABLE IF EXISTS %s.%s" % (ks, t))
            s.execute("CREATE TABLE %s.%s (id int PRIMARY KEY, label int, pixels list<int>)" % (ks, t))
        c0, t0 = cpu_s(), time.monotonic()
        rows = 0
        for t, data in sets.items():
            ins = s.prepare("INSERT INTO %s.%s (id, label, pixels) VALUES (?, ?, ?)" % (ks, t))
            args = [(i, label, px) for i, (label, px) in enumerate(data)]
            res = execute_concurrent_with_args(s, ins, args, concurrency=a.concurrency, raise_on_first_error=False)
            bad = [r.result_or_exc for r in res if not r.success]
            if bad:
                sys.exit("python: %d of %d inserts into %s failed; first: %r" % (len(bad), len(args), t, bad[0]))
            rows += len(res)
        secs, cpu = time.monotonic() - t0, cpu_s() - c0
        print("python insert rows=%d seconds=%.3f rows_per_s=%.0f cpu_s=%.3f concurrency=%d"
              % (rows, secs, rows / secs, cpu, a.concurrency), flush=True)
    if a.phase != "insert":
        c0, t0 = cpu_s(), time.monotonic()
        rows = checksum = 0
        for t in ("raw_train", "raw_test"):
            st = SimpleStatement("SELECT id, label, pixels FROM %s.%s" % (ks, t), fetch_size=a.page_size)
            for r in s.execute(st):
                checksum += r.pixels[len(r.pixels) // 2] + r.label
                rows += 1
        secs, cpu = time.monotonic() - t0, cpu_s() - c0
        print("python scan rows=%d seconds=%.3f rows_per_s=%.0f cpu_s=%.3f page_size=%d checksum=%d"
              % (rows, secs, rows / secs, cpu, a.page_size, checksum), flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
