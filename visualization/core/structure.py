"""The model structure view: every layer call with its output shape, parameter count and receptive field.

A framework adapter traces one forward pass (``visualization.<framework>._structure``: forward hooks
that record, for each sub-layer call, which tensor went in and which came out, plus the window
geometry of convolutions and poolings); everything else lives here and is the same for every
framework: the receptive-field arithmetic, the parameter totals and the text, Markdown and HTML
tables.

Receptive field. For a chain of layers with kernel ``k``, stride ``s`` and dilation ``d``, the
receptive field ``r`` (how many input pixels one output unit sees, per axis) and the jump ``j``
(how many input pixels apart two neighbouring output units are) follow, starting from
``r = j = 1`` at the input::

    r_out = r_in + (k - 1) * d * j_in
    j_out = j_in * s

Padding and ``ceil_mode`` shift the window or add a row of outputs but change neither ``r`` nor
``j``; the value is the theoretical field, which may be larger than the input (the excess falls on
padding). The formula assumes a chain. The trace follows real branches where a layer's input is
the very tensor another layer returned (two layers reading one tensor both start from its field).
Where a layer's input was made by an operation that is not a layer (a functional ``relu``, a
residual add ``out + x``, ``flatten``), the field is taken from the largest field among the traced
outputs of the same shape: at a residual add the fields of the two branches are centred alike, so
the field of the sum is the larger one (the deeper branch). Other layers keep the input's field
when their output has the input's spatial size (BatchNorm, activations, dropout; a custom layer
that mixes neighbours without changing the size would be underestimated). A global pooling gives
``global`` (the unit sees the whole input); an output that is not a ``(N, C, h, w)`` map gives no
field; an upsampling, a transposed convolution or an unknown layer that changes the spatial size
makes the field unknown (``?``) from there on.

Example:
    >>> receptive_field([(3, 1, 1)] * 3)                    # three 3x3 stride-1 convolutions
    (7, 1)
    >>> receptive_field([(7, 2, 1), (3, 2, 1)])             # a 7x7/2 convolution and a 3x3/2 max-pool
    (11, 4)
"""

from __future__ import annotations

import abc
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .backend import Backend

GeometryKind = Literal["window", "adaptive", "resample"]
#: Receptive-field notes: a number (``""``), the whole input, unknown, or not a spatial map.
FieldNote = Literal["", "global", "unknown", "not a map"]
Pair = tuple[int, int]

__all__ = [
    "LayerGeometry",
    "ModelFacts",
    "ModelStructure",
    "StructureRow",
    "Trace",
    "TracedCall",
    "model_structure",
    "receptive_field",
    "receptive_fields",
    "structure_html",
]


def receptive_field(chain: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """Receptive field and jump ``(r, j)`` after a chain of ``(kernel, stride, dilation)`` layers (one axis).

    ``r_out = r_in + (k - 1) * d * j_in`` and ``j_out = j_in * s``, from ``r = j = 1``.

    >>> receptive_field([(3, 1, 2)])                         # one 3x3 convolution with dilation 2
    (5, 1)
    >>> receptive_field([(2, 2, 1), (3, 1, 1)])              # a 2x2/2 pooling, then a 3x3 convolution
    (6, 2)
    """
    r, j = 1, 1
    for k, s, d in chain:
        r, j = r + (k - 1) * d * j, j * s
    return r, j


# ---------------------------------------------------------------------------------------- traces
@dataclass(frozen=True)
class LayerGeometry:
    """How a layer moves over its input's two spatial axes.

    Attributes:
        kind: ``'window'`` (a convolution or pooling with a fixed ``kernel``, ``stride``, ``dilation``),
            ``'adaptive'`` (an adaptive pooling: the window follows from the input and output sizes) or
            ``'resample'`` (upsampling, transposed convolution: the field is not tracked further).
        kernel, stride, dilation: ``(h, w)`` pairs, for ``'window'``.
    """

    kind: GeometryKind
    kernel: Pair = (1, 1)
    stride: Pair = (1, 1)
    dilation: Pair = (1, 1)

    def label(self) -> str:
        """Short text for tables, e.g. ``'3x3/1'``, ``'3x3/1 d2'``, ``'adaptive'``."""
        if self.kind != "window":
            return self.kind
        text = f"{self.kernel[0]}x{self.kernel[1]}/{_pair(self.stride, 'x')}"
        return text + (f" d{_pair(self.dilation, 'x')}" if self.dilation != (1, 1) else "")


@dataclass(frozen=True)
class TracedCall:
    """One sub-layer call seen by the adapter's hooks (in the order the calls finished).

    Attributes:
        name: dotted layer name.
        type_name: the layer's class name.
        is_leaf: whether the layer has no sub-layers.
        geometry: window geometry of a convolution or pooling, else ``None``.
        input_id: identity of the first input tensor during the trace (``None`` if there was none).
        input_shape: its shape.
        output_id: identity of the output tensor (``None`` if the output is not one tensor).
        output_shape: its shape.
    """

    name: str
    type_name: str
    is_leaf: bool
    geometry: LayerGeometry | None
    input_id: int | None
    input_shape: tuple[int, ...] | None
    output_id: int | None
    output_shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Trace:
    """A traced forward pass: the model input's identity and shape, and every sub-layer call."""

    input_id: int
    input_shape: tuple[int, ...]
    calls: tuple[TracedCall, ...]


class ModelFacts(abc.ABC):
    """What the structure view and the training logger need from a framework beyond the
    :class:`~visualization.core.backend.Backend` (implemented in ``visualization.<framework>._structure``).

    Every method that runs the model does so in eval mode (each flag restored), without recording
    gradients, with hooks that are removed before it returns (also after an exception).
    """

    name: str = "abstract"

    @abc.abstractmethod
    def trace(self, model: Any, x: Any) -> Trace:
        """Run the model once on the prepared input ``x``, recording every sub-layer call."""

    @abc.abstractmethod
    def parameter_counts(self, model: Any) -> dict[str, tuple[int, int]]:
        """``{layer name: (parameters, trainable parameters)}`` that each layer holds itself (the root
        is ``''``). Buffers such as BatchNorm running statistics are not parameters (Paddle keeps them
        as non-trainable parameters; they are left out so both frameworks count alike)."""

    @abc.abstractmethod
    def parameter_arrays(self, model: Any) -> list[tuple[str, np.ndarray]]:
        """``(name, float32 copy)`` of every parameter in the sense of :meth:`parameter_counts`."""

    @abc.abstractmethod
    def capture_outputs(self, model: Any, x: Any, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """The outputs of the named layers for ``x`` as float32 numpy, one entry per call (a layer
        that runs twice per forward pass has two); a layer whose output is not one tensor has none."""

    @abc.abstractmethod
    def is_relu(self, layer: Any) -> bool:
        """Whether ``layer`` is a ReLU-type activation layer (``ReLU``, ``ReLU6``)."""

    @abc.abstractmethod
    def write_graph(self, writer: Any, model: Any, x: Any) -> bool:
        """Write the model's graph to a ``tensorboardX.SummaryWriter``; ``False`` where the framework
        offers no graph that TensorBoard can read."""


# ---------------------------------------------------------------------------------------- fields
@dataclass(frozen=True)
class _Field:
    size: Pair | None
    jump: Pair | None
    note: FieldNote = ""


_INPUT = _Field((1, 1), (1, 1))
_GLOBAL = _Field(None, None, "global")
_UNKNOWN = _Field(None, None, "unknown")
_NOT_A_MAP = _Field(None, None, "not a map")


def _is_map(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) == 4


def _area(f: _Field) -> int:
    return f.size[0] * f.size[1] if f.size is not None else -1


def _apply(field: _Field, call: TracedCall) -> _Field:
    """The field of a leaf call's output from the field of its input."""
    if not _is_map(call.output_shape):
        return _NOT_A_MAP
    if field.note in ("global", "unknown"):
        return field
    if field.note == "not a map" or field.size is None or field.jump is None:
        return _UNKNOWN
    geo = call.geometry
    same_size = _is_map(call.input_shape) and call.input_shape[2:] == call.output_shape[2:]  # type: ignore[index]
    if geo is None:
        return field if same_size else _UNKNOWN
    if geo.kind == "resample":
        return _UNKNOWN
    if geo.kind == "adaptive":
        if call.output_shape[2:] == (1, 1):  # type: ignore[index]
            return _GLOBAL
        if not _is_map(call.input_shape):
            return _UNKNOWN
        size_in, size_out = call.input_shape[2:], call.output_shape[2:]  # type: ignore[index]
        if any(i % o for i, o in zip(size_in, size_out)):
            return _UNKNOWN  # uneven adaptive windows: no single kernel and stride
        k = tuple(i // o for i, o in zip(size_in, size_out))
        geo = LayerGeometry("window", k, k)  # type: ignore[arg-type]
    r = tuple(field.size[a] + (geo.kernel[a] - 1) * geo.dilation[a] * field.jump[a] for a in range(2))
    j = tuple(field.jump[a] * geo.stride[a] for a in range(2))
    return _Field(r, j)  # type: ignore[arg-type]


def receptive_fields(trace: Trace) -> list[tuple[Pair | None, Pair | None, FieldNote]]:
    """``(field, jump, note)`` of every call of ``trace``, ``(h, w)`` pairs (see the module docstring).

    ``note`` is ``''`` when the pairs are set, else ``'global'``, ``'unknown'`` or ``'not a map'``.
    """
    by_tensor: dict[int, _Field] = {trace.input_id: _INPUT}
    outputs: list[tuple[tuple[int, ...], _Field]] = [(trace.input_shape, _INPUT)]

    def resolve(tensor_id: int | None, shape: tuple[int, ...] | None) -> _Field:
        if tensor_id is not None and tensor_id in by_tensor:
            return by_tensor[tensor_id]
        # made by an operation that is not a layer: the largest field among outputs of that shape
        same = [f for s, f in outputs if s == shape and f.note in ("", "global")]
        if any(f.note == "global" for f in same):
            return _GLOBAL
        return max(same, key=_area) if same else _UNKNOWN

    out: list[tuple[Pair | None, Pair | None, FieldNote]] = []
    for call in trace.calls:
        if call.is_leaf:
            field = _apply(resolve(call.input_id, call.input_shape), call)
        elif not _is_map(call.output_shape):
            field = _NOT_A_MAP
        else:  # a container: the field of the tensor it returns
            field = resolve(call.output_id, call.output_shape)
        if call.output_id is not None:
            by_tensor[call.output_id] = field
        if call.output_shape is not None:
            outputs.append((call.output_shape, field))
        out.append((field.size, field.jump, field.note))
    return out


# ---------------------------------------------------------------------------------------- table
@dataclass(frozen=True)
class StructureRow:
    """One layer call of the structure table.

    Attributes:
        name: dotted layer name.
        call: 1 for the layer's first call in the forward pass, 2 for its second, ...
        type_name: the layer's class name.
        is_leaf: whether the layer has no sub-layers.
        output_shape: the output's shape including the batch axis (``None``: not one tensor).
        params: parameters of the layer and its sub-layers.
        trainable: how many of them are trainable.
        geometry: kernel, stride and dilation of a convolution or pooling.
        field: receptive field ``(h, w)`` in input pixels, ``None`` when ``field_note`` says why.
        jump: input pixels between neighbouring output units ``(h, w)``.
        field_note: ``''``, ``'global'`` (the whole input), ``'unknown'`` or ``'not a map'``.
    """

    name: str
    call: int
    type_name: str
    is_leaf: bool
    output_shape: tuple[int, ...] | None
    params: int
    trainable: int
    geometry: LayerGeometry | None
    field: Pair | None
    jump: Pair | None
    field_note: FieldNote

    @property
    def label(self) -> str:
        """The name, with the call number from the second call on (``'pool [2]'``)."""
        return self.name if self.call == 1 else f"{self.name} [{self.call}]"

    def cells(self) -> list[str]:
        """The row as text cells, in the order of :data:`COLUMNS`."""
        shape = "x".join(map(str, self.output_shape[1:])) if self.output_shape else "-"
        if self.field_note == "":
            field, jump = _pair(self.field, "x"), _pair(self.jump, "x")
        else:
            field, jump = {"global": "global", "unknown": "?", "not a map": "-"}[self.field_note], "-"
        geo = self.geometry.label() if self.geometry is not None else ""
        return [self.label, self.type_name, shape, f"{self.params:,}", geo, field, jump]


#: Column headers of the structure table.
COLUMNS = ("layer", "type", "output (C x H x W)", "params", "kernel/stride", "receptive field", "jump")


def _pair(p: Pair | None, sep: str) -> str:
    if p is None:
        return "-"
    return str(p[0]) if p[0] == p[1] else f"{p[0]}{sep}{p[1]}"


@dataclass(frozen=True)
class ModelStructure:
    """Every layer call of one forward pass with output shape, parameters and receptive field.

    Build it with ``model_structure`` of ``visualization.pytorch.structure`` or
    ``visualization.paddle.structure``; :meth:`to_text`, :meth:`to_markdown` and :meth:`to_html`
    (or :func:`structure_html`) render it. See the module docstring for the receptive-field rules.

    Attributes:
        framework: ``'torch'`` or ``'paddle'``.
        model_type: the model's class name.
        input_shape: the traced input's shape ``(N, C, H, W)``.
        rows: one :class:`StructureRow` per sub-layer call, in the order the calls finished (so a
            container follows its children).
        total_params: parameters of the whole model (each shared parameter once).
        trainable_params: how many of them are trainable.
    """

    framework: str
    model_type: str
    input_shape: tuple[int, ...]
    rows: tuple[StructureRow, ...]
    total_params: int
    trainable_params: int

    @property
    def repeated(self) -> list[str]:
        """Layers that ran more than once in the forward pass (shared modules)."""
        return list(dict.fromkeys(r.name for r in self.rows if r.call > 1))

    def row(self, name: str, call: int = 1) -> StructureRow:
        """The row of layer ``name`` (its ``call``-th call)."""
        for r in self.rows:
            if r.name == name and r.call == call:
                return r
        raise KeyError(f"no call {call} of layer {name!r} in the trace; layers: {[r.name for r in self.rows][:40]}")

    def select(self, spatial_only: bool = False) -> list[StructureRow]:
        """The rows, or only those whose output is a ``(N, C, h, w)`` map."""
        return [r for r in self.rows if not spatial_only or _is_map(r.output_shape)]

    def summary(self) -> str:
        """One line: model, input and parameter totals."""
        shape = "x".join(map(str, self.input_shape[1:]))
        return (
            f"{self.model_type} ({self.framework}), input {shape}: {self.total_params:,} parameters "
            f"({self.trainable_params:,} trainable)"
        )

    def to_text(self, spatial_only: bool = False) -> str:
        """A plain-text table (numbers right-aligned) followed by the summary line."""
        rows = [list(COLUMNS)] + [r.cells() for r in self.select(spatial_only)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        right = {3, 5, 6}
        lines = [
            "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows
        ]
        return "\n".join([*lines, "", self.summary()])

    def to_markdown(self, spatial_only: bool = False) -> str:
        """A Markdown table (TensorBoard's text dashboard renders it) and the summary line."""

        def esc(text: str) -> str:
            return text.replace("|", "\\|")

        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(esc(c) for c in r.cells()) + " |" for r in self.select(spatial_only)]
        return "\n".join([*lines, "", esc(self.summary())])

    def to_html(self, spatial_only: bool = False) -> str:
        """An HTML fragment (see :func:`structure_html`)."""
        return structure_html(self, spatial_only=spatial_only)


def structure_html(structure: ModelStructure, spatial_only: bool = False) -> str:
    """The structure as an HTML ``<table>`` fragment (every cell escaped) with the summary as caption.

    Classes follow the report's style sheet (``td.num`` right-aligns numbers); containers are set in
    italics so the leaf layers stand out.

    >>> from visualization.core.structure import ModelStructure, StructureRow, LayerGeometry
    >>> row = StructureRow("conv1", 1, "Conv2d", True, (1, 8, 30, 30), 224, 224,
    ...                    LayerGeometry("window", (3, 3), (1, 1)), (3, 3), (1, 1), "")
    >>> s = ModelStructure("torch", "Net<1>", (1, 3, 32, 32), (row,), 224, 224)
    >>> page = structure_html(s)
    >>> "Net&lt;1&gt;" in page, "<td>3x3/1</td>" in page
    (True, True)
    """
    numeric = {3, 5, 6}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for r in structure.select(spatial_only):
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i in numeric else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(r.cells())
        )
        style = "" if r.is_leaf else ' style="font-style:italic;color:#555"'
        body.append(f"<tr{style}>{cells}</tr>")
    caption = html.escape(structure.summary())
    return (
        f'<table class="structure"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _subtree_counts(counts: dict[str, tuple[int, int]], name: str) -> tuple[int, int]:
    prefix = name + "."
    total = trainable = 0
    for n, (p, t) in counts.items():
        if n == name or n.startswith(prefix):
            total, trainable = total + p, trainable + t
    return total, trainable


def model_structure(backend: Backend, facts: ModelFacts, model: Any, x: Any = (3, 224, 224)) -> ModelStructure:
    """Trace ``model`` once and build its :class:`ModelStructure` (framework entry points bind ``backend``
    and ``facts``). ``x`` is an input batch (a tensor) or the shape ``(C, H, W)`` of one zero image."""
    backend.check_model(model)
    if isinstance(x, tuple | list) and len(x) == 3 and all(isinstance(v, int | np.integer) for v in x):
        if min(x) < 1:
            raise ValueError(f"the input shape (C, H, W) must be positive; got {tuple(x)}.")
        x = backend.user_tensor(model, np.zeros((1, *map(int, x)), np.float32))
    xt = backend.prepare_input(model, x)
    trace = facts.trace(model, xt)
    counts = facts.parameter_counts(model)
    fields = receptive_fields(trace)
    seen: dict[str, int] = {}
    rows = []
    for call, (field, jump, note) in zip(trace.calls, fields):
        seen[call.name] = seen.get(call.name, 0) + 1
        params, trainable = _subtree_counts(counts, call.name)
        rows.append(
            StructureRow(
                call.name,
                seen[call.name],
                call.type_name,
                call.is_leaf,
                call.output_shape,
                params,
                trainable,
                call.geometry,
                field,
                jump,
                note,
            )
        )
    total = sum(p for p, _ in counts.values())
    trainable = sum(t for _, t in counts.values())
    return ModelStructure(facts.name, type(model).__name__, trace.input_shape, tuple(rows), total, trainable)
