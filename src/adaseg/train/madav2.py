"""MADAv2's fine-tuning objective (Ning et al., TPAMI, Sec. 3.3 step 3), as a step builder for
train/finetune.py: teacher consistency with OHEM, adaptive cutmix (ACM) and adaptive copy-paste
(ACP) plus MADA's soft anchor alignment. Its tensor-level losses and augmentations are in
train/losses.py, the anchor loss and EMA in train/mada.py.

Where the official code (munanning/MADAv2 models/adaptation_model_AEL.py, step2_train_active_semi_sup.py)
departs from adaseg's earlier reading of the paper, a `madav2` key switches between the two; the
defaults follow the official code:
- source (false): step 3 trains on no source data (step2_train_active_semi_sup.py:117-119 leaves
  the source loader out). false drops the source stream from the run.
- ohem_on (supervised): OHEM (thresh 0.7, min_kept 100,000) is the criterion of the supervised loss
  on the (ACP'd) active batch (adaptation_model_AEL.py:122, 243; loss/loss.py:8-16); the
  consistency terms use their own criterion (adaptation_model_AEL.py:130, 337-371). consistency:
  plain CE on source + active, OHEM on both consistency terms (adaseg before).
- acm_box (class_component): the cut box is the bounding box of a randomly chosen connected
  component of a sampled class in the donor's teacher prediction (models/utils.py:85-182; skimage
  `label`, 8-connected in 2-D) with more than acm_min_area x h^2 pixels, else a random box. random:
  a random box of cutmix_area (adaseg before).
- acp_exclude (road, sidewalk, building, vegetation, sky): classes ACP never pastes
  (adaptation_model_AEL.py:154-156, trainIds 0, 1, 2, 8, 10); [] = any class (adaseg before).
- anchor_start (0.25): the anchor loss (weight 0.1) starts after a quarter of the iterations
  (`if epoch > 50` of 200 epochs, adaptation_model_AEL.py:373); 0 = from the start.
- anchor_on (unmixed): the anchor loss sees the un-mixed unlabelled images (a forward of
  images_unsup_weak, adaptation_model_AEL.py:375); mixed: the ACM-mixed ones (adaseg before).

Class weights: the official code never updates its class criterion. It is `torch.rand` at
construction (adaptation_model_AEL.py:135-137), and the momentum update at :333-336 writes to a
local variable, so the ACM/ACP class sampling runs on fixed random numbers. adaseg follows the
paper's eqs. 10-11 instead: Softmax(1 - Conf_c) of the stage-1 model's pseudo-label confidences.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..data.labels import IGNORE, LABEL_SPACES
from ..data.loader import BatchStream
from ..features import effective_min_pixels
from ..io import open_h5, read_ids
from ..models import upsample
from .common import gather_rows, seg_ce
from .finetune import FinetuneContext, image_level_only, load_anchors, unlabelled_target
from .losses import (class_sampling_weights, copy_paste, cutmix, cutmix_donor_probability, ohem_cross_entropy,
                     pick_paste_classes, random_box)
from .mada import anchor_vectors, ema_update_anchors, soft_alignment_loss

OHEM_PLACES = ("supervised", "consistency")
ACM_BOXES = ("class_component", "random")
ANCHOR_INPUTS = ("unmixed", "mixed")


def _batch_rng(seed: int, stream: int, it: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, it])


def class_component_box(pred: np.ndarray, cls: int, min_area: float,
                        rng: np.random.Generator) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), end-exclusive, of the bounding box of one connected component of class
    `cls` in the (H, W) label map `pred`: the components (8-connected, as skimage.measure.label in
    2-D) are visited in random order and the first with more than min_area x H^2 pixels is taken
    (munanning/MADAv2 models/utils.py:155-171; the official area is h^2, h the crop height).
    None when no component is large enough (the official code then cuts a random box, :180-181)."""
    comp, n = ndimage.label(np.asarray(pred) == cls, structure=np.ones((3, 3), dtype=int))
    if n == 0:
        return None
    sizes = np.bincount(comp.ravel(), minlength=n + 1)[1:]
    boxes = ndimage.find_objects(comp)
    h = pred.shape[0]
    for i in rng.permutation(n):
        if sizes[i] > min_area * h * h:
            ys, xs = boxes[i]
            return int(ys.start), int(ys.stop), int(xs.start), int(xs.stop)
    return None


def sample_box_class(pred: np.ndarray, class_weights: np.ndarray, rng: np.random.Generator) -> int | None:
    """The class whose component ACM cuts from a donor: one of the classes of the donor's teacher
    prediction, drawn with probability proportional to its eq. 11 weight (uniformly when they all
    weigh 0). The official code draws the class first and then a donor that has it
    (utils/utils.py:52-65); adaseg draws the donor by eq. 11, then the class among its own."""
    present = [int(c) for c in np.unique(pred) if c != IGNORE and c < len(class_weights)]
    if not present:
        return None
    w = np.asarray([class_weights[c] for c in present], dtype=np.float64)
    p = w / w.sum() if w.sum() > 0 else None
    return int(rng.choice(present, p=p))


def acm_box(pred: np.ndarray, class_weights: np.ndarray, mode: str, area: float, min_area: float,
            rng: np.random.Generator) -> tuple[int, int, int, int]:
    """The ACM cut box of a donor with teacher prediction `pred` (H, W): `madav2.acm_box`
    class_component (see class_component_box; a random box of `area` when no class or component
    fits) or random (a random box of `area`)."""
    if mode == "class_component":
        cls = sample_box_class(pred, class_weights, rng)
        box = class_component_box(pred, cls, min_area, rng) if cls is not None else None
        if box is not None:
            return box
    return random_box(*pred.shape[-2:], area, rng)


def anchor_loss_on(it: int, start: float, iterations: int, offset: int = 0) -> bool:
    """Whether the anchor loss counts at iteration `it` (0-based, of this run's part of a schedule
    that starts at `offset` and lasts `iterations`): from start x iterations on (`madav2.anchor_start`;
    the official `epoch > 50` of 200 epochs, munanning/MADAv2 models/adaptation_model_AEL.py:373)."""
    return offset + it >= start * iterations


def excluded_class_ids(names, label_space: str) -> list[int]:
    """trainIds of the class names `madav2.acp_exclude` in the label space (names it lacks are skipped)."""
    classes = LABEL_SPACES.get(label_space, ())
    return [classes.index(n) for n in names if n in classes]


def madav2_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """MADAv2 eq. 15: L_seg (eq. 6) + w_cons * L_cons (eq. 13) + w_dis * L_dis (eq. 14).

    The teacher is the stage-1 model (frozen; `teacher_ema` > 0 makes it an EMA of the student). Its
    argmax labels the unlabelled batch, which ACM (eq. 9) mixes with a box of a donor image drawn
    by eq. 11 from the class confidences (eq. 10) of the stage-1 pseudo-labels; ACP (eq. 12)
    pastes the pixels of drawn (tail) classes of one active image onto the next. Ablation switches:
    consistency_weight, ohem, acm, acp, anchor_weight (MADAv2 Table 2, B..E); the official-code
    switches source, ohem_on, acm_box, acp_exclude, anchor_start, anchor_on are in the module
    docstring. The class weights of ACM and ACP are the paper's eqs. 10-11, not the official
    code's never-updated `torch.rand` class criterion (adaptation_model_AEL.py:135-137, 333-336).

    ohem_on = supervised: L_seg = [CE(source)] + OHEM(active, ACP'd when ACP is on); L_cons = CE of
    the (ACM-mixed) unlabelled batch on the teacher's labels. ohem_on = consistency: L_seg =
    [CE(source)] + CE(active); L_cons = OHEM(ACP'd active, or the plain active batch without ACP) +
    OHEM(unlabelled), as adaseg ran it."""
    image_level_only(ctx, "MADAv2")
    m2, mada = ctx.cfg["madav2"], ctx.cfg["mada"]
    model, tgt, rt = ctx.model, ctx.target, ctx.rt
    w_cons, w_dis = float(m2["consistency_weight"]), float(m2["anchor_weight"])
    use_ohem, use_acm, use_acp = bool(m2["ohem"]), bool(m2["acm"]), bool(m2["acp"])
    teacher_ema, area = float(m2["teacher_ema"]), float(m2["cutmix_area"])
    use_source = bool(m2.get("source", False))
    ohem_on = str(m2.get("ohem_on", "supervised"))
    box_mode = str(m2.get("acm_box", "class_component"))
    min_area = float(m2.get("acm_min_area", 0.005))
    anchor_start = float(m2.get("anchor_start", 0.25))
    anchor_on = str(m2.get("anchor_on", "unmixed"))
    anchor_mode = str(mada.get("anchor_loss", "batch_scaled"))
    for key, value, allowed in (("ohem_on", ohem_on, OHEM_PLACES), ("acm_box", box_mode, ACM_BOXES),
                                ("anchor_on", anchor_on, ANCHOR_INPUTS)):
        if value not in allowed:
            raise ValueError(f"madav2.{key} must be one of {allowed}, not {value!r}")
    exclude = excluded_class_ids(m2.get("acp_exclude", ()), ctx.label_space)
    if not use_source:  # official step 3 reads no source images: their stream is not even loaded
        ctx.streams.pop("source", None)
    anchors = load_anchors(ctx, target_anchors) if w_dis > 0 else None
    unlabelled = unlabelled_target(ctx)
    class_w = np.zeros(ctx.ncls)
    if w_cons > 0 and (use_acm or use_acp):
        if not pseudo_labels:
            raise ValueError("MADAv2 ACM/ACP need --pseudo-labels (class confidences of the stage-1 model, eq. 10)")
        with open_h5(pseudo_labels, "pseudo-label file", need=("ids", "log_conf_count", "log_conf_sum", "classes")) as h5:
            row = {s: r for r, s in enumerate(read_ids(h5))}
            count = h5["log_conf_count"][:]
            conf = h5["log_conf_sum"][:] / np.maximum(count, 1)
            classes = h5["classes"][:]
        class_w = class_sampling_weights(conf, count > 0)                                   # eq. 11
        r = cutmix_donor_probability(classes[[row[tgt.ids[i]] for i in unlabelled]], class_w)  # eq. 11
        donors = np.random.default_rng([ctx.seed, 13]).choice(unlabelled, size=len(unlabelled), p=r)
        if use_acm:
            ctx.streams["donor"] = BatchStream(tgt, donors, ctx.bs, ctx.seed, 13, **ctx.aug)
    paste_w = class_w.copy()
    paste_w[[c for c in exclude if c < len(paste_w)]] = 0.0                             # ACP's excluded classes
    use_unl = w_cons > 0 or w_dis > 0
    if use_unl:
        ctx.streams["unlabelled"] = BatchStream(tgt, unlabelled, ctx.bs, ctx.seed, 12, **ctx.aug)
    teacher = None
    if w_cons > 0:
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        if teacher_ema > 0:  # an EMA teacher changes, so checkpoints carry it; a frozen one is the init
            ctx.state["teacher"] = teacher
    aux_w = ctx.aux_w

    def ohem(o: dict, y: torch.Tensor, part: slice) -> torch.Tensor:
        # min_kept = ohem_keep_fraction x the pixels of the batch part (official: 100,000 of 4 x 896x512)
        keep = round(float(m2["ohem_keep_fraction"]) * y[part].numel())
        return ohem_cross_entropy(upsample(o["logits"][part], y.shape[-2:]), y[part], float(m2["ohem_thresh"]), keep)

    def supervised_loss(o: dict, y: torch.Tensor, part: slice) -> torch.Tensor:
        if use_ohem and ohem_on == "supervised":
            loss = ohem(o, y, part)
            if aux_w > 0 and "aux" in o:
                loss = loss + aux_w * F.cross_entropy(upsample(o["aux"][part], y.shape[-2:]), y[part],
                                                      ignore_index=IGNORE)
            return loss
        return seg_ce(o, y, aux_w, part)

    def cons_loss(o: dict, y: torch.Tensor, part: slice) -> torch.Tensor:
        if use_ohem and ohem_on == "consistency":
            return ohem(o, y, part)
        return F.cross_entropy(upsample(o["logits"][part], y.shape[-2:]), y[part], ignore_index=IGNORE)

    def step(it: int, b: dict) -> dict:
        bs = ctx.local_bs
        xa, ya = b["active"]
        rng = _batch_rng(ctx.seed, 14, it)
        with_anchor = anchors is not None and anchor_loss_on(it, anchor_start, ctx.schedule_total or ctx.iters,
                                                             ctx.schedule_offset)
        parts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (images, labels), in forward order
        if use_source:
            parts["source"] = b["source"]
        pasted = None
        if w_cons > 0 and use_acp:
            pasted = [copy_paste(xa[j], ya[j], xa[(j + 1) % len(xa)], ya[(j + 1) % len(xa)],
                                 pick_paste_classes(ya[(j + 1) % len(xa)], paste_w, int(m2["acp_classes"]), rng))
                      for j in range(len(xa))]                                               # eq. 12
            pasted = (torch.stack([p[0] for p in pasted]), torch.stack([p[1] for p in pasted]))
        if ohem_on == "supervised":
            parts["active"] = pasted if pasted is not None else (xa, ya)
        else:
            parts["active"] = (xa, ya)
            if pasted is not None:
                parts["pasted"] = pasted
        xu_plain = None
        if w_cons > 0:
            xu = xu_plain = b["unlabelled"][0]
            with torch.no_grad():
                yu = teacher(rt.inputs(xu))["logits"]
                yu = upsample(yu, xu.shape[-2:]).argmax(1).cpu()
                if use_acm:
                    xd = b["donor"][0]
                    yd = upsample(teacher(rt.inputs(xd))["logits"], xd.shape[-2:]).argmax(1).cpu()
                    mixed = [cutmix(xu[j], yu[j], xd[j], yd[j],
                                    acm_box(yd[j].numpy(), class_w, box_mode, area, min_area, rng))
                             for j in range(len(xu))]                                    # eq. 9
                    xu, yu = torch.stack([m[0] for m in mixed]), torch.stack([m[1] for m in mixed])
            parts["unlabelled"] = (xu, yu)
            if with_anchor and anchor_on == "unmixed" and use_acm:
                parts["anchor"] = (xu_plain, torch.full_like(yu, IGNORE))
        elif with_anchor:  # the anchor loss alone: unlabelled images without labels
            xu, yu = b["unlabelled"]
            parts["anchor"] = (xu, torch.full_like(yu, IGNORE))
        ctx.poly(it)
        o, y = ctx.forward([x for x, _ in parts.values()], [lab for _, lab in parts.values()])
        rows = {name: slice(i * bs, (i + 1) * bs) for i, name in enumerate(parts)}
        logs = {}
        loss = supervised_loss(o, y, rows["active"])                                           # eq. 6
        logs["ce_active"] = loss.item()
        if use_source:
            ce_s = seg_ce(o, y, aux_w, rows["source"])
            loss = loss + ce_s
            logs["ce_src"] = ce_s.item()
        if w_cons > 0:
            l_cons = cons_loss(o, y, rows["unlabelled"])
            if ohem_on == "consistency":  # adaseg before: also on the ACP'd (or, without ACP, the plain) active batch
                l_cons = l_cons + cons_loss(o, y, rows.get("pasted", rows["active"]))
            loss = loss + w_cons * l_cons                                                     # eq. 13
            logs["cons"] = l_cons.item()
        vec = None
        if with_anchor:
            part = rows.get("anchor", rows.get("unlabelled"))
            min_px = effective_min_pixels(ctx.cfg, o["features"].shape[-2:])   # features.min_pixels at this map
            vec = anchor_vectors(o["features"][part], o["logits"][part], ctx.ncls, min_px, anchor_mode)
            l_dis = soft_alignment_loss(vec, anchors).mean()                                  # eq. 14
            loss = loss + w_dis * l_dis
            logs["anchor"] = l_dis.item()
        ctx.descend(loss)
        if vec is not None and mada["ema"]:
            ema_update_anchors(anchors, gather_rows(vec.detach()), float(mada["ema_alpha"]))  # eq. 8
        if teacher is not None and teacher_ema > 0:
            with torch.no_grad():
                for pt, ps in zip(teacher.parameters(), model.parameters()):
                    pt.mul_(teacher_ema).add_(ps.detach(), alpha=1 - teacher_ema)
        return logs
    return step
