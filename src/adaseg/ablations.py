"""The papers' ablation rows as config variants: name -> overrides merged over the run's config.

A run whose objective path ends in `+<name>` (e.g. `finetune/s0/mada/5/stage2+mada_M2/round1of1.pt`) is trained
(and, for multi-round chains, selects) with the variant's config. Config `variants` adds or
replaces entries; these are always available so that every ablation table is a target. The
fidelity variants (`fid_*`) switch one method detail away from its official code (table_fidelity_gta).
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

# adaseg's fidelity switches (docs/fidelity.md): each sets one method's departure from its official
# code, so that table_fidelity_gta measures what the departure changes against the official default
FIDELITY_VARIANTS: dict[str, dict] = {
    "fid_bn_joint": {"finetune": {"bn": "joint"}},                           # MADA per domain / RIPU frozen -> joint
    "fid_round_shares_equal": {"multi_round": {"round_shares": "equal"}},    # RIPU: equal slices per round
    "fid_pa_radius_2k": {"ripu": {"pa_block_radius": "2k"}},                 # RIPU PA: the paper's text
    "fid_schedule_split": {"multi_round": {"schedule": "split"}},            # D2ADA: one schedule split over rounds
    "fid_class_split_sigmoid": {"d2ada": {"class_split": "sigmoid"}},        # D2ADA: eq. 6 instead of round-robin
    "fid_gmm_own": {"d2ada": {"gmm_components_from": "own", "gmm_reg_covar": 1.0e-4, "gmm_max_iter": 100}},
    "fid_quota_per_image": {"mcu": {"quota": "per_image"}},                  # ADA-MCU: equal shares per image
    "fid_g_h_top": {"mcu": {"g_h_half": "top"}},
    "fid_pseudo_all_hard": {"mcu": {"pseudo_labels": "all_hard"}},
    "fid_anchor_per_image": {"mada": {"anchor_loss": "per_image"}},          # MADA stage 2
    "fid_kmeans_sklearn": {"mada": {"kmeans": "sklearn"}},                   # MADA anchors (selection)
    "fid_step3_source": {"madav2": {"source": True}},                        # MADAv2 step 3 with source images
    "fid_acm_random": {"madav2": {"acm_box": "random"}},
    "fid_ohem_consistency": {"madav2": {"ohem_on": "consistency"}},           # MADAv2: OHEM on the consistency terms
    "fid_ohem_keep_0p218": {"madav2": {"ohem_keep_fraction": 0.218}},        # MADAv2: adaseg's earlier 4x the official min_kept
    "fid_anchor_from_start": {"madav2": {"anchor_start": 0.0}},               # MADAv2: eq. 14 from the start (official: after 1/4)
    "fid_anchor_on_mixed": {"madav2": {"anchor_on": "mixed"}},
    "fid_acp_any_class": {"madav2": {"acp_exclude": []}},                     # MADAv2: ACP may paste road, sky, ...
    "fid_ra_within_budget": {"ripu": {"ra_squares": "within_budget"}},        # RIPU RA: never overshoot the budget
    "fid_consistency_all": {"ripu": {"consistency_pixels": "all"}},           # RIPU: eq. 9 on every source pixel
    "fid_label_stride4": {"mcu": {"label_resolution": "stride4"}},            # ADA-MCU: labels nearest-downsampled to stride 4
}

# One-parameter sweeps (the papers' hyper-parameter tables and anchor-count figures): variant
# `<sweep>_<value>` sets one config key, the value written with 'p' for the decimal point
# (`ripu_tau_0p05` -> ripu.negative_tau = 0.05, `src_anchors_20` -> mada.source_anchors = 20).
SWEEPS: dict[str, tuple[str, type]] = {
    "src_anchors": ("mada.source_anchors", int),      # MADA Fig. 4(a), MADAv2 Fig. 6(a)
    "tgt_anchors": ("mada.target_anchors", int),      # MADA Fig. 4(b), MADAv2 Fig. 6(b)
    "ripu_tau": ("ripu.negative_tau", float),         # RIPU Table 7
    "ripu_alpha1": ("ripu.consistency_weight", float),  # RIPU Table 8
    "ripu_alpha2": ("ripu.negative_weight", float),   # RIPU Table 9
    "d2ada_alpha": ("d2ada.alpha", float),            # D2ADA supplementary Table 4
}


def sweep_token(value) -> str:
    """0.05 -> '0p05', 10 -> '10': a sweep value as it appears in a variant name (and a path)."""
    return f"{value:g}".replace(".", "p").replace("-", "m")


def sweep_variant(sweep: str, value) -> str:
    if sweep not in SWEEPS:
        raise ValueError(f"unknown sweep '{sweep}' (known: {', '.join(SWEEPS)})")
    return f"{sweep}_{sweep_token(value)}"


def parse_sweep_variant(name: str) -> tuple[str, int | float] | None:
    """'ripu_tau_0p05' -> ('ripu_tau', 0.05); None if `name` is not a sweep point (unknown sweep, a
    value that does not parse, a non-canonical spelling)."""
    for sweep, (_, kind) in SWEEPS.items():
        if name.startswith(sweep + "_"):
            token = name[len(sweep) + 1:]
            try:
                value = kind(token.replace("p", ".").replace("m", "-"))
            except ValueError:
                return None
            return (sweep, value) if sweep_token(value) == token else None
    return None


def _sweep_overrides(name: str) -> dict | None:
    parsed = parse_sweep_variant(name)
    if parsed is None:
        return None
    section, field = SWEEPS[parsed[0]][0].split(".")
    return {section: {field: parsed[1]}}


def all_variants(cfg: dict) -> dict[str, dict]:
    """The paper variants, with the config's `variants` added (or replacing them by name); sweep
    variants (SWEEPS) are resolved by name in `resolve_variant`."""
    return {**PAPER_VARIANTS, **FIDELITY_VARIANTS, **(cfg.get("variants") or {})}


def resolve_variant(cfg: dict, name: str) -> dict | None:
    """The overrides of variant `name` (named, from config, or a sweep point), checked against the
    config schema (adaseg.config.check_overrides: a key the schema does not define or a bad value
    raises a ConfigError naming the variant and the key); None if unknown."""
    from .config import check_overrides

    named = all_variants(cfg)
    overrides = named[name] if name in named else _sweep_overrides(name)
    if overrides is not None:
        check_overrides(name, overrides, in_config=name in (cfg.get("variants") or {}))
    return overrides
