"""No module imports a module above it.

The layers, lowest first (a module may import its own layer and any below it):

    errors, version, validate, configfile, display   (helpers for every layer)
    autograd
    tensor ↔ ops                             (each needs the other)
    functional, creation < check < nn (and examples, built from nn) < optim
    data, io, fileschema, trace, draw        (helpers for training and above)
    train < runs < explain, onnx < cli, playground, sklearn
                               (explain may read nn, train and io, not runs; onnx reads runs,
                                not explain)

The playground and the scikit-learn estimators are interfaces like cli: only the `chainrule
playground` command imports the playground, and only it imports its web framework (the optional
[playground] extra); nothing in chainrule imports chainrule.sklearn, the only module that
imports scikit-learn. Only chainrule.onnx imports the onnx package (the optional [onnx] extra),
and only chainrule.explain.render_xlsx imports openpyxl (the optional [xlsx] extra), inside the
function that writes a workbook.

Imports inside `if TYPE_CHECKING:` do not count: they never run.
"""

import ast
from pathlib import Path

import pytest

import chainrule as cr

SRC = Path(cr.__file__).parent
RANKS = {
    "errors": 0, "version": 0, "validate": 0, "configfile": 0, "display": 0,
    "autograd": 1, "tensor": 2, "ops": 2, "functional": 3, "creation": 3, "check": 4, "nn": 5,
    "examples": 5,
    "optim": 6, "data": 7, "io": 7, "fileschema": 7, "trace": 7, "draw": 7, "train": 8, "runs": 9,
    "explain": 10, "onnx": 10,
    "cli": 11, "playground": 11, "sklearn": 11,
    "__init__": 12, "__main__": 12,
}
# (layer, layer it must not import although it is not above it)
FORBIDDEN = {("explain", "runs"), ("playground", "cli"), ("explain", "onnx"),
             ("onnx", "explain"), ("sklearn", "cli"), ("sklearn", "playground"),
             ("cli", "sklearn"), ("playground", "sklearn")}


def _layer(module: str) -> str:
    """'chainrule.nn.layers' → 'nn'; 'chainrule' → '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found.append((".".join(("chainrule", *parts)), path))
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every chainrule import that runs (TYPE_CHECKING blocks skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("chainrule")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("chainrule"):
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "chainrule" \
                else [node.module]
            found += [(node.lineno, name) for name in names]
    return found


def _upward(module: str, path: Path) -> list[str]:
    own = RANKS[_layer(module)]
    if module.endswith("__init__"):  # a package's __init__ gathers its own package
        own = RANKS[_layer(module.removesuffix(".__init__"))] if module.count(".") > 1 else 12
    return [f"{module}:{line} imports {target}" for line, target in _imports(path)
            if RANKS[_layer(target)] > own or (_layer(module), _layer(target)) in FORBIDDEN]


def test_every_module_has_a_layer():
    assert {_layer(m) for m, _ in _modules()} <= set(RANKS)


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_a_module_above_it(module, path):
    assert _upward(module, path) == []


def test_explanation_model_imports_no_other_explain_module():
    """The renderers import the model and register themselves; the model imports none."""
    targets = [t for _, t in _imports(SRC / "explain" / "model.py")]
    assert not [t for t in targets if t.startswith("chainrule.explain")]


def test_modules_below_nn_do_not_save_models():
    assert not hasattr(cr.nn.Module, "save")  # saving is chainrule.save_model (io)


WEB = ("starlette", "uvicorn", "websockets", "httpx")


def _all_imports(path: Path) -> list[str]:
    """Every top-level module name any import statement of the file names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module.split(".")[0])
    return found


def test_only_the_playground_command_imports_the_playground():
    importers = {module for module, path in _modules() if _layer(module) != "playground"
                 and any(t.startswith("chainrule.playground") for _, t in _imports(path))}
    assert importers == {"chainrule.cli.playground"}


def test_only_the_playground_server_imports_the_web_framework():
    users = {module for module, path in _modules() if set(_all_imports(path)) & set(WEB)}
    assert users == {"chainrule.playground.server"}


def test_only_the_estimators_import_scikit_learn_and_nothing_imports_them():
    users = {module for module, path in _modules() if "sklearn" in _all_imports(path)}
    assert users == {"chainrule.sklearn"}
    importers = {module for module, path in _modules()
                 if any(t.startswith("chainrule.sklearn") for _, t in _imports(path))}
    assert importers == set()


def test_only_chainrule_onnx_imports_onnx():
    users = {module for module, path in _modules()
             if {"onnx", "onnxruntime"} & set(_all_imports(path))}
    assert users == {"chainrule.onnx"}


def test_only_the_xlsx_renderer_imports_openpyxl_and_only_inside_functions():
    users = {module for module, path in _modules() if "openpyxl" in _all_imports(path)}
    assert users == {"chainrule.explain.render_xlsx"}
    tree = ast.parse((SRC / "explain" / "render_xlsx.py").read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert not [node for node in top_level if "openpyxl" in ast.unparse(node)]
