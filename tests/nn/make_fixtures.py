#!/usr/bin/python3
"""Writes the PyTorch parity fixtures of the nn unit tests (run with Debian's
/usr/bin/python3, torch 1.13):

  fixtures/tutorial_sgd.safetensors  the PyTorch MNIST example's Net with its
      default init (seed 1) on a fixed batch of 4 normalised images: input,
      target, param.*, log-probabilities, loss, grad.* and the weights after
      3 SGD steps (lr 0.01, momentum 0.5) on the same batch -> sgd3.*.
  fixtures/torch_state.safetensors   that Net's initial state_dict exactly as
      PyTorch names it (no cassnn metadata): the file cassnn must load.
  fixtures/small_optim.safetensors   a small conv net (1x12x12 input, batch
      8): param.* and, for each optimizer configuration below, the weights
      after 3 steps on the same batch -> <config>.*.

  fixtures/batchnorm.safetensors     BNNet (tests/reference/bn_net.py: conv ->
      BatchNorm2d -> relu -> pool -> linear) in training mode on a fixed batch
      of 8: param.* (its state_dict, batchnorm weight/bias not at their
      init), logp, loss, grad.*, then 3 SGD momentum steps on the same batch
      -> sgd3.* (weights and running statistics after 4 training forwards),
      and eval_logp, the eval-mode output after them.
  fixtures/torch_bn_state.safetensors that net's state_dict after the steps
      exactly as PyTorch names and types it (num_batches_tracked I64).

  fixtures/lr_schedules.safetensors  learning rates of StepLR (per epoch),
      CosineAnnealingLR and OneCycleLR (per batch, cycle_momentum=False), and
      OneCycleLR with its default cycle_momentum=True: the lr and the SGD
      momentum, and Adam's beta1, per batch.

Dropout is disabled (eval mode) so the C side can run without sharing masks.
The files are safetensors written by hand with struct + json (torch 1.13 has
no safetensors package), little endian: int64 tensors as I64, the rest F32.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../reference"))
from tutorial_net import Net  # noqa: E402  (the tutorial's network, shared)
from bn_net import BNNet  # noqa: E402


class Small(nn.Module):  # cassnn: "conv(4,k=5) maxpool(2) relu flatten linear(10) logsoftmax"
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=5)
        self.fc1 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        return F.log_softmax(self.fc1(x.flatten(1)), dim=1)


# name -> optimizer factory; tests/nn/test_nn_parity.c mirrors this table
OPTIM_CONFIGS = {
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd_dampening": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2),
    "sgd_plain": lambda p: torch.optim.SGD(p, lr=0.1),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "adam_wd": lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-2),
}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors.items():
        integer = torch.is_tensor(t) and t.dtype == torch.int64
        # np.array, not ascontiguousarray: a 0-d tensor (num_batches_tracked) keeps shape []
        a = np.array(t.detach().numpy() if torch.is_tensor(t) else t,
                     dtype="<i8" if integer else "<f4", order="C")
        header[name] = {"dtype": "I64" if integer else "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def batch(n, side):
    x = torch.rand(n, 1, side, side)
    x = (x - 0.1307) / 0.3081
    return x, torch.randint(0, 10, (n,))


def steps(net, opt, x, y, count=3):
    for _ in range(count):
        opt.zero_grad()
        F.nll_loss(net(x), y).backward()
        opt.step()


def gradients_then_sgd(net, x, y, out, lr, momentum):
    """out gets logp, loss and grad.* of one forward/backward, then sgd3.*:
    the state_dict after 3 SGD steps on the same batch."""
    logp = net(x)
    loss = F.nll_loss(logp, y)
    loss.backward()
    out["logp"] = logp
    out["loss"] = loss.reshape(1)
    out.update({"grad." + k: p.grad.clone() for k, p in net.named_parameters()})
    steps(net, torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum), x, y)
    out.update({"sgd3." + k: v.clone() for k, v in net.state_dict().items()})


def tutorial():
    torch.manual_seed(1)
    net = Net().eval()
    x, y = batch(4, 28)
    out = {"input": x, "target": y.float()}
    out.update({"param." + k: v.clone() for k, v in net.state_dict().items()})
    write_safetensors(os.path.join(HERE, "torch_state.safetensors"), net.state_dict(),
                      {"format": "pt"})
    gradients_then_sgd(net, x, y, out, 0.01, 0.5)
    write_safetensors(os.path.join(HERE, "tutorial_sgd.safetensors"), out, {"torch": torch.__version__})


def small_optim():
    torch.manual_seed(2)
    net = Small().eval()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = batch(8, 12)
    out = {"input": x, "target": y.float()}
    out.update({"param." + k: v for k, v in init.items()})
    for name, make in OPTIM_CONFIGS.items():
        net.load_state_dict(init)
        steps(net, make(net.parameters()), x, y)
        out.update({name + "." + k: v.clone() for k, v in net.state_dict().items()})
    write_safetensors(os.path.join(HERE, "small_optim.safetensors"), out, {"torch": torch.__version__})


def batchnorm():
    torch.manual_seed(3)
    net = BNNet().train()
    with torch.no_grad():  # away from the identity init, so that both matter
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.5, 0.5)
    x, y = batch(8, 10)
    x = x * 1.7 + 0.3  # channel statistics far from 0 / 1
    out = {"input": x, "target": y.float()}
    out.update({"param." + k: v.clone() for k, v in net.state_dict().items()})
    gradients_then_sgd(net, x, y, out, 0.05, 0.9)  # 4 training forwards
    net.eval()
    with torch.no_grad():
        out["eval_logp"] = net(x)
    write_safetensors(os.path.join(HERE, "batchnorm.safetensors"), out, {"torch": torch.__version__})
    write_safetensors(os.path.join(HERE, "torch_bn_state.safetensors"), net.state_dict(),
                      {"format": "pt"})


def lr_schedules():
    def rates(make, steps, key="lr", optimizer=torch.optim.SGD):
        opt = optimizer([torch.zeros(1, requires_grad=True)], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(steps):
            value = opt.param_groups[0][key]
            out.append(value[0] if key == "betas" else value)
            opt.step()
            sched.step()
        return np.array(out, dtype=np.float64)

    def one_cycle(o):
        return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=50)

    def with_lr(lr, make):
        def f(opt):
            opt.param_groups[0]["lr"] = lr
            opt.param_groups[0]["initial_lr"] = lr
            return make(opt)
        return f

    out = {
        # tests/nn/test_nn_parity.c mirrors these settings
        "step_lr": rates(with_lr(1.0, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)), 10),
        "cosine_lr": rates(with_lr(0.1, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50, eta_min=0.001)), 50),
        "onecycle_lr": rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=50,
                                                                         cycle_momentum=False), 50),
        "onecycle_cycled_lr": rates(one_cycle, 50),
        "onecycle_momentum": rates(one_cycle, 50, "momentum"),
        "onecycle_adam_beta1": rates(one_cycle, 50, "betas", torch.optim.Adam),
    }
    write_safetensors(os.path.join(HERE, "lr_schedules.safetensors"), out, {"torch": torch.__version__})


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(HERE, exist_ok=True)
    tutorial()
    small_optim()
    batchnorm()
    lr_schedules()
