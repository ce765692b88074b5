"""The real-time DeepRFTv2 variant: shapes, input checks, identity at initialisation, training heads."""

import pytest
import torch

from streamdeblur.models import create_model, list_models, model_info
from streamdeblur.models.deeprftv2_rt import DeepRFTv2RT, DeepRFTv2RTConfig
from streamdeblur.train.losses import model_loss


def test_registered_for_motion():
    assert "deeprftv2-rt" in list_models(task="motion")
    assert model_info("deeprftv2-rt").multiple == 8


def test_untrained_model_is_the_identity():
    net = create_model("deeprftv2-rt")
    x = torch.rand(1, 3, 72, 96)
    with torch.no_grad():
        assert torch.equal(net.deblur(x), x)


def test_shapes_and_kernel_readout():
    torch.manual_seed(0)
    net = DeepRFTv2RT(DeepRFTv2RTConfig(dim=8, enc1=1, enc2=1, dec1=1)).eval()
    torch.nn.init.normal_(net.head.weight, std=0.01)
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        y, k = net.forward_pyramid(net.pyramid(x), kernel_size=9)
    assert y.shape == x.shape and not torch.equal(y, x)
    assert k.shape == (2, 9, 9)


@pytest.mark.parametrize("shape", [(1, 3, 60, 64), (1, 1, 64, 64), (3, 64, 64)])
def test_bad_input_is_refused(shape):
    with pytest.raises(ValueError):
        DeepRFTv2RT(DeepRFTv2RTConfig(dim=8, enc1=1, enc2=1, dec1=1)).deblur(torch.rand(*shape))


def test_training_heads_give_gradients_everywhere():
    torch.manual_seed(0)
    net = DeepRFTv2RT(DeepRFTv2RTConfig(dim=8, enc1=1, enc2=1, dec1=1)).train()
    torch.nn.init.normal_(net.head.weight, std=0.01)
    for name, p in net.named_parameters():  # NAF blocks start with zero residual gains: open them
        if name.endswith(("beta", "gamma")):
            torch.nn.init.constant_(p, 0.1)
    x, sharp = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    model_loss(net.heads(x), sharp).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, missing
