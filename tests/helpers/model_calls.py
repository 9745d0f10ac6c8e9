"""Recording every model call of the recipe (the text towers, Stage C, Stage B, Stage A), in order, from any
thread; a call can be held until the test lets it go."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

# The class and method of each model call, by the stage name the log uses.
MODEL_CALLS = {
    "text": ("transformers", "CLIPTextModel", "forward"),
    "prior": ("wuerstchen_desktop.core.models", "StageC", "forward"),
    "decoder": ("wuerstchen_desktop.core.models", "StageB", "forward"),
    "vqgan": ("wuerstchen_desktop.core.models", "StageA", "decode"),
}


class CallLog:
    """``log``: the stage names of the calls made, in order; ``hold(stage)`` makes that stage's next call
    wait inside the model until ``release()``, with ``entered`` set while it waits."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._held: str | None = None
        self._lock = threading.Lock()

    def hold(self, stage: str) -> None:
        self._held = stage

    def release(self) -> None:
        self._gate.set()

    def note(self, name: str) -> None:
        with self._lock:
            self.log.append(name)

    def count(self, stage: str) -> int:
        return self.log.count(stage)

    def _wrap(self, stage: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(model: Any, *args: Any, **kwargs: Any) -> Any:
            self.note(stage)
            if self._held == stage:
                self._held = None
                self.entered.set()
                assert self._gate.wait(600), "the held model call was never released"
            return method(model, *args, **kwargs)

        return call

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CallLog:
        import importlib

        for stage, (module, cls_name, attr) in MODEL_CALLS.items():
            cls = getattr(importlib.import_module(module), cls_name)
            monkeypatch.setattr(cls, attr, self._wrap(stage, getattr(cls, attr)))
        return self
