#!/usr/bin/python3
"""Writes the PyTorch fixtures of tests/blob from real PyTorch, exactly as
the tutorial stores its checkpoints (pickle.dumps(network.state_dict()),
pickle.dumps(optimizer.state_dict())):

  /usr/bin/python3 make_pickle_fixtures.py          (Debian's torch 1.13)
      -> fixtures/torch1/
  /work/venv-torch2/bin/python make_pickle_fixtures.py   (torch 2.x from PyPI,
      with the safetensors package) -> fixtures/torch2/, plus
      tutorial_state_dict.safetensors written by safetensors.torch.save_file

Each folder holds
  tutorial_net.pkl, tutorial_sgd.pkl  the tutorial's Net and its SGD
      (lr 0.01, momentum 0.5) after 2 training steps (dropout on);
  bn_net.pkl, bn_adam.pkl             tests/reference's BNNet and an Adam
      (betas 0.8/0.99, eps 1e-6, weight decay 0.01) after 3 steps;
  bn_net_p2.pkl                       the same state_dict as pickle protocol 2;
  bn_adamw.pkl                        AdamW (lr 1e-3, weight decay 0.05), 2 steps;
  bn_sgd_plain.pkl                    SGD without momentum (lr 0.1), 1 step;
  expected.safetensors                every tensor of the above under
      <file>.<name> (optimizers: <file>.state.<i>.<buffer>) but the
      tutorial net's, which its outputs check (89 KB less), a batch
      "input" / "bn_input" and the nets' eval-mode log-probabilities
      "tutorial_logp" / "bn_logp"; metadata: torch version, each
      optimizer's step.
"""
import os
import pickle
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../reference"))
sys.path.insert(0, os.path.join(HERE, "../nn"))
from bn_net import BNNet  # noqa: E402
from make_fixtures import batch, steps, write_safetensors  # noqa: E402
from tutorial_net import Net  # noqa: E402


def train(net, opt, x, y, count):
    net.train()
    steps(net, opt, x, y, count)
    net.eval()


def main():
    major = torch.__version__.split(".")[0]
    out_dir = os.path.join(HERE, "fixtures", "torch" + major)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(1)
    torch.set_num_threads(1)
    expected, meta = {}, {"torch": torch.__version__}

    def save(name, state_dict, prefix_state=False, expect=True):
        with open(os.path.join(out_dir, name + ".pkl"), "wb") as f:
            f.write(pickle.dumps(state_dict))
        if not expect:  # checked through its outputs (tutorial_logp) instead
            return
        if prefix_state:  # an optimizer: its buffers and step
            for i, entry in state_dict["state"].items():
                for k, v in entry.items():
                    if k == "step":
                        meta[name + ".step"] = str(int(float(v)))
                    elif v is not None:
                        expected["%s.state.%d.%s" % (name, i, k)] = v.clone()
        else:
            expected.update({name + "." + k: v.clone() for k, v in state_dict.items()})

    net = Net()
    x, y = batch(8, 28)
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    train(net, sgd, x, y, 2)
    save("tutorial_net", net.state_dict(), expect=False)
    save("tutorial_sgd", sgd.state_dict(), True)
    expected["input"] = x[:4]
    with torch.no_grad():
        expected["tutorial_logp"] = net(x[:4])
    try:
        from safetensors.torch import save_file
        save_file(net.state_dict(), os.path.join(out_dir, "tutorial_state_dict.safetensors"))
    except ImportError:
        print("no safetensors package: tutorial_state_dict.safetensors not written")

    bn = BNNet()
    bx, by = batch(8, 10)
    init = {k: v.clone() for k, v in bn.state_dict().items()}
    adam = torch.optim.Adam(bn.parameters(), lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)
    train(bn, adam, bx, by, 3)
    save("bn_net", bn.state_dict())
    with open(os.path.join(out_dir, "bn_net_p2.pkl"), "wb") as f:
        f.write(pickle.dumps(bn.state_dict(), protocol=2))
    save("bn_adam", adam.state_dict(), True)
    expected["bn_input"] = bx[:4]
    with torch.no_grad():
        expected["bn_logp"] = bn(bx[:4])

    bn.load_state_dict(init)
    adamw = torch.optim.AdamW(bn.parameters(), lr=1e-3, weight_decay=0.05)
    train(bn, adamw, bx, by, 2)
    save("bn_adamw", adamw.state_dict(), True)
    bn.load_state_dict(init)
    plain = torch.optim.SGD(bn.parameters(), lr=0.1)
    train(bn, plain, bx, by, 1)
    save("bn_sgd_plain", plain.state_dict(), True)

    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected, meta)
    print("wrote", out_dir, "with torch", torch.__version__)


if __name__ == "__main__":
    main()
