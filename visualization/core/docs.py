"""Docstrings shared by the adapters: the core writes each example once (in PyTorch spelling) and
:func:`for_framework` renders it for Paddle and Keras, so ``help(visualization.paddle.cam_visualizer.GradCAM)``
shows Paddle code and ``help(visualization.keras.cam_visualizer.GradCAM)`` Keras code. The test suite
runs every rendering as doctests (``--doctest-modules`` collects the adapter modules' classes)."""

from __future__ import annotations

import ast
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

_PADDLE = [
    ("visualization.pytorch", "visualization.paddle"),
    ("import torch", "import paddle"),
    ("torch.nn.Conv2d", "paddle.nn.Conv2D"),
    ("torch.nn.AdaptiveAvgPool2d", "paddle.nn.AdaptiveAvgPool2D"),
    ("torch.nn.", "paddle.nn."),
]
_RAND = re.compile(r"torch\.rand\(([^()]*)\)")


def for_framework(doc: str | None, framework: str) -> str | None:
    """``doc`` with its PyTorch example rewritten for ``framework`` (``"torch"``, ``"paddle"`` or ``"keras"``).

    For ``"keras"`` an example of a module in :data:`KERAS_TRANSLATED` is translated where every
    PyTorch construct in it has a direct Keras spelling (:func:`keras_example`): a ``torch.nn.Sequential`` of ``Conv2d`` / ``ReLU`` /
    ``AdaptiveAvgPool2d(1)`` / ``Flatten`` / ``Linear`` / ``MaxPool2d`` becomes a ``keras.Sequential``
    whose layers carry torch's child names (``"0"``, ``"1"``, ...), and ``torch.rand(N, C, H, W)`` a
    channels-last numpy batch ``(N, H, W, C)``. Expected outputs stay as they are: the arrays the
    toolkit returns keep its channels-first layout in every framework. An example with anything else
    is dropped, and the prose points to the Keras module docstrings instead."""
    if doc is None or framework == "torch":
        return doc
    if framework == "keras":
        return _keras_doc(doc)
    if framework != "paddle":
        raise ValueError(f"unknown framework {framework!r}")
    for old, new in _PADDLE:
        doc = doc.replace(old, new)
    return _RAND.sub(lambda m: f"paddle.rand([{m.group(1)}])", doc)


class _Untranslatable(ValueError):
    """An example uses a PyTorch construct without a direct Keras spelling here."""


#: Keras modules whose examples are translated: their results keep the toolkit's layout, so the
#: expected outputs of the PyTorch examples hold (checked by their doctests). A module joins once its
#: translated examples pass; until then its examples are dropped with the note below.
KERAS_TRANSLATED = frozenset({"cam_visualizer", "layer_visualizer", "saliency", "activation_maximization", "targets", "structure"})
_KERAS_NOTE = (
    "(PyTorch example omitted for Keras: see the visualization.keras module docstrings; inputs are (N, H, W, C).)"
)
_TORCH_RAND = re.compile(r"torch\.rand\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def _keras_layer(call: ast.expr, index: int) -> tuple[str, int | None]:
    """One ``torch.nn`` layer call as Keras source (named ``str(index)``), and its input channels."""
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and ast.unparse(call.func.value) == "torch.nn"
        and all(isinstance(a, ast.Constant) for a in [*call.args, *(k.value for k in call.keywords)])
    ):
        raise _Untranslatable(ast.unparse(call))
    kind = call.func.attr
    args = [a.value for a in call.args]  # type: ignore[attr-defined]
    kw = {k.arg: k.value.value for k in call.keywords}  # type: ignore[attr-defined]
    name = f'name="{index}"'
    if kind == "Conv2d" and len(args) == 3 and set(kw) <= {"padding", "stride"}:
        c_in, c_out, k = args
        pad = kw.get("padding", 0)
        if pad not in (0, (k - 1) // 2) or (pad and k % 2 == 0):
            raise _Untranslatable(ast.unparse(call))
        extra = (', padding="same"' if pad else "") + (f", strides={kw['stride']}" if "stride" in kw else "")
        return f"keras.layers.Conv2D({c_out}, {k}{extra}, {name})", c_in
    if kind in ("ReLU", "Flatten") and not args and not kw:
        return f"keras.layers.{kind}({name})", None
    if kind == "AdaptiveAvgPool2d" and args == [1] and not kw:
        return f"keras.layers.GlobalAveragePooling2D(keepdims=True, {name})", None
    if kind == "Linear" and len(args) == 2 and not kw:
        return f"keras.layers.Dense({args[1]}, {name})", None
    if kind == "MaxPool2d" and len(args) == 1 and not kw:
        return f"keras.layers.MaxPooling2D({args[0]}, {name})", None
    raise _Untranslatable(ast.unparse(call))


def _keras_sequential(source: str) -> str:
    """``torch.nn.Sequential(...)`` in one statement as a ``keras.Sequential`` with an ``Input`` of any
    height and width, one layer per continuation line."""
    start = source.find("torch.nn.Sequential(")
    if start < 0:
        return source
    depth, end = 0, start
    for end in range(start + len("torch.nn.Sequential"), len(source)):  # where the parentheses balance
        depth += {"(": 1, ")": -1}.get(source[end], 0)
        if depth == 0:
            break
    call = ast.parse(source[start : end + 1], mode="eval").body
    if not isinstance(call, ast.Call) or call.keywords or not call.args:
        raise _Untranslatable(source)
    layers = [_keras_layer(c, i) for i, c in enumerate(call.args)]
    if layers[0][1] is None:
        raise _Untranslatable("a Sequential that does not start with a Conv2d")
    pad = ",\n" + " " * (start + len("keras.Sequential(["))
    body = pad.join([f"keras.Input((None, None, {layers[0][1]}))", *(text for text, _ in layers)])
    return source[:start] + f"keras.Sequential([{body}])" + source[end + 1 :]


def keras_example(statement: str) -> str:
    """One doctest statement (prompts removed, lines joined by newlines) spelled for Keras.

    >>> print(keras_example("x = torch.rand(2, 3, 16, 16)"))
    x = np.random.rand(2, 16, 16, 3).astype("float32")
    >>> print(keras_example("m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),\\n torch.nn.ReLU())"))
    m = keras.Sequential([keras.Input((None, None, 3)),
                          keras.layers.Conv2D(4, 3, padding="same", name="0"),
                          keras.layers.ReLU(name="1")])
    """
    if statement.strip() == "import torch":
        return "import keras\nimport numpy as np"
    for module in re.findall(r"visualization\.pytorch\.(\w+)", statement):
        if module not in KERAS_TRANSLATED:
            raise _Untranslatable(f"visualization.keras.{module}: its examples are not translated yet")
    out = statement.replace("visualization.pytorch", "visualization.keras")
    if "torch.nn.Sequential(" in out:
        out = _keras_sequential(" ".join(part.strip() for part in out.split("\n")))

    def rand(m: re.Match[str]) -> str:
        dims = [int(d) for d in m.groups() if d is not None]
        shape = (*dims[:-3], dims[-2], dims[-1], dims[-3])
        return f'np.random.rand({", ".join(map(str, shape))}).astype("float32")'

    out = _TORCH_RAND.sub(rand, out)
    if re.search(r"\btorch\b", out):
        raise _Untranslatable(out)
    return out


def _keras_doc(doc: str) -> str:
    """``doc`` with each example block translated by :func:`keras_example`, or dropped (with a note)."""
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        block: list[str] = []  # one example: statements, continuations and expected output
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        try:
            out += _keras_block(block)
        except (_Untranslatable, SyntaxError):
            pass
    text = "\n".join(out)
    return re.sub(r"(Examples?:)\n(\s*)(?=\n|$)", lambda m: f"{m.group(1)}\n{m.group(2)}    {_KERAS_NOTE}\n", text)


def _keras_block(block: list[str]) -> list[str]:
    out: list[str] = []
    j = 0
    while j < len(block):
        line, stripped = block[j], block[j].strip()
        j += 1
        if not stripped.startswith(">>>"):
            out.append(line)  # expected output
            continue
        indent = line[: len(line) - len(line.lstrip())]
        parts = [stripped[4:]]
        while j < len(block) and block[j].strip().startswith("..."):
            parts.append(block[j].strip()[4:])
            j += 1
        for k, text in enumerate(keras_example("\n".join(parts)).split("\n")):
            prompt = ">>>" if k == 0 or text.startswith(("import ", "from ")) else "..."
            out.append(f"{indent}{prompt} {text}")
    return out


def bind_backend(function: Callable[..., Any], backend: Any, framework: str, module: str) -> Callable[..., Any]:
    """``function(backend, *args, **kwargs)`` of the core as a public function of an adapter module.

    The result takes the same arguments without ``backend`` (``inspect.signature`` and ``help`` show
    them), belongs to ``module`` and carries the docstring rendered for ``framework``.

    >>> def area(backend, w, h=2):
    ...     '''Area (``import torch`` here).'''
    ...     return backend * w * h
    >>> bound = bind_backend(area, 10, "paddle", "demo")
    >>> bound(3), str(inspect.signature(bound)), bound.__doc__
    (60, '(w, h=2)', 'Area (``import paddle`` here).')
    """

    @functools.wraps(function)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return function(backend, *args, **kwargs)

    signature = inspect.signature(function)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    bound.__doc__ = for_framework(function.__doc__, framework)
    bound.__module__ = module
    del bound.__wrapped__  # inspect must not unwrap to the core signature
    return bound
