"""A Module of your own: explained when its forward applies a chain of Linear layers and
activations, refused naming the part that is not such a chain."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.explain import explain

X = np.array([[0.1, 0.2], [0.3, 0.4], [0.8, 0.5]])
T = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 3, rng=0, dtype="float64")
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(3, 2, rng=1, dtype="float64")

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))).sigmoid()


def _same_as_sequential(ex, net, activations):
    seq = nn.Sequential(net.fc1, *activations, net.fc2, nn.Sigmoid())
    assert ex.to_dict() == explain(seq, X, T, lr=0.3).to_dict()


def test_a_chain_of_layers_in_forward_is_explained_like_the_same_sequential():
    net = MyNet()
    ex = explain(net, X, T, lr=0.3)
    _same_as_sequential(ex, net, [nn.Tanh()])
    assert ex.network.description == ("2 inputs → 3 hidden (tanh) → 2 outputs (sigmoid); half "
                                      "the sum of squared errors")
    one = explain(net, X[0], T[0])  # one sample too
    assert one.gradient("w1").grad == explain(nn.Sequential(net.fc1, nn.Tanh(), net.fc2,
                                                            nn.Sigmoid()), X[0], T[0]
                                              ).gradient("w1").grad


class Functional(MyNet):
    """Activations as functions, a reused module, a nested Sequential."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(self.fc1)

    def forward(self, x):
        return F.sigmoid(self.fc2(F.leaky_relu(self.body(x), 0.2)))


def test_functions_and_nested_modules_are_read_off_the_graph():
    net = Functional()
    ex = explain(net, X, T, lr=0.3)
    _same_as_sequential(ex, net, [nn.LeakyReLU(0.2)])
    assert ex.network.alphas == (0.2, 0.01)


class Skip(MyNet):
    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) + self.fc2.bias


class Scaled(MyNet):
    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) * 2)


class Branch(MyNet):
    def __init__(self):
        super().__init__()
        self.side = nn.Linear(2, 3, rng=2, dtype="float64")

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x) + self.side(x)))


class Twice(MyNet):
    def __init__(self):
        super().__init__()
        self.fc2 = nn.Linear(3, 3, rng=1, dtype="float64")

    def forward(self, x):
        return self.fc2(self.fc2(self.act(self.fc1(x))))


class Unused(MyNet):
    def __init__(self):
        super().__init__()
        self.extra = nn.Linear(2, 2, rng=3, dtype="float64")


class TwoActivations(MyNet):
    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)).sigmoid())


class NewTensor(MyNet):
    def forward(self, x):
        return self.fc2(self.act(self.fc1(cr.tensor(x.data))))


class Raw(MyNet):
    def forward(self, x):
        return F.linear(self.act(self.fc1(x)), self.fc2.weight)


class NotATensor(MyNet):
    def forward(self, x):
        return [self.fc1(x)]


CHAIN = ("is not a Linear layer or an activation; explain shows a chain of them, x → Linear → "
         "activation → … (no branches, skip connections or other ops)")


@pytest.mark.parametrize(("net", "message"), [
    (Skip(), f"explain: Skip.forward: the op add that makes the output {CHAIN}"),
    (Scaled(), f"explain: Scaled.forward: the op mul before self.fc2 {CHAIN}"),
    (Branch(), f"explain: Branch.forward: the op add before the tanh {CHAIN}"),
    (Raw(), "explain: Raw.forward: a linear op whose weight and bias are not one nn.Linear's "
            f"that makes the output {CHAIN}"),
    (Twice(), "explain: Twice.forward applies self.fc2 twice; explain shows a chain in which "
              "each Linear layer appears once"),
    (Unused(), "explain: Unused.forward does not use self.extra on the way from x to its "
               "output; explain shows every parameter of one chain of layers"),
    (TwoActivations(), "explain: TwoActivations.forward: the sigmoid after the tanh: each Linear "
                       "may be followed by at most one activation"),
    (NewTensor(), "explain: NewTensor.forward: the input of self.fc1 is a tensor made inside "
                  "forward, not computed from x; explain follows x through the layers"),
    (NotATensor(), "explain: NotATensor.forward returned a list, not a tensor"),
])
def test_what_is_not_a_chain_is_refused_by_name(net, message):
    with pytest.raises(ConfigError) as raised:
        explain(net, X, T)
    assert str(raised.value) == message
