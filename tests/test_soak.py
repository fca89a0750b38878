"""A short soak (``bench.soak`` records the long one): every gradient CAM called repeatedly in both frameworks,
one call in ten raising inside ``forward``: no hook is left on any module, every failure reaches the caller,
and resident memory stays flat. Wall time is recorded by the script, never asserted here."""

from __future__ import annotations

import pytest

from bench.soak import METHODS, soak


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_short_soak_leaves_no_hook_and_no_memory(framework):
    for method in METHODS:
        row = soak(framework, method, calls=60, fail_every=10, window=10, warmup=5)
        assert row["failures"] == 6, (method, row)
        assert row["hooks"] == 0, (method, row)
        assert row["rss1"] <= row["rss0"] * 1.05, (method, row)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_hook_count_sees_a_left_hook(framework):
    from bench.soak import hooks_left, tiny_model

    model = tiny_model(framework)
    register = model.conv2.register_forward_hook if framework == "torch" else model.conv2.register_forward_post_hook
    handle = register(lambda *args: None)
    assert hooks_left(framework, model) == 1
    handle.remove()
    assert hooks_left(framework, model) == 0
