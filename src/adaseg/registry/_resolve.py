"""Import the function a registry entry names as "module:function" (only when it runs)."""
from __future__ import annotations

import importlib


def resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
