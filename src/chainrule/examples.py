"""The notes' worked example: a 2-2-2 sigmoid network, one sample, every number known.

Inputs i1 = 0.05, i2 = 0.10; targets 0.01, 0.99; weights w1..w8 = 0.15, 0.20, 0.25, 0.30,
0.40, 0.45, 0.50, 0.55; biases b1 = 0.35 (hidden) and b2 = 0.60 (output); η = 0.5; sigmoid
units; E = ½ Σ (t − y)². The notes do not update the biases, so they are frozen here.

`Linear.weight` is (out, in), so w1..w4 are the hidden layer's weight read row by row:
row j holds the weights into hidden unit j (w1, w2 into h1; w3, w4 into h2).
"""

from __future__ import annotations

import numpy as np

from chainrule import nn

INPUTS = np.array([[0.05, 0.10]])
TARGETS = np.array([[0.01, 0.99]])
HIDDEN_WEIGHTS = [[0.15, 0.20], [0.25, 0.30]]  # w1 w2 / w3 w4
OUTPUT_WEIGHTS = [[0.40, 0.45], [0.50, 0.55]]  # w5 w6 / w7 w8
HIDDEN_BIAS, OUTPUT_BIAS = 0.35, 0.60
LEARNING_RATE = 0.5


def worked_example_model(*, train_biases: bool = False, dtype: str = "float64"
                         ) -> nn.Sequential:
    """The notes' 2-2-2 sigmoid network (float64 by default), weights set to w1..w8 and
    b1, b2."""
    model = nn.Sequential(nn.Linear(2, 2, dtype=dtype), nn.Sigmoid(),
                          nn.Linear(2, 2, dtype=dtype), nn.Sigmoid())
    nn.init.set_values_(model[0].weight, HIDDEN_WEIGHTS)
    nn.init.constant_(model[0].bias, HIDDEN_BIAS)
    nn.init.set_values_(model[2].weight, OUTPUT_WEIGHTS)
    nn.init.constant_(model[2].bias, OUTPUT_BIAS)
    model[0].bias.requires_grad = train_biases
    model[2].bias.requires_grad = train_biases
    return model
