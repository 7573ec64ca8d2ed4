from .deeplab import DeepLabV3Plus, build_model, upsample
from .discriminator import OutputSpaceDiscriminator

__all__ = ["DeepLabV3Plus", "OutputSpaceDiscriminator", "build_model", "upsample"]
