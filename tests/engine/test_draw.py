"""cr.draw: the graph behind any tensor, as chainrule's own SVG and as DOT."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

import chainrule as cr
from chainrule.draw import MAX_NODES, Box, Diagram, layout, svg_of
from chainrule.errors import ConfigError, GraphError

SVG = "{http://www.w3.org/2000/svg}"


def micrograd():
    """micrograd's example: L = (a·b + c)·f."""
    a = cr.tensor(2.0, requires_grad=True, name="a", dtype=np.float64)
    b = cr.tensor(-3.0, requires_grad=True, name="b", dtype=np.float64)
    c = cr.tensor(10.0, requires_grad=True, name="c", dtype=np.float64)
    f = cr.tensor(-2.0, requires_grad=True, name="f", dtype=np.float64)
    e = a * b
    d = e + c
    L = d * f
    return {"a": a, "b": b, "c": c, "f": f, "e": e, "d": d, "L": L}


def parse(svg: str) -> tuple[list[dict], list[dict]]:
    """The nodes (kind, rect, texts) and edges (points along the path, arrow tip) of a drawing."""
    root = ElementTree.fromstring(svg)
    nodes, edges = [], []
    for g in root.iter(f"{SVG}g"):
        kind = g.get("class", "").split()
        if kind[:1] == ["node"]:
            r = g.find(f"{SVG}rect")
            rect = tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            nodes.append({"kind": kind[1], "rect": rect,
                          "texts": [t.text for t in g.iter(f"{SVG}text")]})
        elif kind == ["edge"]:
            tip = [float(v) for v in g.find(f"{SVG}polygon").get("points").split()[0].split(",")]
            edges.append({"points": _path_points(g.find(f"{SVG}path").get("d")), "tip": tip})
    return nodes, edges


def _path_points(d: str) -> list[tuple[float, float]]:
    """Points along an M/C/H path, 20 per curve."""
    points: list[tuple[float, float]] = []
    for command, args in re.findall(r"([MCH])([^MCH]*)", d):
        numbers = [float(v) for v in re.split(r"[ ,]+", args.strip())]
        if command == "M":
            points.append((numbers[0], numbers[1]))
        elif command == "H":
            points.append((numbers[0], points[-1][1]))
        else:
            (x0, y0), (x1, y1, x2, y2, x3, y3) = points[-1], numbers
            for t in np.linspace(0, 1, 21)[1:]:
                s = 1 - t
                points.append((s**3 * x0 + 3 * s * s * t * x1 + 3 * s * t * t * x2 + t**3 * x3,
                               s**3 * y0 + 3 * s * s * t * y1 + 3 * s * t * t * y2 + t**3 * y3))
    return points


def check_geometry(drawing):
    """Boxes apart, each edge from its source's right side to its target's left side, and no
    edge through a box."""
    nodes, edges = parse(drawing.svg)
    keys = [b.key for b in drawing.diagram.boxes]
    rects = [n["rect"] for n in nodes]
    for (x1, y1, w1, h1), (x2, y2, w2, h2) in itertools.combinations(rects, 2):
        assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    for (source, target), edge in zip(drawing.diagram.edges, edges, strict=True):
        sx, sy, sw, sh = rects[keys.index(source)]
        tx, ty, _, th = rects[keys.index(target)]
        (x0, y0), (xt, yt) = edge["points"][0], edge["tip"]
        assert x0 == pytest.approx(sx + sw, abs=0.2) and sy < y0 < sy + sh
        assert xt == pytest.approx(tx, abs=0.2) and ty < yt < ty + th
        for x, y in edge["points"]:
            for rx, ry, rw, rh in rects:
                assert not (rx + 0.5 < x < rx + rw - 0.5 and ry + 0.5 < y < ry + rh - 0.5)
    root = ElementTree.fromstring(drawing.svg)
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert all(x >= 0 and y >= 0 and x + w <= width and y + h <= height for x, y, w, h in rects)
    return nodes, edges


# --- what a drawing shows -------------------------------------------------------------------
def test_micrograd_example_shows_values_and_the_gradients_backward_left():
    t = micrograd()
    t["L"].backward(retain_graph=True)
    drawing = cr.draw(t["L"], names={"e": t["e"], "d": t["d"], "L": t["L"]})
    nodes, edges = check_geometry(drawing)
    shown = {n["texts"][0]: (n["kind"], n["texts"][1:]) for n in nodes}
    assert shown == {
        "a": ("leaf", ["value = 2", "grad = 6"]),
        "b": ("leaf", ["value = -3", "grad = -4"]),
        "c": ("leaf", ["value = 10", "grad = -2"]),
        "f": ("leaf", ["value = -2", "grad = 4"]),
        "e = mul": ("op", ["value = -6"]),  # intermediate tensors keep no .grad
        "d = add": ("op", ["value = 4"]),
        "L = mul": ("output", ["value = -8"]),
    }
    assert len(edges) == 6


def test_grads_true_computes_every_gradient_and_leaves_grad_alone():
    t = micrograd()
    drawing = cr.draw(t["L"], grads=True)
    nodes, _ = parse(drawing.svg)
    texts = [n["texts"] for n in nodes]
    for leaf in (["a", "value = 2", "grad = 6"], ["b", "value = -3", "grad = -4"],
                 ["c", "value = 10", "grad = -2"], ["f", "value = -2", "grad = 4"]):
        assert leaf in texts
    assert ["mul", "value = -6", "grad = -2"] in texts  # e = a·b: ∂L/∂e = f·1 = -2
    assert ["add", "value = 4", "grad = -2"] in texts  # d: ∂L/∂d = f = -2
    assert ["mul", "value = -8", "grad = 1"] in texts  # L itself
    assert "grad = ∂out/∂node" in drawing.svg
    assert all(t[k].grad is None for k in "abcfedL")  # nothing was accumulated anywhere
    t["L"].backward()  # and the graph is still there for the user's own backward
    assert t["a"].grad == 6


def test_grads_true_keeps_earlier_gradients_as_they_were():
    t = micrograd()
    t["L"].backward(retain_graph=True)
    before = t["a"].grad
    cr.draw(t["L"], grads=True)
    assert t["a"].grad is before and before == 6


def test_arrays_show_shape_dtype_and_a_summary_and_broadcasting_is_drawn():
    x = cr.tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32), name="x",
                  requires_grad=True)
    row = cr.tensor(np.array([10.0, 20.0, 30.0], dtype=np.float32), name="row",
                    requires_grad=True)
    total = (x + row).sum()
    total.backward(retain_graph=True)
    nodes, edges = check_geometry(cr.draw(total))
    texts = {n["texts"][0]: n["texts"][1:] for n in nodes}
    assert texts["x"] == ["shape (2, 3) float32", "value min 1 mean 3.5 max 6",
                          "grad min 1 mean 1 max 1"]
    assert texts["row"] == ["shape (3,) float32", "value min 10 mean 20 max 30",
                            "grad min 2 mean 2 max 2"]  # summed over the broadcast axis
    assert texts["add"] == ["shape (2, 3) float32", "value min 11 mean 23.5 max 36"]
    assert texts["sum"] == ["value = 141"]
    assert len(edges) == 3


def test_a_reused_tensor_has_one_box_and_an_edge_per_use():
    a = cr.tensor(3.0, requires_grad=True, name="a")
    b = a * 2  # the 2 is a constant of the graph
    c = b + b  # the diamond: b feeds c twice
    d = c * a
    nodes, edges = check_geometry(cr.draw(d))
    assert [n["texts"][0] for n in nodes] == ["a", "constant", "mul", "add", "mul"]
    assert [n["kind"] for n in nodes] == ["leaf", "constant", "op", "op", "output"]
    assert len(edges) == 6  # a→mul, 2→mul, b→add twice, c→mul, a→mul: a is used twice too


def test_a_deep_chain_with_a_skip_connection_routes_around_the_boxes():
    x = cr.tensor(0.5, requires_grad=True, name="x")
    h = x
    for _ in range(12):
        h = (h * 1.1).tanh()
    out = h + x  # x's edge spans every column
    drawing = cr.draw(out)
    nodes, edges = check_geometry(drawing)
    assert len(nodes) == 1 + 12 * 3 + 1 and len(edges) == 12 * 3 + 2
    assert [b.kind for b in drawing.diagram.boxes].count("constant") == 12


def test_a_leaf_or_a_tensor_without_a_graph_is_one_box():
    w = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    for t in (w, cr.tensor([1.0, 2.0]) * 3):  # no input requires grad: no graph is kept
        nodes, edges = check_geometry(cr.draw(t))
        assert len(nodes) == 1 and nodes[0]["kind"] == "output" and edges == []


def test_an_integer_or_empty_array_and_non_finite_values_are_summarised():
    labels = cr.tensor(np.array([0, 1, 1, 0]))
    empty = cr.tensor(np.zeros((0, 2)), requires_grad=True)
    weird = cr.tensor(np.array([np.inf, -np.inf, np.nan]), requires_grad=True)
    assert parse(cr.draw(labels).svg)[0][0]["texts"][1:] == [
        "shape (4,) int64", "value min 0 mean 0.5 max 1"]
    assert parse(cr.draw(empty).svg)[0][0]["texts"][1:] == ["shape (0, 2) float64",
                                                             "value: empty"]
    assert parse(cr.draw(weird).svg)[0][0]["texts"][1:] == [
        "shape (3,) float64", "value min nan mean nan max nan"]


# --- the files ------------------------------------------------------------------------------
def test_the_same_graph_gives_the_same_bytes():
    first = cr.draw(micrograd()["L"], grads=True)
    second = cr.draw(micrograd()["L"], grads=True)  # other tensors, numbered later
    assert first.svg == second.svg and first.dot == second.dot
    assert first._repr_svg_() == first.svg


def test_hostile_names_are_escaped():
    name = '<script>alert("x")</script> & \'q\' \x00\x1b end'
    w = cr.tensor(1.0, requires_grad=True, name=name)
    drawing = cr.draw(w * 2, names={"</text><b>": w * 1})  # a name for a tensor not drawn
    svg = drawing.svg
    assert "<script" not in svg and "\x00" not in svg and "\x1b" not in svg
    nodes, _ = parse(svg)
    assert nodes[0]["texts"][0] == name.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
    root = ElementTree.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.split("}")[1] in ("script", "image", "a",
                                                                 "style", "foreignObject")]
    assert not [k for e in root.iter() for k in e.attrib if "href" in k or k.startswith("on")]
    assert '\\"x\\"' in drawing.dot and "\x00" not in drawing.dot


def test_dot_has_every_node_and_edge():
    drawing = cr.draw(micrograd()["L"])
    lines = drawing.dot.splitlines()
    assert lines[0] == "digraph computation {" and lines[-1] == "}" and "  rankdir=LR;" in lines
    nodes = re.findall(r'^  (n\d+) \[label="(.*)", fillcolor="#[0-9a-f]{6}"\];$', drawing.dot,
                       re.MULTILINE)
    edges = re.findall(r"^  (n\d+) -> (n\d+);$", drawing.dot, re.MULTILINE)
    assert [key for key, _ in nodes] == [b.key for b in drawing.diagram.boxes]
    assert tuple(edges) == drawing.diagram.edges and len(edges) == 6
    assert dict(nodes)["n0"] == "a\\lvalue = 2\\l"


@pytest.mark.parametrize("suffix", [".svg", ".dot", ".gv", ".SVG"])
def test_save_writes_the_format_its_suffix_names(tmp_path, suffix):
    drawing = cr.draw(micrograd()["L"])
    path = drawing.save(tmp_path / f"graph{suffix}")
    expected = drawing.svg if suffix.lower() == ".svg" else drawing.dot
    assert path.read_text(encoding="utf-8") == expected
    assert [p.name for p in tmp_path.iterdir()] == [f"graph{suffix}"]  # no temporary left


@pytest.mark.parametrize("name", ["graph.png", "graph", "graph.svg.txt"])
def test_save_refuses_another_suffix(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ConfigError) as caught:
        cr.draw(micrograd()["L"]).save(path)
    assert str(caught.value) == (f"Drawing.save: {str(path)!r} should end in .svg (a drawing) "
                                 "or .dot or .gv (Graphviz DOT)")
    assert list(tmp_path.iterdir()) == []


def test_repr_says_what_it_holds():
    assert repr(cr.draw(micrograd()["L"])) == \
        "<Drawing of 7 nodes and 6 edges: .svg, .dot, .save('graph.svg')>"


# --- large graphs and mistakes --------------------------------------------------------------
def chain(ops: int):
    h = cr.tensor(1.0, requires_grad=True)
    for _ in range(ops):
        h = h.tanh()
    return h


def test_a_graph_over_the_node_limit_is_refused_with_what_to_do():
    assert MAX_NODES == 150
    with pytest.raises(ConfigError) as caught:
        cr.draw(chain(150))
    assert str(caught.value) == (
        "draw: the graph has 151 nodes, more than max_nodes=150; pass max_nodes=151 (a drawing "
        "that large is hard to read) or draw a smaller part of the computation")
    assert len(cr.draw(chain(149)).diagram.boxes) == 150
    assert len(cr.draw(chain(150), max_nodes=151).diagram.boxes) == 151


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "150"])
def test_max_nodes_must_be_a_positive_whole_number(bad):
    with pytest.raises(ConfigError, match=rf"^draw: max_nodes should be a whole number of at "
                                          rf"least 1, got {re.escape(repr(bad))}$"):
        cr.draw(chain(2), max_nodes=bad)


def test_a_freed_graph_is_refused_with_how_to_keep_it():
    L = micrograd()["L"]
    L.backward()
    with pytest.raises(GraphError, match=r"^draw: the graph behind this tensor was already freed "
                                         r"by an earlier backward\(\); call "
                                         r"backward\(retain_graph=True\) the first time to use it "
                                         r"again$"):
        cr.draw(L)


def test_grads_true_needs_one_value_that_requires_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ConfigError, match=r"an output of one value that requires grad; this "
                                          r"one has shape \(2,\)$"):
        cr.draw(x * 2, grads=True)
    with pytest.raises(ConfigError, match=r"this one does not require grad \(no input has "
                                          r"requires_grad=True\)$"):
        cr.draw(cr.tensor(1.0) * 2, grads=True)


def test_draw_needs_a_tensor_and_names_need_tensors():
    with pytest.raises(ConfigError, match=r"^draw: expected a Tensor, got ndarray$"):
        cr.draw(np.ones(2))
    with pytest.raises(ConfigError, match=r"^draw: names\['w'\] should be a Tensor, got float$"):
        cr.draw(chain(1), names={"w": 1.0})


# --- the diagram writer on its own ----------------------------------------------------------
def test_a_wide_graph_with_many_crossing_candidates_lays_out_cleanly():
    rng = np.random.default_rng(3)
    leaves = [cr.tensor(float(v), requires_grad=True, name=f"x{i}")
              for i, v in enumerate(rng.normal(size=8))]
    layer = [leaves[i] * leaves[(i + 3) % 8] for i in range(8)]
    layer = [layer[i] + layer[(i + 5) % 8] for i in range(8)]
    out = layer[0]
    for t in layer[1:]:
        out = out + t
    check_geometry(cr.draw(out))


def test_wide_characters_widen_their_box():
    narrow = Diagram((Box("n0", "ab", (), "op"),), ())
    wide = Diagram((Box("n0", "学习", (), "op"),), ())
    width = [parse(svg_of(d))[0][0]["rect"][2] for d in (narrow, wide)]
    assert width[1] == pytest.approx(2 * width[0] - 16)  # twice the characters, same padding


@pytest.mark.parametrize(("boxes", "edges", "message"), [
    ((Box("n0", "a", (), "op"), Box("n0", "b", (), "op")), (), "two boxes share a key"),
    ((Box("n0", "a", (), "op"),), (("n0", "n9"),), "an edge names the unknown box 'n9'"),
    ((Box("n0", "a", (), "pink"),), (), "unknown kind 'pink'"),
])
def test_a_malformed_diagram_is_refused(boxes, edges, message):
    with pytest.raises(ValueError, match=f"^Diagram: {message}$"):
        Diagram(boxes, edges)


def test_a_cycle_cannot_be_laid_out():
    boxes = (Box("n0", "a", (), "op"), Box("n1", "b", (), "op"))
    with pytest.raises(ValueError, match=r"^Diagram: the edges form a cycle$"):
        svg_of(Diagram(boxes, (("n0", "n1"), ("n1", "n0"))))


def test_columns_are_ordered_so_that_edges_do_not_cross():
    """Listed in this order, the boxes of each column would make every edge cross the others;
    the barycentre sweeps untangle them: top-to-bottom order is kept along every edge."""
    boxes = tuple(Box(f"{c}{i}", f"{c}{i}", (), "op") for c in "abc" for i in range(4))
    edges = tuple((f"a{i}", f"b{3 - i}") for i in range(4)) + \
        tuple((f"b{i}", f"c{(i + 2) % 4}") for i in range(4))
    rects = dict(zip([b.key for b in boxes], layout(Diagram(boxes, edges)).rects, strict=True))
    for (s1, t1), (s2, t2) in itertools.combinations(edges, 2):
        if s1[0] == s2[0]:
            assert (rects[s1].y < rects[s2].y) == (rects[t1].y < rects[t2].y), (s1, t1, s2, t2)


def test_the_example_of_docs_draw_runs_and_says_what_it_claims(tmp_path, monkeypatch):
    page = Path(__file__).resolve().parents[2] / "docs" / "draw.md"
    [block] = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(page), "exec"), namespace)
    assert (tmp_path / "L.svg").read_text(encoding="utf-8") == namespace["svg"]
    texts = [n["texts"] for n in parse(namespace["every"].svg)[0]]
    assert ["a", "value = 2", "grad = 6"] in texts and ["mul", "value = -6", "grad = -2"] in texts
    assert "grad = 6" in namespace["svg"] and namespace["a"].grad == 6
