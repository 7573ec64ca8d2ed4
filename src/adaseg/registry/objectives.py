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
    # the fine-tuning protocol of the objective's official code, used where the config says
    # `objective` (finetune.bn, multi_round.schedule, multi_round.round_shares, the defaults):
    # bn: joint (one forward of source + target), per_domain (one forward per stream part: each
    # its own batch-norm statistics) or frozen (batch norm in eval mode, affine weights fixed)
    bn: str = "joint"
    # schedule of a multi-round chain: None = split (one poly schedule over the rounds) or restart
    # (every round a fresh, full schedule)
    schedule: str | None = None
    # round_shares: equal (each round 1/R of the split schedule) or ripu (the shares of RIPU's
    # selection iterations; adaseg.train.common.round_iterations)
    round_shares: str = "equal"

    def step_builder(self):
        return resolve(self.step)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in [
    # MADA forwards the active, source (and in stage 2 unlabelled target) batches in separate passes
    # (munanning/MADA models/adaptation_model.py:160-180, 182-198)
    Objective("stage1", "MADA stage 1: CE(source) + CE(active) (eq. 6)", "stage1", (),
              "adaseg.train.mada:stage1_step", bn="per_domain"),
    Objective("stage2", "MADA stage 2: + CE(pseudo-labels) + soft anchor alignment with EMA anchors",
              "stage2", ("mada", "features"), "adaseg.train.mada:stage2_step",
              carries=(), starts_from="stage1", image_level_only=True, bn="per_domain"),
    # MADAv2 step 3: separate passes of the supervised, strong unlabelled and weak unlabelled images
    # (munanning/MADAv2 models/adaptation_model_AEL.py:239, 319, 375)
    Objective("madav2", "MADAv2 step 3: teacher consistency (OHEM, ACM, ACP) + soft anchor alignment (eq. 15)",
              "stage2", ("mada", "madav2", "features"), "adaseg.train.madav2:madav2_step",
              carries=(), starts_from="stage1", image_level_only=True, bn="per_domain"),
    # RIPU: MODEL.FREEZE_BN: True in every config (BIT-DA/RIPU configs/gtav/deeplabv2_r101_RA.yaml:4)
    # builds FrozenBatchNorm2d, statistics and affine weights as buffers (core/models/build.py:19-21,
    # core/models/layers.py:5-23); the 5 selections at fixed iterations of one run
    # (configs/gtav/deeplabv2_r101_RA.yaml:16-25, train.py:184-200)
    Objective("ripu", "RIPU: CE(source) + CE(active) + local consistency (eq. 9) + negative learning (eq. 11)",
              "stage1", ("ripu",), "adaseg.train.ripu:ripu_step", bn="frozen", round_shares="ripu"),
    # ADA-MCU: no official code; one joint forward
    Objective("mcu", "ADA-MCU: CE + CE(low-uncertainty pseudo-labels) + multi-level contrastive units",
              "stage1", ("mcu",), "adaseg.train.mcu:mcu_step"),
    # D2ADA: every round a new trainer, fresh SGD and poly restarted over finetune_itrs, from the
    # previous round's checkpoint (tsunghan-wu/D2ADA train_ADA.py:40-42, 58-68, agent/base_agent.py:32-42);
    # --freeze_bn on by default (utils/common.py:112-114): BN eval, weight/bias requires_grad False
    # (models/__init__.py:11-18, agent/base_agent.py:66-69)
    Objective("d2ada", "D2ADA's official protocol: stage-1 loss CE(source) + CE(active), frozen batch norm, "
              "a full poly schedule restarted every round", "stage1", (), "adaseg.train.mada:stage1_step",
              bn="frozen", schedule="restart"),
]}


def objective(name: str) -> Objective:
    """The objective `name` (a variant after '+' is ignored), or an error listing the known ones."""
    return lookup(OBJECTIVES, name.partition("+")[0], "fine-tuning objective", "src/adaseg/registry/objectives.py")
