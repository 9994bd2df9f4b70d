#!/usr/bin/python3
"""Loads the files test_blob_state wrote (a trained tutorial net, its SGD
optimizer, an input batch and cassnn's log-probabilities for it; a trained
BatchNorm2d net and its eval-mode log-probabilities) into PyTorch 1.13 and
checks that the PyTorch modules (the example's Net, tests/reference's
BNNet), given cassnn's state_dict with load_state_dict(strict=True),
compute the same outputs.

torch 1.13 has no safetensors package, so the format is parsed here with
struct + json + numpy: 8-byte little-endian header length, JSON header,
raw little-endian tensor bytes.

Usage: check_safetensors_interop.py DIR   (DIR = <build>/tests/blob/interop)
"""
import json
import os
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../reference"))
from tutorial_net import Net  # noqa: E402  (the tutorial's network, shared)
from bn_net import BN_INPUT, BN_MODEL, BNNet  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(a.copy())
    return tensors, meta


def main():
    folder = sys.argv[1]
    state, meta = read_safetensors(os.path.join(folder, "cassnn_net.safetensors"))
    assert meta.get("cassnn.input") == "1x28x28", meta
    assert meta.get("cassnn.model", "").startswith("conv1=conv(10,k=5"), meta
    net = Net()
    net.load_state_dict(state, strict=True)  # raises on any missing/unexpected/misshapen tensor
    net.eval()

    expected, _ = read_safetensors(os.path.join(folder, "cassnn_expected.safetensors"))
    with torch.no_grad():
        logp = net(expected["input"])
    diff = (logp - expected["logp"]).abs().max().item()
    scale = expected["logp"].abs().max().item()
    print("max |PyTorch - cassnn| log-probability: %.3g (scale %.3g)" % (diff, scale))
    assert diff <= 1e-5 * max(scale, 1.0), diff

    optim, ometa = read_safetensors(os.path.join(folder, "cassnn_optim.safetensors"))
    assert ometa["optimizer"] == "sgd", ometa
    names = list(net.state_dict().keys())
    assert sorted(optim) == sorted("state.%d.momentum_buffer" % i for i in range(len(names))), sorted(optim)
    sgd = torch.optim.SGD(net.parameters(), lr=float(ometa["lr"]), momentum=float(ometa["momentum"]),
                          dampening=float(ometa["dampening"]), weight_decay=float(ometa["weight_decay"]),
                          nesterov=ometa["nesterov"] == "1")
    sgd.load_state_dict({
        "state": {i: {"momentum_buffer": optim["state.%d.momentum_buffer" % i]} for i in range(len(names))},
        "param_groups": [dict(sgd.state_dict()["param_groups"][0])],
    })
    for i, p in enumerate(net.parameters()):
        assert sgd.state[p]["momentum_buffer"].shape == p.shape, names[i]
    print("cassnn network and optimizer state load into PyTorch: OK")

    state, meta = read_safetensors(os.path.join(folder, "cassnn_bn_net.safetensors"))
    assert meta.get("cassnn.input") == "x".join(map(str, BN_INPUT)), meta
    assert "batchnorm2d" in meta.get("cassnn.model", ""), meta
    tracked = state["bn1.num_batches_tracked"]
    assert tracked.dtype == torch.int64 and tracked.shape == () and tracked.item() == 3, tracked
    bn = BNNet()
    bn.load_state_dict(state, strict=True)
    bn.eval()  # the running statistics, as cassnn's eval
    expected, _ = read_safetensors(os.path.join(folder, "cassnn_bn_expected.safetensors"))
    with torch.no_grad():
        logp = bn(expected["input"])
    diff = (logp - expected["logp"]).abs().max().item()
    scale = expected["logp"].abs().max().item()
    print("BatchNorm2d net (%s): max |PyTorch - cassnn| eval log-probability %.3g (scale %.3g)"
          % (BN_MODEL, diff, scale))
    assert diff <= 1e-5 * max(scale, 1.0), diff
    print("cassnn BatchNorm2d state loads into PyTorch: OK")


if __name__ == "__main__":
    main()
