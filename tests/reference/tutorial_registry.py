#!/usr/bin/python3
"""The tutorial's training loop and model registry, as its notebook runs
them (the PyTorch MNIST example's Net and SGD, an AstraDataset that SELECTs
each row by id, a models_train row every log interval and a models_test
row per test, each holding pickle.dumps(network.state_dict()) and
pickle.dumps(optimizer.state_dict())), for the interop tests on a small
table. Run with Debian's /usr/bin/python3 (torch 1.13, python3-cassandra).

  tutorial_registry.py train --keyspace KS [--epochs 2] [--log-interval 2]
      trains on raw_train, tests on raw_test; prints "test ID CORRECT N LOSS_SUM"
      per models_test row it wrote
  tutorial_registry.py score --keyspace KS --model ID
      loads that row with the tutorial's code (pickle.loads and
      load_state_dict, network and optimizer) and prints
      "score ID CORRECT N LOSS_SUM" over raw_test
"""
import argparse
import datetime
import os
import pickle
import sys
import uuid

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim as optim
from cassandra.cluster import Cluster
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tutorial_net import Net  # noqa: E402


class AstraDataset(Dataset):
    """The tutorial's dataset: one SELECT per image, normalised like
    transforms.Normalize((0.1307,), (0.3081,)) after ToTensor."""

    def __init__(self, session, keyspace, table):
        self.session, self.keyspace, self.table = session, keyspace, table
        self.length = session.execute("SELECT count(*) FROM %s.%s" % (keyspace, table)).one()[0]

    def __getitem__(self, index):
        row = self.session.execute("SELECT pixels, label FROM %s.%s WHERE id = %d"
                                   % (self.keyspace, self.table, index)).one()
        x = np.float32(np.array(row.pixels, dtype=np.float32).reshape(1, 28, 28) / 255)
        return (torch.from_numpy(x) - 0.1307) / 0.3081, row.label

    def __len__(self):
        return self.length


def test(session, keyspace, network, optimizer, loader, write):
    network.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = network(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.data.max(1, keepdim=True)[1]
            correct += int(pred.eq(target.data.view_as(pred)).sum())
    n = len(loader.dataset)
    loss_sum = test_loss
    test_loss /= n
    model_id = uuid.uuid4()
    if write:
        session.execute("INSERT INTO %s.models_test (id, network, optimizer, upload_date, loss, "
                        "accuracy) VALUES (%%s, %%s, %%s, %%s, %%s, %%s)" % keyspace,
                        (model_id, pickle.dumps(network.state_dict()),
                         pickle.dumps(optimizer.state_dict()), datetime.datetime.now(),
                         test_loss, correct / n))
    return model_id, correct, n, loss_sum


def train(session, a):
    torch.manual_seed(1)
    train_loader = DataLoader(AstraDataset(session, a.keyspace, "raw_train"), batch_size=64,
                              shuffle=True)
    test_loader = DataLoader(AstraDataset(session, a.keyspace, "raw_test"), batch_size=1000)
    network = Net()
    optimizer = optim.SGD(network.parameters(), lr=0.01, momentum=0.5)
    for epoch in range(1, a.epochs + 1):
        network.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = F.nll_loss(network(data), target)
            loss.backward()
            optimizer.step()
            if batch_idx % a.log_interval == 0:
                session.execute(
                    "INSERT INTO %s.models_train (id, network, optimizer, upload_date, epoch, "
                    "batch_percent, loss) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % a.keyspace,
                    (uuid.uuid4(), pickle.dumps(network.state_dict()),
                     pickle.dumps(optimizer.state_dict()), datetime.datetime.now(), epoch,
                     "%.0f%%" % (100.0 * batch_idx / len(train_loader)), loss.item()))
        model_id, correct, n, loss_sum = test(session, a.keyspace, network, optimizer, test_loader, True)
        print("test %s %d %d %.6f" % (model_id, correct, n, loss_sum), flush=True)


def score(session, a):
    row = session.execute("SELECT network, optimizer FROM %s.models_test WHERE id = %%s" % a.keyspace,
                          [uuid.UUID(a.model)]).one()
    if row is None:
        sys.exit("no model %s in %s.models_test" % (a.model, a.keyspace))
    network = Net()
    network.load_state_dict(pickle.loads(row.network))
    optimizer = optim.SGD(network.parameters(), lr=0.01, momentum=0.5)
    optimizer.load_state_dict(pickle.loads(row.optimizer))
    loader = DataLoader(AstraDataset(session, a.keyspace, "raw_test"), batch_size=1000)
    _, correct, n, loss_sum = test(session, a.keyspace, network, optimizer, loader, False)
    print("score %s %d %d %.6f" % (a.model, correct, n, loss_sum), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["train", "score"])
    ap.add_argument("--keyspace", required=True)
    ap.add_argument("--model")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--log-interval", type=int, default=2)
    ap.add_argument("--host", default=os.environ.get("CASSNN_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("CASSNN_PORT", "9042")))
    a = ap.parse_args()
    torch.set_num_threads(1)
    cluster = Cluster([a.host], port=a.port)
    session = cluster.connect()
    session.default_timeout = 60
    try:
        (train if a.command == "train" else score)(session, a)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
