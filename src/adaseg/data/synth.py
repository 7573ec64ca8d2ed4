"""The procedural proxy benchmark: street scenes written in the real dataset layouts.

Each image is drawn from one of four scene families (highway, downtown, residential, industrial)
with a family mix that differs between domains: industrial scenes are rare in the synthetic
sources and common in the target. Labels are painted first (trainIds, painter's algorithm from
far to near), then rendered to RGB with a domain style:

* "game" (GTA5-like and SYNTHIA-like sources): flat, saturated colours, no noise;
* "camera" (Cityscapes-like target): other base colours, shifted per image and class (so that a
  few labelled target images do not show every appearance), per-class texture, sensor noise, blur,
  exposure, colour cast and vignetting, plus the ego-vehicle hood (void) at the bottom.

Thin and small classes (pole, light, sign, person, rider, bicycle, motorcycle) are drawn at least
1.5 px wide, so that a model at the proxy's resolution can learn them; their sizes, the per-image
colour shift and the exposure range are the proxy's calibration (README "The proxy benchmark").

The SYNTHIA-like source is seen from a higher viewpoint (horizon higher, objects smaller).
Everything is a function of (seed, domain, index), so the benchmark is deterministic.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage.draw import ellipse, polygon
from skimage.filters import gaussian
from tqdm import tqdm

from ..errors import DatasetError
from . import labels as L

# written into every folder synth generates: what it holds. `generate` clears (replaces) only a folder
# that is missing, empty or holds this file, never a folder it did not write.
MARKER = ".adaseg-synth.json"

FAMILIES = ("highway", "downtown", "residential", "industrial")
# Scene-family mix per domain: the target has industrial scenes that the sources rarely show.
FAMILY_MIX = {
    "gta5": (0.45, 0.35, 0.17, 0.03),
    "synthia": (0.25, 0.50, 0.20, 0.05),
    "cityscapes": (0.15, 0.30, 0.25, 0.30),
}
CITIES_TRAIN = ("aachen", "bochum", "bremen", "cologne", "darmstadt", "dusseldorf", "erfurt", "hamburg")
CITIES_VAL = ("frankfurt", "lindau", "munster")

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEG, TERRAIN, SKY, PERSON, RIDER, CAR,
 TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(19)

# Base colours (RGB in [0, 1]); the two styles disagree on hue and saturation of most classes.
GAME_PALETTE = np.array([
    (0.30, 0.30, 0.36), (0.75, 0.62, 0.55), (0.62, 0.38, 0.25), (0.85, 0.80, 0.45), (0.55, 0.35, 0.10),
    (0.25, 0.25, 0.30), (0.95, 0.85, 0.10), (0.95, 0.20, 0.15), (0.10, 0.75, 0.15), (0.55, 0.80, 0.25),
    (0.25, 0.55, 1.00), (0.95, 0.30, 0.55), (0.95, 0.55, 0.05), (0.10, 0.25, 0.90), (0.55, 0.55, 0.70),
    (0.90, 0.15, 0.10), (0.30, 0.60, 0.45), (0.50, 0.10, 0.60), (0.05, 0.75, 0.75),
])
CAMERA_PALETTE = np.array([
    (0.45, 0.43, 0.40), (0.55, 0.55, 0.58), (0.52, 0.48, 0.45), (0.65, 0.63, 0.55), (0.42, 0.38, 0.30),
    (0.38, 0.36, 0.34), (0.30, 0.32, 0.20), (0.75, 0.60, 0.25), (0.30, 0.42, 0.18), (0.55, 0.55, 0.32),
    (0.72, 0.78, 0.85), (0.55, 0.35, 0.40), (0.60, 0.45, 0.30), (0.30, 0.35, 0.50), (0.62, 0.60, 0.62),
    (0.65, 0.35, 0.28), (0.40, 0.48, 0.42), (0.35, 0.25, 0.38), (0.25, 0.45, 0.45),
])


@dataclass(frozen=True)
class Style:
    """The proxy's calibration knobs (config `proxy`): `appearance_gap` scales how far the camera
    style's class colours and per-image colour shifts are from the game style's (1: as drawn, 0:
    the target's base colours are the source's), `thin_width` is the least width in pixels of thin
    and small classes (pole, light, sign, person, rider, bicycle, motorcycle, tree trunks).
    The defaults reproduce the benchmark as it was first calibrated, byte for byte."""
    appearance_gap: float = 1.0
    thin_width: float = 1.5


DEFAULT_STYLE = Style()


@dataclass
class Canvas:
    """A label map and an instance map painted together."""
    label: np.ndarray
    inst: np.ndarray
    n: int = 0

    def paint(self, rr: np.ndarray, cc: np.ndarray, cls: int) -> None:
        self.n += 1
        self.label[rr, cc] = cls
        self.inst[rr, cc] = self.n

    def poly(self, ys, xs, cls: int) -> None:
        rr, cc = polygon(np.asarray(ys, float), np.asarray(xs, float), self.label.shape)
        self.paint(rr, cc, cls)

    def rect(self, y0, x0, y1, x1, cls: int) -> None:
        self.poly([y0, y0, y1, y1], [x0, x1, x1, x0], cls)

    def ellipse(self, cy, cx, ry, rx, cls: int) -> None:
        rr, cc = ellipse(cy, cx, max(ry, 0.6), max(rx, 0.6), shape=self.label.shape)
        self.paint(rr, cc, cls)


def _scene(rng: np.random.Generator, h: int, w: int, family: str, high_view: bool,
           style: Style = DEFAULT_STYLE) -> Canvas:
    thin = style.thin_width
    cv = Canvas(np.full((h, w), SKY, np.uint8), np.zeros((h, w), np.int32))
    yh = h * (rng.uniform(0.26, 0.32) if high_view else rng.uniform(0.40, 0.50))
    xv = w * rng.uniform(0.42, 0.58)
    scale = 0.7 if high_view else 1.0
    road_hw = {"highway": 0.65, "downtown": 0.42, "residential": 0.32, "industrial": 0.45}[family]
    road_hw *= w * rng.uniform(0.85, 1.15)
    side_w = (0.0 if family == "highway" else 0.22) * w
    ground = h - yh

    def t_of(y):
        return (y - yh) / ground

    def edge(t, side, extra=0.0):  # x of the road edge (+extra) at depth t, side -1 left / +1 right
        return xv + side * (road_hw + extra) * t

    # ground: terrain everywhere, then sidewalks and road
    cv.rect(yh, 0, h, w, TERRAIN if family != "downtown" else SIDEWALK)
    # background row: buildings / vegetation on both sides, from the image edge to the vanishing point
    for side in (-1, 1):
        x_edge = 0.0 if side < 0 else float(w)
        x = x_edge
        while (x - xv) * side > 0.04 * w:
            seg = w * rng.uniform(0.08, 0.22)
            x2 = x - side * seg
            if (x2 - xv) * side < 0.03 * w:
                x2 = xv + side * 0.03 * w
            t1, t2 = abs(x - xv) / abs(x_edge - xv), abs(x2 - xv) / abs(x_edge - xv)
            base1, base2 = yh + 0.35 * ground * t1, yh + 0.35 * ground * t2
            kind = {
                "highway": rng.choice([VEG, VEG, BUILDING, TERRAIN]),
                "downtown": BUILDING,
                "residential": rng.choice([BUILDING, VEG, VEG]),
                "industrial": rng.choice([BUILDING, BUILDING, WALL]),
            }[family]
            tall = {"highway": 0.35, "downtown": 1.6, "residential": 0.6, "industrial": 0.55}[family]
            hgt = tall * rng.uniform(0.5, 1.2) * h
            if kind == WALL:
                hgt = 0.18 * h
            top1, top2 = base1 - hgt * t1 - 2, base2 - hgt * t2 - 2
            if kind == VEG:
                cy, cx = (top1 + base1) / 2, (x + x2) / 2
                cv.ellipse(cy, cx, (base1 - top1) / 2 + 1, abs(x2 - x) / 1.6, VEG)
            elif kind != TERRAIN:
                cv.poly([top1, top2, base2, base1], [x, x2, x2, x], kind)
            x = x2
    # low walls and fences in front of the facades
    for side in (-1, 1):
        if family in ("industrial", "residential", "highway") and rng.random() < {"industrial": 0.9, "residential": 0.6, "highway": 0.6}[family]:
            cls = FENCE if (family != "industrial" or rng.random() < 0.5) else WALL
            off = (side_w / w + (0.25 if family == "highway" else 0.05)) * w
            ys = [yh + 2, h]
            x_in = [edge(t_of(y), side, off) for y in ys]
            height = (0.18 if cls == FENCE else 0.25) * scale
            cv.poly([ys[0] - height * h * t_of(ys[0]) - 1, ys[1] - height * h, ys[1], ys[0]],
                    [x_in[0], x_in[1], x_in[1], x_in[0]], cls)
    # sidewalks and road
    if side_w > 0:
        cv.poly([yh, h, h], [xv, edge(1, -1, side_w), edge(1, 1, side_w)], SIDEWALK)
    cv.poly([yh, h, h], [xv, edge(1, -1), edge(1, 1)], ROAD)

    # ground-standing objects, far to near
    n_obj = {"highway": 7, "downtown": 12, "residential": 9, "industrial": 8}[family]
    objects = []
    for _ in range(rng.poisson(n_obj)):
        objects.append(rng.uniform(0.12, 1.0) ** 0.7)
    if family == "industrial" and rng.random() < 0.7:
        objects.append(-1.0)  # a train along one side
    for t in sorted(objects):
        if t < 0:
            side = rng.choice([-1, 1])
            t1, t2 = 0.15, rng.uniform(0.6, 1.0)
            off = side_w + 0.12 * w
            hh = 0.45 * h * scale
            xa, xb = edge(t1, side, off), edge(t2, side, off)
            ya, yb = yh + t1 * ground, yh + t2 * ground
            cv.poly([ya - hh * t1, yb - hh * t2, yb, ya], [xa, xb, xb, xa], TRAIN)
            continue
        y = yh + t * ground
        u = t * h * scale
        r = rng.random()
        table = {
            "highway": ((0.45, "car"), (0.65, "truck"), (0.72, "bus"), (0.85, "pole"), (0.93, "tree"), (1.0, "moto")),
            "downtown": ((0.25, "car"), (0.33, "bus"), (0.52, "person"), (0.62, "cyclist"), (0.80, "pole"), (0.86, "tree"), (0.93, "moto"), (1.0, "bike")),
            "residential": ((0.30, "car"), (0.45, "person"), (0.55, "cyclist"), (0.68, "pole"), (0.92, "tree"), (1.0, "bike")),
            "industrial": ((0.30, "car"), (0.62, "truck"), (0.70, "person"), (0.84, "pole"), (0.94, "moto"), (1.0, "tree")),
        }[family]
        what = next(name for p, name in table if r <= p)
        if what in ("car", "truck", "bus", "moto", "cyclist"):
            x = edge(t, rng.choice([-1, 1]), 0) * 1.0
            x = xv + (x - xv) * rng.uniform(0.1, 0.85)
        elif what in ("person", "bike"):
            x = edge(t, rng.choice([-1, 1]), rng.uniform(0.2, 0.9) * max(side_w, 0.1 * w))
        else:
            x = edge(t, rng.choice([-1, 1]), rng.uniform(0.05, 0.5) * max(side_w, 0.12 * w) + 0.02 * w)
        if what == "car":
            cw, ch = 0.42 * u, 0.2 * u
            cv.rect(y - ch, x - cw / 2, y, x + cw / 2, CAR)
            cv.rect(y - ch * 1.55, x - cw * 0.32, y - ch, x + cw * 0.32, CAR)
        elif what in ("truck", "bus"):
            cw, ch = (0.5 * u, 0.42 * u) if what == "truck" else (0.55 * u, 0.5 * u)
            cv.rect(y - ch, x - cw / 2, y, x + cw / 2, TRUCK if what == "truck" else BUS)
        elif what == "person":
            pw, ph = max(0.1 * u, thin), 0.38 * u
            cv.rect(y - ph * 0.85, x - pw / 2, y, x + pw / 2, PERSON)
            cv.ellipse(y - ph * 0.9, x, max(0.08 * u, thin / 1.5), max(0.07 * u, thin / 1.5), PERSON)
        elif what in ("cyclist", "bike", "moto"):
            bw, bh = 0.3 * u, 0.16 * u
            cls = MOTORCYCLE if what == "moto" else BICYCLE
            cv.ellipse(y - bh / 2, x - bw / 3, bh / 2, bh / 2, cls)
            cv.ellipse(y - bh / 2, x + bw / 3, bh / 2, bh / 2, cls)
            cv.rect(y - bh, x - bw / 3, y - bh / 2, x + bw / 3, cls)
            if what != "bike":
                cv.rect(y - bh - 0.24 * u, x - 0.04 * u - thin / 3, y - bh * 0.8, x + 0.04 * u + thin / 3, RIDER)
                cv.ellipse(y - bh - 0.27 * u, x, max(0.06 * u, thin / 1.5), max(0.05 * u, thin / 1.5), RIDER)
        elif what == "pole":
            pw, ph = max(0.05 * u, thin), 0.85 * u
            cv.rect(y - ph, x - pw / 2, y, x + pw / 2, POLE)
            if family == "downtown" and rng.random() < 0.7 or rng.random() < 0.4:
                cv.rect(y - ph - 0.2 * u, x - 0.07 * u - thin / 1.5, y - ph + 0.02 * u, x + 0.07 * u + thin / 1.5, LIGHT)
            if rng.random() < 0.7:
                s = max(0.09 * u, thin)
                if rng.random() < 0.5:
                    cv.ellipse(y - ph * 0.6, x, s, s, SIGN)
                else:
                    cv.rect(y - ph * 0.6 - s, x - s, y - ph * 0.6 + s, x + s, SIGN)
        elif what == "tree":
            cv.rect(y - 0.5 * u, x - max(0.02 * u, thin / 3), y, x + max(0.02 * u, thin / 3), VEG)
            cv.ellipse(y - 0.65 * u, x, 0.28 * u, 0.2 * u, VEG)
    return cv


def _render_game(cv: Canvas, rng: np.random.Generator) -> np.ndarray:
    n = cv.inst.max() + 1
    jitter = rng.normal(0, 0.04, (n, 3))
    car_colours = np.array([(0.10, 0.25, 0.90), (0.85, 0.10, 0.10), (0.90, 0.90, 0.20), (0.10, 0.60, 0.20)])
    base = GAME_PALETTE[np.minimum(cv.label, 18)]
    inst_rgb = jitter[cv.inst]
    cars = cv.label == CAR
    if cars.any():
        choice = rng.integers(0, len(car_colours), n)
        base[cars] = car_colours[choice[cv.inst[cars]]]
    img = base + inst_rgb
    h = img.shape[0]
    sky = cv.label == SKY
    img[sky] *= (0.85 + 0.3 * np.linspace(0, 1, h)[:, None].repeat(img.shape[1], 1)[sky])[:, None]
    return np.clip(img, 0, 1)


def _render_camera(cv: Canvas, rng: np.random.Generator, style: Style = DEFAULT_STYLE) -> np.ndarray:
    h, w = cv.label.shape
    n = cv.inst.max() + 1
    gap = style.appearance_gap
    palette = CAMERA_PALETTE if gap == 1 else GAME_PALETTE + gap * (CAMERA_PALETTE - GAME_PALETTE)
    base = palette[np.minimum(cv.label, 18)].copy()
    base += gap * rng.normal(0, 0.12, (19, 3))[np.minimum(cv.label, 18)]   # this image's shift of every class colour
    base += rng.normal(0, 0.06, (n, 3))[cv.inst]
    cars = cv.label == CAR
    if cars.any():
        car_colours = np.array([(0.15, 0.15, 0.17), (0.75, 0.75, 0.78), (0.45, 0.18, 0.16), (0.30, 0.35, 0.50)])
        choice = rng.integers(0, len(car_colours), n)
        base[cars] = car_colours[choice[cv.inst[cars]]]
    # per-class texture: fine noise whose strength depends on the material
    grain = np.array([0.05, 0.04, 0.05, 0.03, 0.08, 0.02, 0.02, 0.02, 0.14, 0.10, 0.02, 0.05, 0.05,
                      0.03, 0.03, 0.03, 0.04, 0.04, 0.04])[np.minimum(cv.label, 18)]
    img = base * (1 + grain[..., None] * rng.normal(0, 1.0, (h, w, 1)))
    yy, xx = np.mgrid[0:h, 0:w]
    # building windows
    win = (cv.label == BUILDING) & ((yy // 3) % 2 == 0) & ((xx // 3) % 3 == 0)
    img[win] *= 0.7
    # lane markings on the road stay road
    lane = (cv.label == ROAD) & (np.abs(xx - w / 2) < 1 + yy / h) & ((yy // 4) % 2 == 0) & (yy > 0.55 * h)
    img[lane] = 0.85
    # camera: exposure, colour cast, vignetting, blur, sensor noise
    img = img * rng.uniform(0.6, 1.3) * (1 + rng.normal(0, 0.08, 3))
    vign = 1 - 0.35 * (((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2)
    img = img * vign[..., None]
    img = gaussian(img, sigma=rng.uniform(0.5, 1.0), channel_axis=-1)
    img = img + rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1) ** rng.uniform(0.85, 1.15)


def render_sample(seed: int, domain: str, index: int, height: int, width: int,
                  family: str | None = None, style: Style = DEFAULT_STYLE) -> tuple[np.ndarray, np.ndarray, str]:
    """(RGB uint8, 19-class trainIds uint8 with 255 void, family) of image `index` of `domain`."""
    dom_id = ("gta5", "synthia", "cityscapes_train", "cityscapes_val").index(domain)
    rng = np.random.default_rng([seed, dom_id, index])
    mix = FAMILY_MIX["cityscapes" if domain.startswith("cityscapes") else domain]
    fam = family or FAMILIES[rng.choice(4, p=mix)]
    cv = _scene(rng, height, width, fam, high_view=(domain == "synthia"), style=style)
    if domain.startswith("cityscapes"):
        rgb = _render_camera(cv, rng, style)
        # ego-vehicle hood: void (labelId 1) at the bottom of every Cityscapes frame
        hood = ellipse(height * 1.12, width / 2, height * 0.16, width * 0.6, shape=(height, width))
        cv.label[hood] = L.IGNORE
        rgb[hood] = 0.08
    else:
        rgb = _render_game(cv, rng)
    return (rgb * 255 + 0.5).astype(np.uint8), cv.label, fam


def _labelids(trainids: np.ndarray) -> np.ndarray:
    table = np.zeros(256, np.uint8)
    for t, l in L.TRAINID_TO_LABELID.items():
        table[t] = l
    table[L.IGNORE] = 1  # "ego vehicle"
    return table[trainids]


def _synthia_ids(trainids: np.ndarray) -> np.ndarray:
    table = np.zeros(256, np.uint16)
    for t, s in L.TRAINID19_TO_SYNTHIA_ID.items():
        table[t] = s
    return table[trainids]


_PALETTE = [v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 173) % 256)]


def _save_png(path: Path, arr: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:  # GTA5 ships its labels as palette PNGs whose indices are the labelIds
        im = Image.frombytes("P", (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes())
        im.putpalette(_PALETTE)
    else:
        im = Image.fromarray(arr)
    im.save(path, optimize=False)


def write_gta5(root: Path, seed: int, n: int, h: int, w: int, style: Style = DEFAULT_STYLE) -> dict:
    fams = []
    for i in tqdm(range(n), desc="GTA5 proxy", unit="img"):
        rgb, lab, fam = render_sample(seed, "gta5", i, h, w, style=style)
        name = f"{i + 1:05d}.png"
        _save_png(root / "images" / name, rgb)
        _save_png(root / "labels" / name, _labelids(lab), palette=True)
        fams.append(fam)
    return {"images": n, "families": {f: fams.count(f) for f in FAMILIES}}


def write_synthia(root: Path, seed: int, n: int, h: int, w: int, style: Style = DEFAULT_STYLE) -> dict:
    fams = []
    for i in tqdm(range(n), desc="SYNTHIA proxy", unit="img"):
        rgb, lab, fam = render_sample(seed, "synthia", i, h, w, style=style)
        name = f"{i:07d}.png"
        _save_png(root / "RGB" / name, rgb)
        ids = _synthia_ids(lab)
        # 16-bit, 3 channels: class id in channel 0 (R), instance id in channel 1 (G); cv2 writes BGR.
        bgr = np.stack([np.zeros_like(ids), np.zeros_like(ids), ids], axis=-1)
        (root / "GT" / "LABELS").mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(root / "GT" / "LABELS" / name), bgr):
            raise OSError(f"cannot write {root / 'GT' / 'LABELS' / name}")
        fams.append(fam)
    return {"images": n, "families": {f: fams.count(f) for f in FAMILIES}}


def write_gta5_sizes(root: Path, seed: int, sizes: list[tuple[int, int]]) -> dict:
    """GTA5 layout with image i at sizes[i] (the real set mixes 1914x1052 with a few 1914x1054)."""
    for i, (h, w) in enumerate(tqdm(sizes, desc="GTA5 real-size", unit="img")):
        rgb, lab, _ = render_sample(seed, "gta5", i, h, w)
        _save_png(root / "images" / f"{i + 1:05d}.png", rgb)
        _save_png(root / "labels" / f"{i + 1:05d}.png", _labelids(lab), palette=True)
    return {"images": len(sizes), "sizes": sorted({f"{w}x{h}" for h, w in sizes})}


# the real datasets' image sizes (H, W)
REAL_SIZES = {"gta5": (1052, 1914), "gta5_tall": (1054, 1914), "cityscapes": (1024, 2048), "synthia": (760, 1280)}


def generate_real_size(out: str | Path, seed: int = 0, gta5: int = 6, gta5_tall: int = 2, cityscapes_train: int = 6,
                       cityscapes_val: int = 2, synthia: int = 4) -> dict:
    """Small datasets in the real layouts at the real resolutions, for proving a paper-scale config
    end to end without the data: <out>/gta5 (gta5 images of 1914x1052 and gta5_tall of 1914x1054,
    interleaved), <out>/cityscapes (2048x1024, two cities per split), <out>/synthia (1280x760,
    16-bit labels). Scenes come from the proxy renderer."""
    out = Path(out)
    for name in ("gta5", "cityscapes", "synthia"):
        check_replaceable(out / name)
    tall = set(range(1, 2 * gta5_tall, 2)) if gta5_tall else set()
    sizes = [REAL_SIZES["gta5_tall" if i in tall else "gta5"] for i in range(gta5 + gta5_tall)]
    info = {"gta5": write_gta5_sizes(out / "gta5", seed, sizes),
            "cityscapes": write_cityscapes(out / "cityscapes", seed, cityscapes_train, cityscapes_val,
                                           *REAL_SIZES["cityscapes"]),
            "synthia": write_synthia(out / "synthia", seed, synthia, *REAL_SIZES["synthia"])}
    for name, what in info.items():
        if (out / name).is_dir():  # a dataset asked for 0 images writes no folder
            write_marker(out / name, {"generator": "generate_real_size", "dataset": name, "seed": seed, "info": what})
    return info


def write_cityscapes(root: Path, seed: int, n_train: int, n_val: int, h: int, w: int,
                     style: Style = DEFAULT_STYLE) -> dict:
    info = {}
    for split, n, cities, dom in (("train", n_train, CITIES_TRAIN, "cityscapes_train"),
                                  ("val", n_val, CITIES_VAL, "cityscapes_val")):
        fams = []
        for i in tqdm(range(n), desc=f"Cityscapes proxy {split}", unit="img"):
            rgb, lab, fam = render_sample(seed, dom, i, h, w, style=style)
            city = cities[i % len(cities)]
            stem = f"{city}_{i // len(cities):06d}_{19:06d}"
            _save_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb)
            _save_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", _labelids(lab))
            fams.append(fam)
        info[split] = {"images": n, "families": {f: fams.count(f) for f in FAMILIES}}
    return info


def write_marker(folder: Path, what: dict) -> None:
    """The marker of a folder synth wrote (MARKER): what it generated, deterministic (no paths or
    times, so the same dataset is byte-identical wherever it is generated)."""
    text = json.dumps({"written_by": "adaseg synth", **what}, indent=1, sort_keys=True) + "\n"
    (Path(folder) / MARKER).write_text(text)


def check_replaceable(folder: Path) -> None:
    """Refuse (DatasetError naming the folder) to clear `folder` unless it is missing, empty or was
    written by synth (holds MARKER): synth replaces its whole output folder."""
    folder = Path(folder)
    if folder.is_symlink():
        raise DatasetError(f"synth output '{folder}' is a symbolic link: synth replaces its output folder and does "
                           f"not follow links; pass a real folder path (a new or empty folder)")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise DatasetError(f"synth output '{folder}' is a file, not a folder: synth writes a dataset folder there; "
                           f"pass a new or empty folder, or move the file away")
    if (folder / MARKER).is_file() or not any(folder.iterdir()):
        return
    raise DatasetError(f"synth output '{folder}' is not empty and holds no {MARKER}, so synth did not write it and "
                       f"will not delete it: pass a new or empty folder (or one synth wrote), or empty '{folder}' yourself")


_COUNT_KEYS = {"gta5": ("gta5",), "synthia": ("synthia",), "cityscapes": ("cityscapes_train", "cityscapes_val")}


def generate(out: str | Path, which: str, seed: int, height: int, width: int, counts: dict,
             style: Style = DEFAULT_STYLE) -> dict:
    """Write one proxy dataset ('gta5', 'synthia' or 'cityscapes') to `out`, atomically: written into
    `<out>.tmp`, then renamed onto `out`. Each folder gets a MARKER; a non-empty `out` (or `<out>.tmp`)
    without one is refused with a DatasetError instead of being deleted."""
    out = Path(out)
    if which not in ("gta5", "synthia", "cityscapes"):
        raise ValueError(f"unknown proxy dataset '{which}'")
    tmp = out.with_name(out.name + ".tmp")
    check_replaceable(out)
    check_replaceable(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    what = {"generator": "generate", "dataset": which, "seed": seed, "height": height, "width": width,
            "counts": {k: counts[k] for k in _COUNT_KEYS[which]}}
    if style != DEFAULT_STYLE:   # the default's marker stays as it was (byte-identical datasets)
        what["style"] = {"appearance_gap": style.appearance_gap, "thin_width": style.thin_width}
    write_marker(tmp, dict(what, complete=False))  # a killed run leaves a <out>.tmp the next run may clear
    if which == "gta5":
        info = write_gta5(tmp, seed, counts["gta5"], height, width, style)
    elif which == "synthia":
        info = write_synthia(tmp, seed, counts["synthia"], height, width, style)
    else:
        info = write_cityscapes(tmp, seed, counts["cityscapes_train"], counts["cityscapes_val"], height, width, style)
    write_marker(tmp, dict(what, complete=True, info=info))
    check_replaceable(out)  # nothing else wrote there meanwhile
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return info
