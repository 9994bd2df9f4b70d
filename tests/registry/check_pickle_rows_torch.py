#!/usr/bin/python3
"""Interop check: the rows cassnn wrote with `train --blob-format pickle`
load with the tutorial's own code - pickle.loads, then load_state_dict into
its Net and into optim.SGD - and every models_test row scores on raw_test,
in PyTorch, exactly the accuracy (and the mean loss, within 1e-4) that
cassnn stored for it. Every models_train row loads the same way.

Run with Debian's /usr/bin/python3 (torch 1.13, python3-cassandra).

  check_pickle_rows_torch.py --keyspace KS [--host H] [--port P]
"""
import argparse
import os
import pickle
import sys

import torch.optim as optim
from cassandra.cluster import Cluster
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../reference"))
from tutorial_net import Net  # noqa: E402
from tutorial_registry import AstraDataset, test  # noqa: E402


def tutorial_load(row):
    """What the tutorial does with a registry row."""
    network = Net()
    network.load_state_dict(pickle.loads(row.network))
    optimizer = optim.SGD(network.parameters(), lr=0.01, momentum=0.5)
    optimizer.load_state_dict(pickle.loads(row.optimizer))
    return network, optimizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyspace", required=True)
    ap.add_argument("--host", default=os.environ.get("CASSNN_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("CASSNN_PORT", "9042")))
    a = ap.parse_args()
    cluster = Cluster([a.host], port=a.port)
    session = cluster.connect()
    session.default_timeout = 60
    failed = 0
    try:
        train_rows = list(session.execute("SELECT id, network, optimizer FROM %s.models_train"
                                          % a.keyspace))
        for row in train_rows:
            tutorial_load(row)
        print("%d models_train rows load" % len(train_rows))
        loader = DataLoader(AstraDataset(session, a.keyspace, "raw_test"), batch_size=1000)
        test_rows = list(session.execute("SELECT id, network, optimizer, loss, accuracy FROM "
                                         "%s.models_test" % a.keyspace))
        for row in test_rows:
            network, optimizer = tutorial_load(row)
            _, correct, n, loss_sum = test(session, a.keyspace, network, optimizer, loader, False)
            stored = round(row.accuracy * n)
            ok = correct == stored and abs(loss_sum / n - row.loss) <= 1e-4 * abs(row.loss)
            failed += not ok
            print("%s row %s: PyTorch %d/%d loss %.6f, cassnn stored %d/%d loss %.6f"
                  % ("ok  " if ok else "FAIL", row.id, correct, n, loss_sum / n, stored, n,
                     row.loss))
        if not test_rows:
            sys.exit("FAIL: %s.models_test holds no rows" % a.keyspace)
    finally:
        cluster.shutdown()
    if failed:
        sys.exit("FAIL: %d rows score otherwise in PyTorch" % failed)
    print("OK: %d models_test rows score in the tutorial's code what the registry says"
          % len(test_rows))


if __name__ == "__main__":
    main()
