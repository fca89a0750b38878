"""Shared test set-up: a headless matplotlib backend and no figure left open between tests."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

# Paddle must be loaded before TensorFlow in one process (the other order crashes in Paddle's library);
# the Keras tests import tensorflow, so paddle comes first whatever order the test modules load in.
import paddle  # noqa: F401

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def pytest_sessionfinish(session, exitstatus):
    """Under CNNVIS_STRICT=1 (CI) a skipped test is a failure: a missing framework must not pass quietly."""
    if os.environ.get("CNNVIS_STRICT") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CNNVIS_STRICT=1: {len(skipped)} test(s) skipped; every test must run in CI.", red=True)
        session.exitstatus = 1
