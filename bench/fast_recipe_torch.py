#!/usr/bin/python3
"""PyTorch side of bench/fast_recipe_bench.sh: cassnn's fast recipe
(`cassnn train --recipe fast`, src/run/recipe.c) in PyTorch, for one seed:

  net    conv(8,k=5) maxpool(2) bn relu conv(16,k=5) maxpool(2) bn relu
         flatten linear(64) relu linear(10) logsoftmax (NLL loss)
  optim  SGD, Nesterov, OneCycleLR(max_lr=LR) with its default momentum cycle
         0.95 -> 0.85 -> 0.95, per batch
  data   batch 128, shuffled per epoch, each training image shifted by a
         random integer (dx, dy) in [-2, 2]^2 (background fill), 2 epochs

PyTorch gets its best case: the IDX files are decoded and normalised into
one float tensor before timing (no DataLoader), batches are slices of a
shuffled index, the shifts are done per batch on the tensor. Prints one line:
  torch accuracy=... train_s=... test_s=... cpu_s=... threads=N version=...
(cpu_s: the process's CPU time during training and test.)
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_bench_torch import read_idx  # noqa: E402  (the IDX reader, shared)

NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion": (0.2860, 0.3530)}


class Fast(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(F.max_pool2d(self.conv1(x), 2)))
        x = F.relu(self.bn2(F.max_pool2d(self.conv2(x), 2)))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


def shift(x, max_shift, fill, gen):
    """Each image moved by its own random integer offset, background fill."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=fill)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
    out = torch.empty_like(x)
    for oy in range(2 * max_shift + 1):
        for ox in range(2 * max_shift + 1):
            idx = ((offsets[:, 0] == oy) & (offsets[:, 1] == ox)).nonzero(as_tuple=True)[0]
            if len(idx):
                out[idx] = padded[idx, :, oy:oy + h, ox:ox + w]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with the four IDX .gz files")
    ap.add_argument("--dataset", choices=sorted(NORMALISATION), default="mnist")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--shift", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    mean, std = NORMALISATION[a.dataset]

    def load(prefix):
        x = read_idx(f"{a.data}/{prefix}-images-idx3-ubyte.gz")
        y = read_idx(f"{a.data}/{prefix}-labels-idx1-ubyte.gz")
        x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std
        return x, torch.from_numpy(y.astype(np.int64))

    train_x, train_y = load("train")
    test_x, test_y = load("t10k")
    fill = -mean / std
    net = Fast()
    steps = a.epochs * ((len(train_x) + a.batch_size - 1) // a.batch_size)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.95, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps)
    t0, cpu0 = time.time(), time.process_time()
    net.train()
    for _ in range(a.epochs):
        order = torch.randperm(len(train_x), generator=gen)
        for i in range(0, len(train_x), a.batch_size):
            idx = order[i:i + a.batch_size]
            x = shift(train_x[idx], a.shift, fill, gen) if a.shift else train_x[idx]
            opt.zero_grad()
            loss = F.nll_loss(net(x), train_y[idx])
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.time() - t0
    t0 = time.time()
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test_x), 1000):
            correct += (net(test_x[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum().item()
    test_s = time.time() - t0
    cpu_s = time.process_time() - cpu0
    print(f"torch accuracy={100.0 * correct / len(test_x):.2f} train_s={train_s:.2f} "
          f"test_s={test_s:.2f} cpu_s={cpu_s:.2f} threads={a.threads} version={torch.__version__}")


if __name__ == "__main__":
    main()
