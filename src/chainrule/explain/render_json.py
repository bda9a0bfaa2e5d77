"""The explanation as JSON, every value at full precision, for programs.

The document is `Explanation.to_dict()` plus a format tag; floats are written with Python's
shortest round-tripping repr, so `json.loads` gives back exactly the numbers the engine
computed. A value that is not finite (a diverging run) is written as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

from chainrule.explain.model import Explanation, renders
from chainrule.explain.notation import Naming

FORMAT = "chainrule-explain"
VERSION = 1


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json_data(ex: Explanation) -> dict[str, Any]:
    """The explanation's fields, and `symbols`: how its notation writes each unit and
    parameter named in them (network.notation says which notation)."""
    return {"format": FORMAT, "version": VERSION, **_finite(ex.to_dict()),
            "symbols": Naming.of(ex.network).table()}


@renders("json")
def render_json(ex: Explanation, indent: int | None = 2) -> str:
    return json.dumps(to_json_data(ex), ensure_ascii=False, indent=indent,
                      allow_nan=False) + "\n"
