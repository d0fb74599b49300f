"""StyleGAN2's discriminator and its training step, as the GAN-prior papers use it.

GLEAN, Panini-Net, Pro-PULSE and LAREN all train against StyleGAN2's residual
discriminator (Karras et al. 2020, "Analyzing and improving the image quality of StyleGAN",
section 4 and appendix B). Written from that paper:

* **Blur on every down-sampling.** Each stride-2 conv (and the 1x1 skip) is preceded by the
  [1, 3, 3, 1] FIR low-pass (outer product, normalised to sum 1; the plain-PyTorch
  ``upfirdn2d`` of :mod:`kintsugi.archs.fir`), padded so that H goes to H/2 exactly: the
  anti-aliasing StyleGAN uses throughout, so D cannot key on aliasing the generator makes.
* **Equalised learning rate.** Weights are stored as N(0, 1) and multiplied at run time by
  He's constant 1/sqrt(fan_in) (:class:`EqualConv2d`, and ``EqualLinear`` of
  :mod:`kintsugi.archs.stylegan2`); biases start at 0. Adam then moves every layer at the
  same relative speed whatever its fan-in. Activations are LeakyReLU(0.2) with a learned
  bias, times sqrt(2) (the "fused" bias-activation).
* **R1 regularisation, lazily** (paper section 3.1 / appendix B): every ``every`` D steps
  (16) the loss gets ``every * gamma / 2 * E[|grad_x D(x)|^2]`` on real images, and Adam's
  learning rate and betas for D are scaled by c = every / (every + 1) to compensate
  (:func:`optimizer`). gamma defaults to 10, StyleGAN2 config-f's value for FFHQ 1024; the
  restoration papers do not state theirs. It is configurable (``--r1-gamma``,
  ``--r1-every``; gamma 0 turns it off) because the right value scales with resolution
  (StyleGAN2-ADA's heuristic: 2e-4 * size^2 / batch).
* Widths: config-f's (512 up to 32 px, then 32768 / r), times ``width``.
* Minibatch standard deviation over groups of 4 (one feature), then a 3x3 conv, two linear
  layers, one logit.

The step counter for the lazy schedule is a buffer of the module, so it is saved with the
discriminator and a resumed run regularises at the same steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kintsugi.archs.fir import make_fir_kernel, upfirdn2d
from kintsugi.archs.stylegan2 import EqualLinear, fused_lrelu

R1_GAMMA = 10.0
R1_EVERY = 16


class EqualConv2d(nn.Module):
    """Conv with an equalised learning rate: stored N(0, 1) weights scaled by 1/sqrt(fan_in)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class Blur(nn.Module):
    """The [1, 3, 3, 1] FIR low-pass with the pads a following conv needs."""

    kernel: torch.Tensor

    def __init__(self, pad: tuple[int, int]) -> None:
        super().__init__()
        self.pad = pad
        self.register_buffer("kernel", make_fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class ConvLayer(nn.Sequential):
    """[blur] -> equalised conv (stride 2 when down) -> [bias + LeakyReLU * sqrt(2)]."""

    def __init__(self, cin: int, cout: int, kernel: int, down: bool = False, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if down:
            # FIR taps 4, factor 2: p = (4 - 2) + (kernel - 1) pixels, split before/after,
            # so that the stride-2 conv without padding maps H to H/2.
            p = 2 + (kernel - 1)
            layers.append(Blur(((p + 1) // 2, p // 2)))
            layers.append(EqualConv2d(cin, cout, kernel, stride=2, bias=False))
        else:
            layers.append(EqualConv2d(cin, cout, kernel, padding=kernel // 2, bias=False))
        if activate:
            layers.append(BiasLeakyReLU(cout))
        super().__init__(*layers)


class BiasLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_lrelu(x, self.bias)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(cin, cin, 3)
        self.conv2 = ConvLayer(cin, cout, 3, down=True)
        self.skip = ConvLayer(cin, cout, 1, down=True, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """StyleGAN2's residual discriminator; images in [-1, 1] -> one logit each."""

    steps: torch.Tensor

    def __init__(self, size: int, width: float = 1.0, max_channels: int = 512, group: int = 4) -> None:
        super().__init__()
        if size < 4 or 2 ** int(math.log2(size)) != size:
            raise ValueError(f"discriminator size must be a power of two >= 4, got {size}")

        def ch(r: int) -> int:
            return max(4, int(min(max_channels, 32768 // r) * width))

        self.group = group
        self.from_rgb = ConvLayer(3, ch(size), 1)
        blocks = []
        r = size
        while r > 4:
            blocks.append(ResBlock(ch(r), ch(r // 2)))
            r //= 2
        self.blocks = nn.Sequential(*blocks)
        self.final_conv = ConvLayer(ch(4) + 1, ch(4), 3)
        self.final_linear = EqualLinear(ch(4) * 16, ch(4))
        self.final_bias = nn.Parameter(torch.zeros(ch(4)))
        self.logit = EqualLinear(ch(4), 1)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))  # for the lazy R1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.from_rgb(x))
        out = self.final_conv(torch.cat([out, self._stddev(out)], 1))
        return self.logit(fused_lrelu(self.final_linear(out.flatten(1)), self.final_bias))

    def _stddev(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        group = min(self.group, b)
        if b % group:
            group = 1
        y = x.view(group, -1, *x.shape[1:])
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))
        return y.view(-1, 1, 1, 1).repeat(group, 1, h, w)


def optimizer(disc: nn.Module, lr: float, betas: tuple[float, float], every: int) -> torch.optim.Adam:
    """Adam for D with StyleGAN2's lazy-regularisation correction (lr * c, betas ** c)."""
    c = every / (every + 1) if every > 0 else 1.0
    return torch.optim.Adam(disc.parameters(), lr=lr * c, betas=(betas[0] ** c, betas[1] ** c))


def r1_penalty(critic: nn.Module, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[|grad_x D(x)|^2] over real images x, the logits); the gradient is w.r.t. the images."""
    real = real.detach().requires_grad_(True)
    logits = critic(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean(), logits


def adversarial(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's non-saturating logistic loss."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def train_step(critic: nn.Module, disc: Discriminator, opt: torch.optim.Optimizer, real: torch.Tensor,
               fake: torch.Tensor, gamma: float = R1_GAMMA, every: int = R1_EVERY) -> dict[str, float]:
    """One D update on real and fake images in [-1, 1], then, every ``every``-th time, an R1 update.

    The R1 update is a separate optimiser step, as StyleGAN2's lazy regularisation does (its
    "Dreg" phase). ``critic`` is what runs the network (``disc``, or its DistributedDataParallel
    wrapper); ``disc`` holds the step counter. The fake images never carry a gradient back:
    D's losses train D only.
    """
    loss = adversarial(critic(real.detach()), critic(fake.detach()))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    values = {"d": float(loss.detach())}
    if gamma > 0 and every > 0 and int(disc.steps) % every == 0:
        penalty, logits = r1_penalty(critic, real)
        # 0 * logits: every parameter takes part in the backward (the last bias does not
        # change grad_x), which DistributedDataParallel requires.
        opt.zero_grad(set_to_none=True)
        (gamma / 2 * every * penalty + 0 * logits.sum()).backward()
        opt.step()
        values["r1"] = float(penalty.detach())
    disc.steps += 1
    return values
