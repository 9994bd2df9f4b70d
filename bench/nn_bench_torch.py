#!/usr/bin/python3
"""PyTorch side of bench/nn_bench.sh: the tutorial Net (--net tutorial) or the
"modern" net (--net modern: MODERN below, as cassnn's description) on MNIST,
trained for --epochs epochs at batch 64 (SGD lr 0.01 momentum 0.5) and then
inference over the test set 3 times at batch 1000 under torch.no_grad().
Runs with any PyTorch (Debian's 1.13, PyPI's 2.x).

PyTorch gets its best case: the data is decoded and normalised into one
float tensor before timing (no DataLoader, no per-batch Python transforms),
batches are slices of a shuffled index. Prints one line:
  torch train_img_s=... train_img_per_cpu_s=... infer_img_s=... accuracy=...
        peak_rss_mb=... threads=N version=...
(train_img_per_cpu_s: images per CPU-second of the whole process, steadier
than wall-clock throughput on a shared, busy machine.)
"""
import argparse
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/reference"))
from tutorial_net import Net  # noqa: E402  (the tutorial's network, shared)


class Modern(nn.Module):
    """conv(32,k=3,p=1) bn relu maxpool(2) conv(64,k=3,p=1) bn relu maxpool(2)
    flatten linear(128) relu dropout linear(10) logsoftmax"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.dropout(F.relu(self.fc1(torch.flatten(x, 1))), 0.5, self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, count * rows * cols, 16).reshape(count, 1, rows, cols)
    return np.frombuffer(data, np.uint8, count, 8)


def load(folder, prefix):
    x = read_idx(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"))
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.1307) / 0.3081
    return x, torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(os.environ.get("CASSNN_DATA", "data"), "mnist"))
    ap.add_argument("--net", choices=("tutorial", "modern"), default="tutorial")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--test-batch-size", type=int, default=1000)
    ap.add_argument("--images", type=int, default=0, help="train on the first N images only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    train_x, train_y = load(a.data, "train")
    if 0 < a.images < len(train_x):
        train_x, train_y = train_x[:a.images], train_y[:a.images]
    test_x, test_y = load(a.data, "t10k")
    model = Net() if a.net == "tutorial" else Modern()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)

    model.train()
    images, start, cpu0 = 0, time.perf_counter(), time.process_time()
    for _ in range(a.epochs):
        order = torch.randperm(len(train_x))
        for i in range(0, len(train_x), a.batch_size):
            idx = order[i:i + a.batch_size]
            data, target = train_x[idx], train_y[idx]
            opt.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            opt.step()
            images += len(idx)
    train_s = time.perf_counter() - start
    train_cpu = time.process_time() - cpu0

    model.eval()
    correct, inferred, start = 0, 0, time.perf_counter()
    with torch.no_grad():
        for _ in range(3):
            correct = 0
            for i in range(0, len(test_x), a.test_batch_size):
                out = model(test_x[i:i + a.test_batch_size])
                correct += int((out.argmax(1) == test_y[i:i + a.test_batch_size]).sum())
                inferred += len(out)
    infer_s = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch train_img_s=%.0f train_img_per_cpu_s=%.0f infer_img_s=%.0f accuracy=%.4f "
          "peak_rss_mb=%.1f threads=%d version=%s"
          % (images / train_s, images / train_cpu, inferred / infer_s, correct / len(test_x), rss,
             a.threads, torch.__version__.split("+")[0]))


if __name__ == "__main__":
    main()
