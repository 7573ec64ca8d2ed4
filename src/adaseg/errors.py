"""The errors adaseg raises for bad inputs, one type per kind of failure.

Each message is one line that names the file (or config key) at fault, what is wrong with it and
what to do. `adaseg` (src/adaseg/cli.py) prints such an error as that one line and exits with code
2; `adaseg --debug ...` shows the traceback instead. Anything else that goes wrong is a bug and
keeps its traceback.
"""
from __future__ import annotations


class AdasegError(Exception):
    """A bad input, reported as one line naming the file or key, the problem and the fix."""

    exit_code = 2


class ConfigError(AdasegError, ValueError):
    """A config value or key the pipeline refuses (unknown key, out-of-range value, bad variant)."""


class DatasetError(AdasegError):
    """A dataset folder, image or label file that cannot be read as its layout says."""


class InputFileError(AdasegError, ValueError):
    """A file written by an earlier stage (HDF5 dump, masks, selection list, anchors) that is
    missing, truncated, of another kind or inconsistent with the images it should describe."""


class CheckpointError(InputFileError):
    """A checkpoint that is missing, truncated, not written by adaseg or without its meta."""


class BudgetError(AdasegError, ValueError):
    """A selection budget that cannot be met as asked (over the pool, more than is left, 0 units)."""


class TrainingDivergedError(AdasegError):
    """A training stage whose loss became NaN or infinite: no checkpoint is written (a model with
    non-finite weights must never reach an evaluation or a table)."""
