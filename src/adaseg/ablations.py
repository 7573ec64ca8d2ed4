"""The papers' ablation rows as config variants: name -> overrides merged over the run's config.

A run whose objective path ends in `+<name>` (e.g. `finetune/mada/5/stage2+mada_M2.pt`) is trained
(and, for multi-round chains, selects) with the variant's config. Config `variants` adds or
replaces entries; these are always available so that every ablation table is a target.
"""
from __future__ import annotations

PAPER_VARIANTS: dict[str, dict] = {
    # MADA Table 3: A active samples (stage 1), B soft-anchor loss, C EMA anchors, D pseudo-labels
    "mada_M2": {"mada": {"ema": False, "pseudo_weight": 0.0}},        # A + B
    "mada_M3": {"mada": {"pseudo_weight": 0.0}},                      # A + B + C
    # MADAv2 Table 2: B consistency, C OHEM, D ACM + ACP, E soft-anchor alignment
    "madav2_M2": {"madav2": {"ohem": False, "acm": False, "acp": False, "anchor_weight": 0.0}},
    "madav2_M3": {"madav2": {"acm": False, "acp": False, "anchor_weight": 0.0}},
    "madav2_M4": {"madav2": {"anchor_weight": 0.0}},
    # RIPU Table 3 (RA 2.2%): selection by impurity / uncertainty only (a, b; CE training),
    # + local consistency (d), + negative learning (e); (c) is the stage1 chain, (f) the ripu chain
    "ripu_a": {"ripu": {"criterion": "impurity"}},
    "ripu_b": {"ripu": {"criterion": "uncertainty"}},
    "ripu_d": {"ripu": {"negative_weight": 0.0}},
    "ripu_e": {"ripu": {"consistency_weight": 0.0}},
    # D2ADA Table 2: (a) uncertainty only is region_entropy; (b) density only; (c) + category
    # balance; (d) + uncertainty, budget split equally every round; (e) the full schedule (eq. 7)
    "d2ada_b": {"d2ada": {"alpha": 1.0, "beta": 0.0, "category_balance": False}},
    "d2ada_c": {"d2ada": {"alpha": 1.0, "beta": 0.0}},
    "d2ada_d": {"d2ada": {"alpha": 0.5, "beta": 0.0}},
    # ADA-MCU Table 6: AL without / with adaptive sampling, + intra/cross-image units (MCU_i),
    # + cross-domain units (MCU_d = p2p + c2c), p2p only; the full model adds the DCCM
    "mcu_noas": {"mcu": {"adaptive_sampling": False, "contrast_weight": 0.0}},
    "mcu_as": {"mcu": {"contrast_weight": 0.0}},
    "mcu_i": {"mcu": {"levels": ["intra", "cross"], "dccm": False}},
    "mcu_d": {"mcu": {"dccm": False}},
    "mcu_p2p": {"mcu": {"c2c": False, "dccm": False}},
}


def all_variants(cfg: dict) -> dict[str, dict]:
    """The paper variants, with the config's `variants` added (or replacing them by name)."""
    return {**PAPER_VARIANTS, **(cfg.get("variants") or {})}
