"""Fine-tuning objectives: what a run trains with after its selection."""
from __future__ import annotations

from dataclasses import dataclass

from ._resolve import lookup, resolve


@dataclass(frozen=True)
class Objective:
    name: str
    description: str
    section: str            # finetune.<section>: its iterations and learning rate
    config: tuple[str, ...]  # the config sections its loss terms read (rerun triggers)
    step: str               # "module:function" building its training step: f(ctx, *, target_anchors, pseudo_labels)
    # what a multi-round chain carries from round r-1 to round r besides the labelled masks
    carries: tuple[str, ...] = ("model weights",)
    # semi-supervised objectives start from the stage-1 model of the same selection and read its
    # k-means target anchors and pseudo-labels; they take one round of image-level selections
    starts_from: str | None = None
    image_level_only: bool = False

    def step_builder(self):
        return resolve(self.step)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in [
    Objective("stage1", "MADA stage 1: CE(source) + CE(active) (eq. 6)", "stage1", (),
              "adaseg.train.mada:stage1_step"),
    Objective("stage2", "MADA stage 2: + CE(pseudo-labels) + soft anchor alignment with EMA anchors",
              "stage2", ("mada", "features"), "adaseg.train.mada:stage2_step",
              carries=(), starts_from="stage1", image_level_only=True),
    Objective("madav2", "MADAv2 step 3: teacher consistency (OHEM, ACM, ACP) + soft anchor alignment (eq. 15)",
              "stage2", ("mada", "madav2", "features"), "adaseg.train.madav2:madav2_step",
              carries=(), starts_from="stage1", image_level_only=True),
    Objective("ripu", "RIPU: CE(source) + CE(active) + local consistency (eq. 9) + negative learning (eq. 11)",
              "stage1", ("ripu",), "adaseg.train.ripu:ripu_step"),
    Objective("mcu", "ADA-MCU: CE + CE(low-uncertainty pseudo-labels) + multi-level contrastive units",
              "stage1", ("mcu",), "adaseg.train.mcu:mcu_step"),
]}


def objective(name: str) -> Objective:
    """The objective `name` (a variant after '+' is ignored), or an error listing the known ones."""
    return lookup(OBJECTIVES, name.partition("+")[0], "fine-tuning objective", "src/adaseg/registry/objectives.py")
