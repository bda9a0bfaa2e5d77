"""How the notes write things: names of units and weights, textbook derivatives, numbers.

Note [naming]
    Layers are counted from the inputs: layer 0 holds the inputs i1, i2, ...; layer k is the
    output of the k-th Linear. With one hidden layer its units are h1, h2, ... and the outputs
    o1, o2, ... (the notes' names). With several hidden layers, unit j of hidden layer k is
    "hk_j" (h1_1, h1_2, h2_1, ...), read "layer k, unit j".

    Weights are numbered w1, w2, ... layer by layer and, inside a layer, row by row of the
    Linear's `weight` (row j holds the weights into unit j): w1 = weight[0, 0], w2 =
    weight[0, 1], ... This reproduces the notes' w1..w8 for the 2-2-2 network. Every unit has
    its own bias, named after the unit: b_h1, b_o1. (The notes share one bias per layer, b1 and
    b2; the worked example gives both units of a layer the same value.)

Note [textbook factors]
    Each local derivative is named in its textbook form and evaluated on the values the engine
    recorded in the forward pass: ∂out/∂net = out(1 − out) for a sigmoid unit uses the recorded
    out. The products of these factors are then compared with the gradients the engine's own
    backward pass computed (see build.py), so a printed chain can never disagree with training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chainrule.draw import number

DECOMPOSABLE_LOSSES = ("half_sse", "mse", "bce")  # E is a sum of one error per output


# --- numbers ---------------------------------------------------------------------------------
#: A number as the notes print it: at most 9 significant digits (0.593269992, 0.4); the same
#: format as the drawings of tensors (chainrule.draw).
fmt = number


def fmt_factor(x: float) -> str:
    """A number inside a product or sum: negative numbers in parentheses, (-0.038) × 0.5."""
    text = fmt(x)
    return f"({text})" if text.startswith("-") else text


def fmt_small(x: float) -> str:
    """A small difference, such as a finite-difference error: 2.3e-11."""
    return "0" if x == 0 else f"{x:.1e}"


# --- names ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Naming:
    """Names of the units, weights and biases of a network with these layer sizes."""

    sizes: tuple[int, ...]

    @property
    def layers(self) -> int:
        """How many Linear layers (the inputs are layer 0)."""
        return len(self.sizes) - 1

    def unit(self, layer: int, j: int) -> str:
        """Unit j (0-based) of layer `layer` (0 = inputs): i1, h1, h1_1, o1."""
        if layer == 0:
            return f"i{j + 1}"
        if layer == self.layers:
            return f"o{j + 1}"
        if self.layers == 2:
            return f"h{j + 1}"
        return f"h{layer}_{j + 1}"

    def units(self, layer: int) -> list[str]:
        return [self.unit(layer, j) for j in range(self.sizes[layer])]

    def weight(self, layer: int, row: int, col: int) -> str:
        """The weight from unit `col` of layer−1 into unit `row` of `layer` (layer ≥ 1)."""
        before = sum(self.sizes[k - 1] * self.sizes[k] for k in range(1, layer))
        return f"w{before + row * self.sizes[layer - 1] + col + 1}"

    def bias(self, layer: int, row: int) -> str:
        return f"b_{self.unit(layer, row)}"

    def layer_title(self, layer: int) -> str:
        if layer == 0:
            return "inputs"
        if layer == self.layers:
            return "output layer"
        if self.layers == 2:
            return "hidden layer"
        return f"hidden layer {layer}"

    def weight_count(self) -> int:
        return sum(a * b for a, b in zip(self.sizes, self.sizes[1:], strict=False))


def source_name(unit: str) -> str:
    """What a unit hands to the next layer: the input itself (i1) or its output (out_h1)."""
    return unit if unit.startswith("i") else f"out_{unit}"


# --- activations: out = f(net) and ∂out/∂net ---------------------------------------------
ACTIVATION_SYMBOLS = {
    "sigmoid": "σ", "tanh": "tanh", "relu": "relu", "leaky_relu": "leaky_relu",
    "softplus": "softplus", "identity": "identity",
}

ACTIVATION_RULES = {  # for legends: out = f(net); ∂out/∂net in terms of out or net
    "sigmoid": ("σ(net) = 1 / (1 + e^(−net))", "out(1 − out)"),
    "tanh": ("tanh(net)", "1 − out²"),
    "relu": ("max(0, net)", "1 if net > 0, else 0"),
    "leaky_relu": ("net if net > 0, else α·net", "1 if net > 0, else α"),
    "softplus": ("ln(1 + e^net)", "σ(net) = 1 / (1 + e^(−net))"),
    "identity": ("net", "1"),
    "softmax": ("p = softmax(net), applied inside the cross-entropy", "(fused into δ = p − t)"),
}


def out_formula(act: str, net: str, alpha: float = 0.01) -> str:
    """out = f(net) with the unit's net symbol: 'σ(net_h1)'."""
    return {
        "sigmoid": f"σ({net})",
        "tanh": f"tanh({net})",
        "relu": f"max(0, {net})",
        "leaky_relu": f"max({net}, {fmt(alpha)}·{net})",
        "softplus": f"ln(1 + e^{net})",
        "identity": net,
    }[act]


def out_numbers(act: str, net: float, alpha: float = 0.01) -> str:
    """The same with the recorded net value: '1 / (1 + e^(−0.3775))'."""
    n = fmt(net)
    return {
        "sigmoid": f"1 / (1 + e^(−{fmt_factor(net)}))",
        "tanh": f"tanh({n})",
        "relu": f"max(0, {n})",
        "leaky_relu": f"max({n}, {fmt(alpha)} × {fmt_factor(net)})",
        "softplus": f"ln(1 + e^{fmt_factor(net)})",
        "identity": n,
    }[act]


def slope_formula(act: str, out: str, net: str, alpha: float = 0.01) -> str:
    """∂out/∂net in textbook form: 'out_h1(1 − out_h1)'."""
    return {
        "sigmoid": f"{out}(1 − {out})",
        "tanh": f"1 − {out}²",
        "relu": f"1 if {net} > 0, else 0",
        "leaky_relu": f"1 if {net} > 0, else {fmt(alpha)}",
        "softplus": f"σ({net})",
        "identity": "1",
    }[act]


def slope_numbers(act: str, out: float, net: float, alpha: float = 0.01) -> str:
    """The textbook form with the recorded values: '0.75136507 × (1 − 0.75136507)'.

    ReLU's and leaky ReLU's slope is chosen by a condition, not computed: it is just the chosen
    value, and slope_condition says why.
    """
    o = fmt_factor(out)
    if act == "sigmoid":
        return f"{o} × (1 − {o})"
    if act == "tanh":
        return f"1 − {o}²"
    if act in ("relu", "leaky_relu"):
        return fmt(slope_value(act, out, net, alpha))
    if act == "softplus":
        return f"1 / (1 + e^(−{fmt_factor(net)}))"
    return "1"


def slope_condition(act: str, net_name: str, net: float) -> str:
    """Which case of a piecewise slope applies: '(net_h1 = -0.5978 ≤ 0)'; '' for the others."""
    if act not in ("relu", "leaky_relu"):
        return ""
    return f"({net_name} = {fmt(net)} {'>' if net > 0 else '≤'} 0)"


def slope_value(act: str, out: float, net: float, alpha: float = 0.01) -> float:
    """∂out/∂net evaluated on the recorded out (or net, where the textbook form uses it)."""
    if act == "sigmoid":
        return out * (1 - out)
    if act == "tanh":
        return 1 - out * out
    if act == "relu":
        return 1.0 if net > 0 else 0.0
    if act == "leaky_relu":
        return 1.0 if net > 0 else alpha
    if act == "softplus":
        return 0.5 * math.tanh(0.5 * net) + 0.5
    return 1.0


# --- losses: E, each output's share of it, and ∂E/∂out -----------------------------------
LOSS_NAMES = {
    "half_sse": "half the sum of squared errors",
    "mse": "mean squared error",
    "bce": "binary cross-entropy",
    "cross_entropy": "softmax cross-entropy",
}


def loss_scale(loss: str, reduction: str, outputs: int) -> float:
    """The 1/n a loss divides by for one sample: mse and bce average over the outputs."""
    if loss in ("mse", "bce") and reduction == "mean":
        return 1.0 / outputs
    return 1.0


def _over_n(scale: float) -> str:
    return "" if scale == 1 else f"(1/{round(1 / scale)}) "


def loss_formula(loss: str, scale: float) -> str:
    if loss == "half_sse":
        return "E = ½ Σ_o (t_o − out_o)²"
    if loss == "mse":
        return f"E = {_over_n(scale)}Σ_o (out_o − t_o)²"
    if loss == "bce":
        return f"E = −{_over_n(scale)}Σ_o [t_o·ln(out_o) + (1 − t_o)·ln(1 − out_o)]"
    return "E = −ln(p_k), p = softmax(net_o), k = the target class"


def output_error_formula(loss: str, out: str, t: str, scale: float) -> str:
    """Output o's share E_o of the error, in symbols."""
    if loss == "half_sse":
        return f"½({t} − {out})²"
    if loss == "mse":
        return f"{_over_n(scale)}({out} − {t})²"
    return f"−{_over_n(scale)}[{t}·ln({out}) + (1 − {t})·ln(1 − {out})]"


def output_error_numbers(loss: str, out: float, t: float, scale: float) -> str:
    o, tt = fmt_factor(out), fmt_factor(t)
    if loss == "half_sse":
        return f"½({tt} − {o})²"
    if loss == "mse":
        return f"{_over_n(scale)}({o} − {tt})²"
    return f"−{_over_n(scale)}[{tt} × ln({o}) + (1 − {tt}) × ln(1 − {o})]"


def output_error_value(loss: str, out: float, t: float, scale: float) -> float:
    if loss == "half_sse":
        return 0.5 * (t - out) ** 2
    if loss == "mse":
        return scale * (out - t) ** 2
    return -scale * (t * math.log(out) + (1 - t) * math.log1p(-out))


def dE_dout_formula(loss: str, out: str, t: str, scale: float) -> str:
    """∂E/∂out_o in textbook form (Note [why the ½] in ops/loss.py for the first)."""
    if loss == "half_sse":
        return f"{out} − {t}"
    if loss == "mse":
        return f"2({out} − {t})" + ("" if scale == 1 else f" / {round(1 / scale)}")
    return f"({out} − {t}) / ({out}(1 − {out}))" + ("" if scale == 1
                                                     else f" / {round(1 / scale)}")


def dE_dout_numbers(loss: str, out: float, t: float, scale: float) -> str:
    o, tt = fmt_factor(out), fmt_factor(t)
    n = "" if scale == 1 else f" / {round(1 / scale)}"
    if loss == "half_sse":
        return f"{o} − {tt}"
    if loss == "mse":
        return f"2 × ({o} − {tt}){n}"
    return f"({o} − {tt}) / ({o} × (1 − {o})){n}"


def dE_dout_value(loss: str, out: float, t: float, scale: float) -> float:
    if loss == "half_sse":
        return out - t
    if loss == "mse":
        return 2 * scale * (out - t)
    return scale * (out - t) / (out * (1 - out))
