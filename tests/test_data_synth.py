"""adaseg.data.synth: a deterministic proxy benchmark: long tail, family shift, appearance gap, real layouts."""
import hashlib
from collections import Counter

import numpy as np

from adaseg.data.datasets import SegmentationDataset
from adaseg.data.labels import CITYSCAPES_CLASSES
from adaseg.data.synth import FAMILY_MIX, generate, render_sample

COUNTS = {"gta5": 6, "synthia": 4, "cityscapes_train": 5, "cityscapes_val": 3}


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic_and_in_real_layouts(tmp_path):
    for which in ("gta5", "synthia", "cityscapes"):
        generate(tmp_path / "a" / which, which, 3, 32, 64, COUNTS)
        generate(tmp_path / "b" / which, which, 3, 32, 64, COUNTS)
        assert _digest(tmp_path / "a" / which) == _digest(tmp_path / "b" / which)
    gta = SegmentationDataset("gta5", tmp_path / "a" / "gta5")
    syn = SegmentationDataset("synthia", tmp_path / "a" / "synthia", label_space="synthia16")
    cs = SegmentationDataset("cityscapes", tmp_path / "a" / "cityscapes", split="val")
    assert (len(gta), len(syn), len(cs)) == (6, 4, 3)
    assert (tmp_path / "a" / "gta5" / "labels" / "00001.png").exists()
    assert (tmp_path / "a" / "synthia" / "GT" / "LABELS" / "0000000.png").exists()
    assert cs.samples[0].label.name.endswith("_gtFine_labelIds.png")
    # what the loaders read back is what the generator painted
    for ds, dom in ((gta, "gta5"), (cs, "cityscapes_val")):
        _, painted, _ = render_sample(3, dom, 0, 32, 64)
        np.testing.assert_array_equal(ds.label(0), painted)
    assert syn.label(0).max() < 16 or syn.label(0).max() == 255
    generate(tmp_path / "c" / "gta5", "gta5", 4, 32, 64, COUNTS)
    assert _digest(tmp_path / "c" / "gta5") != _digest(tmp_path / "a" / "gta5")


def _stats(domain, n=120):
    freq = np.zeros(19)
    fams = Counter()
    for i in range(n):
        _, lab, fam = render_sample(0, domain, i, 64, 128)
        fams[fam] += 1
        freq += np.bincount(lab[lab < 19], minlength=19)
    return freq / freq.sum(), fams


def test_long_tail_of_19_classes():
    freq, _ = _stats("gta5")
    assert (freq > 0).all(), "every class must occur"
    top = {CITYSCAPES_CLASSES[i] for i in np.argsort(freq)[::-1][:5]}
    assert {"road", "building", "sky"} <= top
    for rare in ("pole", "light", "sign", "rider", "train", "motorcycle"):
        assert freq[CITYSCAPES_CLASSES.index(rare)] < 0.01, rare


def test_scene_family_shift():
    # industrial scenes: rare in the source, common in the target
    assert FAMILY_MIX["gta5"][3] < 0.1 and FAMILY_MIX["cityscapes"][3] >= 0.25
    _, src = _stats("gta5")
    _, tgt = _stats("cityscapes_train")
    assert tgt["industrial"] > 3 * max(src["industrial"], 1)
    assert len(src) >= 3 and len(tgt) == 4


def test_appearance_gap_and_viewpoint():
    def class_colour_and_texture(domain, cls):
        cols, rough = [], []
        for i in range(40):
            rgb, lab, _ = render_sample(0, domain, i, 64, 128)
            m = lab == cls
            # interior pixels: the class on the pixel and on its four neighbours (no edges)
            inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
            if inner.sum() > 50:
                cols.append(rgb[m].mean(0))
                grad = np.abs(np.diff(rgb.astype(float), axis=1))[1:-1, 1:]  # |I(x+1) - I(x)|, x = 1..W-2
                rough.append(grad[inner].mean())
        return np.mean(cols, 0), np.mean(rough)

    veg_src, rough_src = class_colour_and_texture("gta5", 8)
    veg_tgt, rough_tgt = class_colour_and_texture("cityscapes_train", 8)
    assert np.abs(veg_src - veg_tgt).max() > 30  # different colours ...
    assert rough_tgt > 5 * rough_src + 2        # ... and texture/noise in the target only
    # SYNTHIA-like source: higher viewpoint -> more ground, horizon higher
    def sky_rows(domain):
        return np.mean([(render_sample(0, domain, i, 64, 128)[1] == 10).mean() for i in range(40)])
    assert sky_rows("synthia") < sky_rows("gta5")


def test_style_knobs_change_only_what_they_name():
    """thin_width widens the thin classes' objects (same scenes, same layout elsewhere);
    appearance_gap 0 renders the target with the source's class colours (per-image noise aside)."""
    import numpy as np

    from adaseg.data.synth import GAME_PALETTE, POLE, Style, render_sample
    thin = [render_sample(0, "cityscapes_train", i, 64, 128)[1] for i in range(20)]
    wide = [render_sample(0, "cityscapes_train", i, 64, 128, style=Style(thin_width=3.0))[1] for i in range(20)]
    assert sum(int((w == POLE).sum()) for w in wide) > 1.05 * sum(int((t == POLE).sum()) for t in thin)
    same = [render_sample(0, "cityscapes_train", i, 64, 128, style=Style(thin_width=3.0))[2] for i in range(20)]
    assert same == [render_sample(0, "cityscapes_train", i, 64, 128)[2] for i in range(20)]   # families
    rgb0, lab, _ = render_sample(0, "cityscapes_train", 1, 64, 128, style=Style(appearance_gap=0.0))
    rgb1, _, _ = render_sample(0, "cityscapes_train", 1, 64, 128)
    sky = lab == 10
    game_sky = GAME_PALETTE[10] * 255
    assert np.abs(rgb0[sky].mean(0) - game_sky).sum() < np.abs(rgb1[sky].mean(0) - game_sky).sum()
