"""Shared helpers of the registry: look an entry up by name, import the function it names."""
from __future__ import annotations

import importlib


def lookup(entries: dict, name: str, kind: str, module_file: str):
    """`entries[name]`, or a ValueError naming the kind, the known names and the file that lists them."""
    if name not in entries:
        raise ValueError(f"unknown {kind} '{name}' (known: {', '.join(entries)}; {module_file})")
    return entries[name]


def resolve(target: str):
    """The function a "module:function" string names (imported only now)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
