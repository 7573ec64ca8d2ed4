"""adaseg.models: DeepLabV3+ outputs and precision, the ResNet backbones, ImageNet weights, the discriminator."""
import pytest
import torch
import torch.nn as nn
import torchvision

from adaseg.models import DeepLabV3Plus, OutputSpaceDiscriminator, build_model, upsample


@pytest.mark.parametrize("backbone,os_,aux_stride", [("resnet18", 16, 16), ("resnet18", 8, 8), ("resnet50", 16, 16)])
def test_deeplab_outputs(backbone, os_, aux_stride):
    m = DeepLabV3Plus(19, backbone, os_, aspp_channels=16, decoder_channels=24).eval()
    out = m(torch.randn(1, 3, 64, 128), with_aux=True)
    assert out["logits"].shape == (1, 19, 16, 32)       # stride 4
    assert out["features"].shape == (1, 24, 16, 32)     # decoder feature before the classifier
    assert out["aux"].shape == (1, 19, 64 // aux_stride, 128 // aux_stride)
    assert upsample(out["logits"], (64, 128)).shape == (1, 19, 64, 128)
    assert set(m.head_parameters()).isdisjoint(set(m.backbone_parameters()))


@pytest.mark.parametrize("name,replace", [("resnet18", [False, False, False]), ("resnet34", [False, False, False]),
                                          ("resnet50", [False, False, True]), ("resnet101", [False, True, True])])
def test_resnet_is_torchvisions_module_for_module(name, replace):
    """Same parameter names, the same initial weights from the same seed, the same outputs."""
    from adaseg.models.resnet import ResNet

    torch.manual_seed(3)
    ours = ResNet(name, replace)
    torch.manual_seed(3)
    ref = getattr(torchvision.models, name)(weights=None, replace_stride_with_dilation=replace)
    a, b = ours.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    if name in ("resnet18", "resnet50"):
        x = torch.randn(1, 3, 32, 48)
        ours.eval(), ref.eval()
        assert torch.equal(ours.layer4(ours.layer3(ours.layer2(ours.layer1(ours.maxpool(ours.relu(ours.bn1(ours.conv1(x)))))))),
                           ref.layer4(ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(x)))))))))


def test_imagenet_weights_from_local_file(tmp_path):
    torch.manual_seed(1)
    ref = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    m = DeepLabV3Plus(19, "resnet18", 16, 8, 8, imagenet_weights=str(path))
    for k, v in ref.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(m.backbone.state_dict()[k], v)
    with pytest.raises(FileNotFoundError, match="imagenet_weights"):
        DeepLabV3Plus(19, "resnet18", 16, 8, 8, imagenet_weights=str(tmp_path / "missing.pth"))
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision resnet18"):
        DeepLabV3Plus(19, "resnet18", 16, 8, 8, imagenet_weights=str(tmp_path / "bad.pth"))


def test_adaptseg_discriminator_architecture():
    d = OutputSpaceDiscriminator(19)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert all(c.stride == (2, 2) for c in convs)
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)
    assert d(torch.randn(2, 19, 64, 128)).shape == (2, 1, 2, 4)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_forward_returns_fp32(precision):
    torch.manual_seed(0)
    cfg = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8}
    model = build_model(cfg, 19).eval()
    x = torch.randn(1, 3, 32, 64)
    ref = model(x)["logits"]
    out = model.set_precision(precision)(x, with_aux=True)
    assert all(v.dtype == torch.float32 for v in out.values())
    # same network, lower precision: close to fp32, not equal
    assert (out["logits"] - ref).abs().max() < 0.1 * ref.abs().max()
    with pytest.raises(ValueError, match="unknown precision"):
        model.set_precision("int8")


def test_backbone_width_scales_every_stage_and_refuses_imagenet_weights(tmp_path):
    import pytest
    import torch

    from adaseg.models import build_model
    cfg = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8,
           "low_level_channels": 8}
    narrow, wide = build_model(dict(cfg, width=16), 19), build_model(cfg, 19)
    assert narrow.backbone.conv1.out_channels == 16 and narrow.backbone.layer4[0].conv1.out_channels == 128
    assert wide.backbone.conv1.out_channels == 64                       # the default: torchvision's ResNet
    out = narrow(torch.randn(2, 3, 32, 64), with_aux=True)
    assert out["logits"].shape == (2, 19, 8, 16) and out["aux"].shape[1] == 19
    n = lambda m: sum(p.numel() for p in m.backbone.parameters())
    assert n(narrow) < n(wide) / 10                                      # about (16/64)^2 of the weights
    weights = tmp_path / "r18.pth"
    torch.save({}, weights)
    with pytest.raises(ValueError, match="model.width 64"):
        build_model(dict(cfg, width=16, imagenet_weights=str(weights)), 19)
