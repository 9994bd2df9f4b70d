#!/usr/bin/env python3
"""Python baseline for `cassnn ingest`: the tutorial's loader, done the way the
DataStax Python driver recommends (one prepared INSERT, execute_concurrent_with_args).

Usage:
    ingest_bench_python.py --keyspace KS (--idx DIR | --train CSV [--predict CSV])
                           [--split 0.8] [--layout tutorial|blob] [--host H] [--port P]
                           [--concurrency N]

Writes the same rows as `cassnn ingest` into KS.raw_train / raw_test /
raw_predict (or, with --layout blob, raw_*_blob: pixels as one 784-byte blob),
which must exist (run `cassnn schema --keyspace KS [--layout blob]` first), and
prints one line:
    python rows=N seconds=S rows_per_s=R
The time covers reading the input and writing it, as for cassnn.
"""
import argparse
import csv
import gzip
import os
import struct
import sys
import time

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args


def read_idx(path, magic):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    found, count = struct.unpack(">II", data[:8])
    if found != magic:
        raise ValueError(f"{path}: bad magic {found}")
    return count, data


def idx_rows(directory, prefix):
    """(label, [784 ints]) for every image of DIR/<prefix>-*-ubyte[.gz]."""
    def find(kind, dims):
        for suffix in (".gz", ""):
            path = os.path.join(directory, f"{prefix}-{kind}-idx{dims}-ubyte{suffix}")
            if os.path.exists(path):
                return path
        raise FileNotFoundError(f"{prefix} {kind} not found in {directory}")
    n, images = read_idx(find("images", 3), 2051)
    _, labels = read_idx(find("labels", 1), 2049)
    return [(labels[8 + i], list(images[16 + i * 784:16 + (i + 1) * 784])) for i in range(n)]


def csv_rows(path, labeled):
    """(label or None, [784 ints]) for every row of a Kaggle-style CSV."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header
        if labeled:
            return [(int(row[0]), [int(v) for v in row[1:]]) for row in reader if row]
        return [(None, [int(v) for v in row]) for row in reader if row]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyspace", required=True)
    ap.add_argument("--idx")
    ap.add_argument("--train")
    ap.add_argument("--predict")
    ap.add_argument("--split", type=float, default=0.8)
    ap.add_argument("--host", default=os.environ.get("CASSNN_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("CASSNN_PORT", "9042")))
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--layout", choices=("tutorial", "blob"), default="tutorial")
    args = ap.parse_args()
    if bool(args.idx) == bool(args.train):
        ap.error("give exactly one of --idx and --train")

    cluster = Cluster([args.host], port=args.port)
    session = cluster.connect(args.keyspace)
    start = time.monotonic()
    if args.idx:
        parts = {"raw_train": idx_rows(args.idx, "train"), "raw_test": idx_rows(args.idx, "t10k")}
    else:
        rows = csv_rows(args.train, True)
        head = round(len(rows) * args.split)
        parts = {"raw_train": rows[:head], "raw_test": rows[head:]}
        if args.predict:
            parts["raw_predict"] = csv_rows(args.predict, False)
    blob = args.layout == "blob"
    total = 0
    for table, rows in parts.items():
        if blob:
            table += "_blob"
            rows = [(label, bytes(pixels)) for label, pixels in rows]
        if table == "raw_predict":
            insert = session.prepare(f"INSERT INTO {table} (id, pixels) VALUES (?, ?)")
            params = [(i, pixels) for i, (_, pixels) in enumerate(rows)]
        else:
            insert = session.prepare(f"INSERT INTO {table} (id, label, pixels) VALUES (?, ?, ?)")
            params = [(i, label, pixels) for i, (label, pixels) in enumerate(rows)]
        # As cassnn does: rows the node timed out on are sent again (upserts
        # are idempotent), up to 6 tries, instead of failing the whole load.
        for attempt in range(6):
            results = execute_concurrent_with_args(session, insert, params,
                                                   concurrency=args.concurrency,
                                                   raise_on_first_error=False)
            failed = [p for p, (ok, _) in zip(params, results) if not ok]
            total += len(params) - len(failed)
            if not failed:
                break
            params = failed
        else:
            raise SystemExit(f"{table}: {len(failed)} rows still failing after 6 tries")
    seconds = time.monotonic() - start
    cluster.shutdown()
    print(f"python rows={total} seconds={seconds:.2f} rows_per_s={total / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
