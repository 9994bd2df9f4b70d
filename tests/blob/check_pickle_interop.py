#!/usr/bin/python3
"""Loads the pickles test_blob_pickle wrote (cassnn's network and optimizer
blobs in pickle format) with the tutorial's own code - pickle.loads and
load_state_dict - into PyTorch's modules (the tutorial's Net with SGD,
tests/reference's BNNet with Adam and AdamW), and checks that the nets
compute cassnn's outputs, that the optimizers hold cassnn's buffers and
hyperparameters, and that they take a step.

Run with Debian's /usr/bin/python3 (torch 1.13) and with a PyTorch 2.x
python: check_pickle_interop.py DIR   (DIR = <build>/tests/blob/interop)
"""
import os
import pickle
import sys

import torch
import torch.nn.functional as F
import torch.optim as optim

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../reference"))
sys.path.insert(0, HERE)
from bn_net import BNNet  # noqa: E402
from check_safetensors_interop import read_safetensors  # noqa: E402
from tutorial_net import Net  # noqa: E402

RUNS = {  # name: (module, optimizer class, the hyperparameters cassnn trained with)
    "tutorial_sgd": (Net, optim.SGD, {"lr": 0.05, "momentum": 0.5, "dampening": 0.1,
                                      "weight_decay": 1e-4, "nesterov": False}),
    "bn_adam": (BNNet, optim.Adam, {"lr": 1e-3, "betas": (0.8, 0.95), "eps": 1e-6,
                                    "weight_decay": 1e-2}),
    "bn_adamw": (BNNet, optim.AdamW, {"lr": 1e-3, "betas": (0.8, 0.95), "eps": 1e-6,
                                      "weight_decay": 1e-2}),
}


def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def check(folder, name, module, optimizer_class, hyper):
    with open(os.path.join(folder, name + ".net.pkl"), "rb") as f:
        network_blob = f.read()
    with open(os.path.join(folder, name + ".optim.pkl"), "rb") as f:
        optimizer_blob = f.read()
    expected, meta = read_safetensors(os.path.join(folder, name + ".expected.safetensors"))

    # the tutorial's way of loading a checkpoint
    network = module()
    network.load_state_dict(pickle.loads(network_blob))
    optimizer = optimizer_class(network.parameters(), lr=0.5)
    optimizer.load_state_dict(pickle.loads(optimizer_blob))

    network.eval()
    with torch.no_grad():
        logp = network(expected["input"])
    diff = (logp - expected["logp"]).abs().max().item()
    assert diff <= 1e-5 * max(1.0, expected["logp"].abs().max().item()), (name, diff)

    group = optimizer.param_groups[0]
    for key, value in hyper.items():
        if key == "betas":
            assert all(close(a, b) for a, b in zip(group[key], value)), (name, key, group[key])
        elif isinstance(value, bool):
            assert group[key] == value, (name, key, group[key])
        else:
            assert close(group[key], value), (name, key, group[key], value)
    for i, p in enumerate(network.parameters()):
        state = optimizer.state[p]
        for buffer in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            key = "state.%d.%s" % (i, buffer)
            if key in expected:
                assert torch.equal(state[buffer], expected[key]), (name, key)
        if "step" in state:
            assert int(float(state["step"])) == int(meta["step"]), (name, state["step"])

    # and training goes on from it
    network.train()
    optimizer.zero_grad()
    F.nll_loss(network(expected["input"]), torch.zeros(len(expected["input"]), dtype=torch.long)).backward()
    optimizer.step()
    print("%s: PyTorch %s loads cassnn's pickles, max |logp diff| %.3g, optimizer state equal, "
          "steps on" % (name, torch.__version__, diff))


def main():
    folder = sys.argv[1]
    for name, (module, optimizer_class, hyper) in RUNS.items():
        check(folder, name, module, optimizer_class, hyper)
    print("cassnn pickles load with the tutorial's code: OK")


if __name__ == "__main__":
    main()
