"""Issue 18 (item 1): any tensor layout works at every entry point, in both frameworks.

The README's recipe ``torch.from_numpy(img.transpose(2, 0, 1))[None]`` gives a channels-last strided
tensor; ``x.contiguous(memory_format=torch.channels_last)``, a permuted NHWC batch and a strided slice
are others. The models of :mod:`tests._entry_points` call ``view`` on their input and on a convolution's
output, so such a layout reaching them fails. Every entry point must give exactly what it gives for a
plain contiguous copy of the same values, and leave the caller's tensor (values and strides) as it was.
Paddle: ``paddle.to_tensor`` of a transposed numpy array is contiguous already; a ``transpose`` or a
strided slice of a Paddle tensor is a strided view and is tested the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import paddle
import pytest
import torch

from ._entry_points import SIZE, entry_points, view_models

RNG = np.random.default_rng(11)
NHWC = RNG.standard_normal((2, SIZE, SIZE, 3)).astype(np.float32)
BIG = RNG.standard_normal((2, 3, 2 * SIZE, 2 * SIZE)).astype(np.float32)

TORCH_LAYOUTS: dict[str, Callable[[], torch.Tensor]] = {
    "readme_recipe": lambda: torch.from_numpy(NHWC[0].transpose(2, 0, 1))[None],  # one image, strides (768, 1, 48, 3)
    "channels_last": lambda: torch.from_numpy(NHWC.transpose(0, 3, 1, 2).copy()).contiguous(
        memory_format=torch.channels_last
    ),
    "permuted_nhwc_batch": lambda: torch.from_numpy(NHWC).permute(0, 3, 1, 2),
    "strided_slice": lambda: torch.from_numpy(BIG)[:, :, ::2, ::2],
}
PADDLE_LAYOUTS: dict[str, Callable[[], paddle.Tensor]] = {
    "readme_recipe": lambda: paddle.to_tensor(NHWC[0].transpose(2, 0, 1)).unsqueeze(0),
    "transposed_view": lambda: paddle.to_tensor(NHWC).transpose([0, 3, 1, 2]),
    "strided_slice": lambda: paddle.to_tensor(BIG)[:, :, ::2, ::2],
}
ENTRIES = {"torch": entry_points("torch"), "paddle": entry_points("paddle")}
CASES = [(fw, name) for fw in ("torch", "paddle") for name in ENTRIES[fw]]


def _layouts(framework: str) -> dict[str, Callable[[], object]]:
    return TORCH_LAYOUTS if framework == "torch" else PADDLE_LAYOUTS


def _numpy(x) -> np.ndarray:
    return x.numpy().copy()


def _contiguous_twin(framework: str, x):
    values = np.ascontiguousarray(_numpy(x))
    return torch.from_numpy(values) if framework == "torch" else paddle.to_tensor(values)


def _strides(x) -> tuple[int, ...]:
    return tuple(x.stride()) if isinstance(x, torch.Tensor) else tuple(x.strides)


def test_the_layouts_are_what_they_claim_and_break_a_view_model() -> None:
    recipe = TORCH_LAYOUTS["readme_recipe"]()
    assert recipe.stride()[1:] == (1, SIZE * 3, 3) and recipe.is_contiguous(memory_format=torch.channels_last)
    assert TORCH_LAYOUTS["channels_last"]().is_contiguous(memory_format=torch.channels_last)
    torch_model, paddle_model = view_models("torch").cnn, view_models("paddle").cnn
    for name in ("channels_last", "permuted_nhwc_batch", "strided_slice"):
        x = TORCH_LAYOUTS[name]()
        assert not x.is_contiguous()
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            torch_model(x)
    for name in ("transposed_view", "strided_slice"):
        x = PADDLE_LAYOUTS[name]()
        assert not x.is_contiguous()
        with pytest.raises(ValueError, match="can not be viewed"):
            paddle_model(x)
    assert PADDLE_LAYOUTS["readme_recipe"]().is_contiguous()  # to_tensor copies a transposed array


@pytest.mark.parametrize("framework,entry", CASES)
def test_every_entry_point_accepts_every_layout(framework: str, entry: str) -> None:
    models = view_models(framework)
    call = ENTRIES[framework][entry]
    for layout, make in _layouts(framework).items():
        x = make()
        values, strides = _numpy(x), _strides(x)
        got = np.asarray(call(models, x))
        expected = np.asarray(call(models, _contiguous_twin(framework, x)))
        np.testing.assert_array_equal(got, expected, err_msg=f"{entry} on {layout}")
        assert np.isfinite(got).all()
        # the caller's tensor is left as found: same values, same layout
        np.testing.assert_array_equal(_numpy(x), values)
        assert _strides(x) == strides, layout
