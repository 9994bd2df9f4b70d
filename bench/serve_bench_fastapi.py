"""The reference of bench/serve_bench.sh: the same net behind FastAPI +
PyTorch, answering what `cassnn serve` answers for {"pixels": [784 values]}.

    uvicorn serve_bench_fastapi:app --workers 2   (MODEL=file.safetensors MODEL_ID=uuid)

The weights are the model's network blob as exported by `cassnn models
export` (safetensors, PyTorch's state_dict names), read here with json +
numpy so that no package beyond torch is needed.
"""
import json
import os
import struct
import sys
from typing import Annotated, List

import numpy as np
import torch
import torch.nn.functional as F
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from tutorial_net import Net  # noqa: E402

torch.set_num_threads(1)  # two workers on two cores
MEAN, STD = 0.1307, 0.3081


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    state = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        a = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=np.float32).reshape(t["shape"])
        state[name] = torch.from_numpy(a.copy())
    return state


net = Net()
net.load_state_dict(load_safetensors(os.environ["MODEL"]))
net.eval()
MODEL_ID = os.environ.get("MODEL_ID", "")
app = FastAPI()


class Image(BaseModel):
    pixels: List[Annotated[int, Field(ge=0, le=255)]]


@app.post("/predict")
def predict(image: Image):
    if len(image.pixels) != 784:
        raise HTTPException(status_code=422, detail=f"pixels: {len(image.pixels)} values, expected 784")
    x = (torch.tensor(image.pixels, dtype=torch.float32).view(1, 1, 28, 28) / 255.0 - MEAN) / STD
    with torch.no_grad():
        p = torch.exp(net(x))[0]
    return {"label": int(p.argmax()), "probabilities": p.tolist(), "model": MODEL_ID}
