"""A small net with BatchNorm2d, shared by the PyTorch reference scripts of
the nn tests (fixtures and the safetensors interop check). cassnn writes it
as BN_MODEL below; its input is 1 x 10 x 10."""

import torch.nn as nn
import torch.nn.functional as F

BN_MODEL = "conv(4,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax"
BN_INPUT = (1, 10, 10)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return F.log_softmax(self.fc1(x.flatten(1)), dim=1)
