#!/usr/bin/python3
"""Interop check: a cassnn checkpoint, read straight from Cassandra with the
DataStax Python driver, loads as safetensors into the PyTorch tutorial's Net
and scores the same test accuracy as cassnn stored for it (within 0.1%).

Run with Debian's /usr/bin/python3 (torch 1.13, python3-cassandra).

  check_checkpoint_torch.py --cassnn BIN      set up its own keyspace: ingest
                                              MNIST (blob layout), train one
                                              epoch, check, drop the keyspace
  check_checkpoint_torch.py --keyspace KS [--model ID] [--table raw_test]
                                              check a model of an existing keyspace
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import uuid

import numpy as np
import torch
from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../reference"))
from tutorial_net import Net  # noqa: E402  (the tutorial's network, shared)


def read_safetensors(blob):
    """The safetensors format, read with the standard library and numpy only."""
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def best_by_accuracy(session, keyspace):
    rows = session.execute(f"SELECT id, accuracy FROM {keyspace}.models_test")
    scored = [r for r in rows if r.accuracy is not None]
    if not scored:
        sys.exit(f"{keyspace}.models_test holds no model with an accuracy")
    return max(scored, key=lambda r: r.accuracy).id


def load_table(session, keyspace, table):
    images, labels = [], []
    # small pages: the node answers small frames even when short of memory
    query = SimpleStatement(f"SELECT id, label, pixels FROM {keyspace}.{table}", fetch_size=200)
    for row in session.execute(query):
        pixels = np.frombuffer(row.pixels, dtype=np.uint8) if isinstance(row.pixels, (bytes, bytearray)) \
            else np.asarray(row.pixels, dtype=np.uint8)
        images.append(pixels.reshape(1, 28, 28))
        labels.append(row.label)
    x = torch.from_numpy(np.stack(images).astype(np.float32) / 255.0)
    return (x - 0.1307) / 0.3081, torch.tensor(labels)


def check(session, keyspace, model_id, table):
    row = session.execute(f"SELECT network, accuracy FROM {keyspace}.models_test WHERE id = %s",
                          [model_id]).one()
    if row is None:
        sys.exit(f"no model {model_id} in {keyspace}.models_test")
    net = Net()
    net.load_state_dict(read_safetensors(row.network))
    net.eval()
    x, y = load_table(session, keyspace, table)
    with torch.no_grad():
        correct = sum(int((net(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(y), 1000))
    accuracy = correct / len(y)
    print(f"model {model_id}: PyTorch {correct}/{len(y)} = {100 * accuracy:.2f}%, "
          f"cassnn stored {100 * row.accuracy:.2f}%")
    if abs(accuracy - row.accuracy) > 0.001:
        sys.exit("FAIL: accuracies differ by more than 0.1%")
    print("OK: same accuracy within 0.1%")


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cassnn", help="the cassnn program: set up a keyspace of its own")
    ap.add_argument("--keyspace")
    ap.add_argument("--model", help="model id (default: best by accuracy)")
    ap.add_argument("--table", default=None)
    ap.add_argument("--host", default=os.environ.get("CASSNN_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("CASSNN_PORT", "9042")))
    a = ap.parse_args()
    if not a.cassnn and not a.keyspace:
        ap.error("give --cassnn BIN or --keyspace KS")
    cluster = Cluster([a.host], port=a.port)
    session = cluster.connect()
    session.default_timeout = 120
    own = a.cassnn is not None
    keyspace = a.keyspace or "cassnn_test_reg_torch"
    table = a.table or ("raw_test_blob" if own else "raw_test")
    try:
        if own:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
            run([a.cassnn, "ingest", "--dataset", "mnist", "--keyspace", keyspace, "--layout", "blob"])
            run([a.cassnn, "train", "--keyspace", keyspace, "--train-table", "raw_train_blob",
                 "--test-table", "raw_test_blob", "--epochs", "1", "--log-interval", "100"])
        model_id = uuid.UUID(a.model) if a.model else best_by_accuracy(session, keyspace)
        check(session, keyspace, model_id, table)
    finally:
        if own:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cluster.shutdown()


if __name__ == "__main__":
    main()
