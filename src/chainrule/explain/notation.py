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

Note [two notations]
    The worked example names every unit (net_h1, out_o1, w5: notation "unit", the default).
    The other notes index by layer (notation "layer"): z⁽ᴸ⁾ = w⁽ᴸ⁾a⁽ᴸ⁻¹⁾ + b⁽ᴸ⁾, a⁽ᴸ⁾ = σ(z⁽ᴸ⁾),
    the cost of one sample C₀ = (a⁽ᴸ⁾ − y)², and ∂C₀/∂w⁽ᴸ⁾ = ∂z⁽ᴸ⁾/∂w⁽ᴸ⁾ · ∂a⁽ᴸ⁾/∂z⁽ᴸ⁾ ·
    ∂C₀/∂a⁽ᴸ⁾, starting from a chain of single neurons. Here L is a number (the inputs are
    a⁽⁰⁾); a chain of single neurons needs no more, and a network with wider layers adds the
    notes' subscripts: a⁽ᴸ⁾ⱼ is unit j of layer L, w⁽ᴸ⁾ⱼₖ the weight from unit k of layer L−1
    into it (row j, column k of the Linear's weight), z⁽ᴸ⁾ⱼ = Σₖ w⁽ᴸ⁾ⱼₖ a⁽ᴸ⁻¹⁾ₖ + b⁽ᴸ⁾ⱼ.
    Layer notation writes each chain from the parameter up to the cost, in the notes' order
    and with their "·"; the unit notation from the error down, with "×".

    A batch marks each sample's own symbols with its number in both notations: δ_o1[k] and
    δ⁽²⁾₁[k], ∂E[k]/∂w5 and ∂C₀[k]/∂w⁽²⁾₁₁ — C₀ stays the cost of one sample, so C₀[k] is
    sample k's — and the batch's error is E, or the notes' C = (1/n) Σₖ C₀[k] (Note [batches]
    in build.py); the sample written out in full is written as one sample is.

    Only what is written changes. The names that identify things — a unit's "h1", a
    parameter's "w5" or "b_o1" — are the unit notation's in both (Explanation.gradient("w5"),
    --focus w5, the playground's weights); a Naming turns them into symbols. The numbers are
    the same too: the loss is the engine's, so half_sse keeps its ½ (Note [why the ½] in
    ops/loss.py) where the notes' C₀ = (a⁽ᴸ⁾ − y)² has none, and the explanation says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

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
NOTATIONS = ("unit", "layer")  # Note [two notations]

_SUPERSCRIPT = str.maketrans("0123456789()−-L", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁻⁻ᴸ")
_SUBSCRIPT = str.maketrans("0123456789jk", "₀₁₂₃₄₅₆₇₈₉ⱼₖ")
_LAYER_LETTERS = {"net": "z", "out": "a", "t": "y"}  # the unit notation's word → the letter


def superscript(text: str) -> str:
    """Digits, parentheses, minus and L raised: '(2)' → '⁽²⁾'."""
    return text.translate(_SUPERSCRIPT)


def subscript(text: str) -> str:
    """Digits, j and k lowered: '12' → '₁₂'."""
    return text.translate(_SUBSCRIPT)


@dataclass(frozen=True)
class Naming:
    """Names of the units, weights and biases of a network with these layer sizes, and the
    symbols of one notation for them (Note [naming], Note [two notations]).

    unit, weight and bias give the names that identify things, the same in both notations;
    every other method gives a symbol as the chosen notation writes it.
    """

    sizes: tuple[int, ...]
    notation: str = "unit"
    samples: int = 1  # a batch's error is the batch's: E, C (Note [batches] in build.py)

    @classmethod
    def of(cls, network: Any) -> Naming:
        """The naming of an explanation's `network` (its sizes, in its notation, for its
        samples)."""
        return cls(tuple(network.sizes), network.notation, network.samples)

    @property
    def one(self) -> Naming:
        """The naming of one sample's own derivation (in a batch: the sample shown in full)."""
        return self if self.samples == 1 else Naming(self.sizes, self.notation)

    @property
    def layers(self) -> int:
        """How many Linear layers (the inputs are layer 0)."""
        return len(self.sizes) - 1

    # names ----------------------------------------------------------------------------------
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

    # symbols --------------------------------------------------------------------------------
    @property
    def layered(self) -> bool:
        return self.notation == "layer"

    @property
    def single_neurons(self) -> bool:
        """A chain of single neurons, every layer one unit: the layer notation needs no
        subscripts."""
        return all(n == 1 for n in self.sizes)

    @cached_property
    def _places(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """Every name → (its layer, its 0-based indices): h1 → (1, (0,)), w5 → (2, (0, 0))."""
        places: dict[str, tuple[int, tuple[int, ...]]] = {}
        for k, size in enumerate(self.sizes):
            for j in range(size):
                places[self.unit(k, j)] = (k, (j,))
                if k:
                    places[self.bias(k, j)] = (k, (j,))
                    for c in range(self.sizes[k - 1]):
                        places[self.weight(k, j, c)] = (k, (j, c))
        return places

    def place(self, name: str) -> tuple[int, tuple[int, ...]]:
        """A name's layer and 0-based indices: h1 → (1, (0,)), w5 → (2, (0, 0)), b_o1 → (2,
        (0,))."""
        return self._places[name]

    def _indexed(self, letter: str, name: str) -> str:
        """letter⁽layer⁾ with the name's indices as subscripts; none for a chain of single
        neurons, and separated by commas once some layer has 10 units or more."""
        k, indices = self.place(name)
        text = letter + superscript(f"({k})")
        if self.single_neurons:
            return text
        joiner = "," if max(self.sizes) >= 10 else ""
        return text + joiner.join(subscript(str(i + 1)) for i in indices)

    def _output_index(self, unit: str) -> str:
        """The subscript j of an output's y_j and p_j ('' for a chain of single neurons)."""
        return "" if self.single_neurons else subscript(str(self.place(unit)[1][0] + 1))

    def net(self, unit: str) -> str:
        """What flows into a unit: net_h1, z⁽¹⁾₁."""
        return self._indexed("z", unit) if self.layered else f"net_{unit}"

    def out(self, unit: str) -> str:
        """What a unit passes on (an input: its value): out_h1, i1; a⁽¹⁾₁, a⁽⁰⁾₁."""
        if self.layered:
            return self._indexed("a", unit)
        return unit if unit.startswith("i") else f"out_{unit}"

    def delta(self, unit: str) -> str:
        """A unit's error term ∂E/∂net: δ_h1, δ⁽¹⁾₁."""
        return self._indexed("δ", unit) if self.layered else f"δ_{unit}"

    def target(self, unit: str) -> str:
        """An output's target: t_o1, y₁."""
        return "y" + self._output_index(unit) if self.layered else f"t_{unit}"

    def probability(self, unit: str) -> str:
        """An output's softmax probability: p_o1, p₁."""
        return "p" + self._output_index(unit) if self.layered else f"p_{unit}"

    def share(self, unit: str) -> str | None:
        """An output's share of the error, E_o1; the layer notation names none (C₀ is a sum)."""
        return None if self.layered else f"E_{unit}"

    def label(self, unit: str) -> str:
        """A unit in prose ('h1 feeds o1'): its name, or in layer notation its a⁽ᴸ⁾ⱼ."""
        return self.out(unit) if self.layered else unit

    def symbol(self, name: str) -> str:
        """A parameter as written: w5, b_o1; w⁽²⁾₁₁, b⁽²⁾₁."""
        if not self.layered:
            return name
        return self._indexed("b" if name.startswith("b_") else "w", name)

    @property
    def error(self) -> str:
        """The error in ∂E/∂w: E, C₀ (a batch's: E, C)."""
        if not self.layered:
            return "E"
        return "C₀" if self.samples == 1 else "C"

    @property
    def total(self) -> str:
        """The error as a line's left side: E_total, C₀ (a batch's: E_total, C)."""
        return self.error if self.layered else "E_total"

    @property
    def over_samples(self) -> str:
        """The sum over the samples k of a batch: Σ_k, Σₖ."""
        return "Σₖ" if self.layered else "Σ_k"

    def sample_error(self, k: int | str) -> str:
        """The error of sample k alone: E[k], C₀[k] (the cost of one sample, C₀, of sample
        k; Note [two notations])."""
        return self.of_sample(self.one.error, k)

    @staticmethod
    def of_sample(symbol: str, k: int | str) -> str:
        """A symbol of sample k of a batch, in either notation: δ_o1[k], δ⁽²⁾₁[2]."""
        return f"{symbol}[{k}]"

    def any_unit(self, kind: str) -> str:
        """Any unit's symbol, kind "net" or "δ": net_u, δ_u; z⁽ᴸ⁾ⱼ, δ⁽ᴸ⁾ⱼ."""
        if not self.layered:
            return f"{kind}_u"
        return _LAYER_LETTERS.get(kind, kind) + "⁽ᴸ⁾ⱼ"

    @property
    def generic(self) -> tuple[str, str]:
        """net and out of any unit, in legends: ('net', 'out'), ('z', 'a')."""
        return ("z", "a") if self.layered else ("net", "out")

    def any_output(self, kind: str) -> str:
        """Any output's symbol, kind "net", "out", "t" or "p": net_o, t_o; z⁽²⁾ⱼ, yⱼ."""
        if not self.layered:
            return f"{kind}_o"
        letter = _LAYER_LETTERS.get(kind, kind)
        layer = superscript(f"({self.layers})") if kind in ("net", "out") else ""
        return f"{letter}{layer}ⱼ"

    @property
    def target_letter(self) -> str:
        return "y" if self.layered else "t"

    @property
    def over_outputs(self) -> str:
        """The sum over the outputs: Σ_o, Σⱼ."""
        return "Σⱼ" if self.layered else "Σ_o"

    @staticmethod
    def d(of: str, by: str) -> str:
        return f"∂{of}/∂{by}"

    @property
    def times(self) -> str:
        """The product sign between symbols of a chain: ' × '; the notes' ' · '."""
        return " · " if self.layered else " × "

    def chain(self, factors: list) -> list:
        """Factors in writing order: as computed (∂E/∂out × ∂out/∂net × ∂net/∂w), or for the
        layer notation from the parameter up (∂z/∂w · ∂a/∂z · ∂C₀/∂a)."""
        return list(reversed(factors)) if self.layered else list(factors)

    def product(self, names: list[str]) -> str:
        """Symbols multiplied, in writing order: 'δ_o1 × w5', 'w⁽²⁾₁₁ · δ⁽²⁾₁'."""
        return self.times.join(self.chain(names))

    def layer_title(self, layer: int) -> str:
        if layer == 0:
            return "inputs"
        if layer == self.layers:
            return f"output layer {layer}" if self.layered else "output layer"
        if self.layers == 2 and not self.layered:
            return "hidden layer"
        return f"hidden layer {layer}"

    def weight_count(self) -> int:
        return sum(a * b for a, b in zip(self.sizes, self.sizes[1:], strict=False))

    def table(self) -> dict[str, object]:
        """Every name's symbols, for programs (the JSON output): the error, each unit's net,
        out and δ (an input's out, an output's target too), each parameter's symbol."""
        units: dict[str, dict[str, str]] = {}
        for k in range(self.layers + 1):
            for unit in self.units(k):
                units[unit] = {"out": self.out(unit)} if k == 0 else {
                    "net": self.net(unit), "out": self.out(unit), "delta": self.delta(unit)}
                if k == self.layers:
                    units[unit]["target"] = self.target(unit)
        layers = range(1, self.layers + 1)
        params = [self.weight(k, j, c) for k in layers for j in range(self.sizes[k])
                  for c in range(self.sizes[k - 1])]
        params += [self.bias(k, j) for k in layers for j in range(self.sizes[k])]
        return {"notation": self.notation, "error": self.error, "units": units,
                "params": {name: self.symbol(name) for name in params}}

    def group(self, kind: str, layer: int) -> str:
        """A whole layer's tensor in the graph, kind "net", "out", "W" or "b": net[h], out[o],
        W1, b1; z⁽¹⁾, a⁽²⁾, W⁽¹⁾, b⁽¹⁾."""
        if self.layered:
            return _LAYER_LETTERS.get(kind, kind) + superscript(f"({layer})")
        if kind in ("W", "b"):
            return f"{kind}{layer}"
        group = "o" if layer == self.layers else "h" if self.layers == 2 else f"h{layer}"
        return f"{kind}[{group}]"


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


def loss_formula(loss: str, scale: float, naming: Naming | None = None) -> str:
    """E as a formula over the outputs; in layer notation C₀ (Note [two notations])."""
    if naming is not None and naming.layered:
        return _layer_loss_formula(loss, scale, naming)
    if loss == "half_sse":
        return "E = ½ Σ_o (t_o − out_o)²"
    if loss == "mse":
        return f"E = {_over_n(scale)}Σ_o (out_o − t_o)²"
    if loss == "bce":
        return f"E = −{_over_n(scale)}Σ_o [t_o·ln(out_o) + (1 − t_o)·ln(1 − out_o)]"
    return "E = −ln(p_k), p = softmax(net_o), k = the target class"


def _layer_loss_formula(loss: str, scale: float, naming: Naming) -> str:
    L = superscript(f"({naming.layers})")  # one output, single neurons: no Σ, no subscript j
    a, y, sigma = (f"a{L}", "y", "") if naming.single_neurons else (f"a{L}ⱼ", "yⱼ", "Σⱼ ")
    if loss == "half_sse":
        return f"C₀ = ½{' ' if sigma else ''}{sigma}({a} − {y})²"
    if loss == "mse":
        return f"C₀ = {_over_n(scale)}{sigma}({a} − {y})²"
    if loss == "bce":
        return f"C₀ = −{_over_n(scale)}{sigma}[{y}·ln({a}) + (1 − {y})·ln(1 − {a})]"
    return f"C₀ = −ln(pₖ), p = softmax(z{L}), k = the target class"


def output_error_formula(loss: str, out: str, t: str, scale: float,
                         target_first: bool = True) -> str:
    """Output o's share E_o of the error, in symbols; half_sse as ½(t − out)², or with
    target_first=False as the layer notation's (a − y)."""
    if loss == "half_sse":
        return f"½({t} − {out})²" if target_first else f"½({out} − {t})²"
    if loss == "mse":
        return f"{_over_n(scale)}({out} − {t})²"
    return f"−{_over_n(scale)}[{t}·ln({out}) + (1 − {t})·ln(1 − {out})]"


def output_error_numbers(loss: str, out: float, t: float, scale: float,
                         target_first: bool = True) -> str:
    o, tt = fmt_factor(out), fmt_factor(t)
    if loss == "half_sse":
        return f"½({tt} − {o})²" if target_first else f"½({o} − {tt})²"
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
