"""adaseg.ablations: sweep variant names round-trip to the config overrides they stand for."""
from adaseg.ablations import resolve_variant, sweep_token, sweep_variant


def test_sweep_variants_round_trip():
    assert sweep_token(0.05) == "0p05" and sweep_token(10) == "10" and sweep_token(1.0) == "1"
    assert sweep_variant("ripu_tau", 0.05) == "ripu_tau_0p05"
    assert resolve_variant({}, "ripu_tau_0p05") == {"ripu": {"negative_tau": 0.05}}
    assert resolve_variant({}, "src_anchors_20") == {"mada": {"source_anchors": 20}}
    assert resolve_variant({}, "d2ada_alpha_0") == {"d2ada": {"alpha": 0.0}}
    # not a sweep point: unknown sweep, a value that does not parse, a non-canonical spelling
    for name in ("nope_3", "src_anchors_x", "src_anchors_2p5", "ripu_tau_0p050"):
        assert resolve_variant({}, name) is None, name
    assert resolve_variant({"variants": {"mine": {"mada": {"ema": False}}}}, "mine") == {"mada": {"ema": False}}
