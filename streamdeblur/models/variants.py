"""Registered model variants (entry points for :func:`streamdeblur.models.create_model`)."""

from __future__ import annotations

from .deeprftv2 import DeepRFTv2, DeepRFTv2Config
from .deeprftv2_rt import DeepRFTv2RT, DeepRFTv2RTConfig
from .fdikp import FDIKP, FDIKPConfig
from .registry import register_model

#: Official DeepRFTv2-B (GoPro config): 30,117,560 parameters, two columns.
B_CONFIG = DeepRFTv2Config()
#: Smaller, same blocks: 48 wide, two columns, NAFEVS at the two lower levels, FKE at both scales.
S_CONFIG = DeepRFTv2Config(
    dim=48,
    columns=2,
    max_encoder=(("naf", 1), ("nafevs", 2), ("nafevs", 4)),
    max_decoder=(("nafevs", 4), ("nafevs", 2), ("naf", 1)),
    mid_encoder=(("naf", 1), ("naf", 2), ("naf", 4)),
    mid_decoder=(("naf", 4), ("naf", 2), ("naf", 1)),
    kernel_levels=2,
)
#: Tiny, for CPU and live use: 32 wide, one column, NAFEVS only at the lowest level, one FKE level.
T_CONFIG = DeepRFTv2Config(
    dim=32,
    columns=1,
    max_encoder=(("naf", 1), ("naf", 2), ("nafevs", 2)),
    max_decoder=(("nafevs", 2), ("naf", 2), ("naf", 1)),
    mid_encoder=(("naf", 1), ("naf", 2), ("naf", 2)),
    mid_decoder=(("naf", 2), ("naf", 2), ("naf", 1)),
    kernel_levels=1,
)


@register_model("deeprftv2-b", description="DeepRFTv2-B, the official architecture (loads official checkpoints)")
def deeprftv2_b() -> DeepRFTv2:
    return DeepRFTv2(B_CONFIG)


@register_model("deeprftv2-s", description="DeepRFTv2-S: fewer blocks, two columns")
def deeprftv2_s() -> DeepRFTv2:
    return DeepRFTv2(S_CONFIG)


@register_model(
    "deeprftv2-t",
    description="DeepRFTv2-T: 32 wide, one column, for CPU and live use",
    default_weights="deeprftv2-t-motion.pt",
)
def deeprftv2_t() -> DeepRFTv2:
    return DeepRFTv2(T_CONFIG)


@register_model(
    "fdikp",
    task="defocus",
    description="FDIKP defocus deblurring (inverse kernels from spatial + frequency branches)",
    default_weights="fdikp-defocus.pt",
    multiple=16,
)
def fdikp() -> FDIKP:
    return FDIKP(FDIKPConfig())


@register_model(
    "deeprftv2-rt",
    description="DeepRFTv2-RT: quarter-resolution U-Net + one FKE, for live video on a CPU",
    default_weights="deeprftv2-rt-motion.pt",
)
def deeprftv2_rt() -> DeepRFTv2RT:
    return DeepRFTv2RT(DeepRFTv2RTConfig())
