"""Models that build ``torch.distributions`` objects in their forward: a VAE's
``Normal(mu, std).rsample()``, a policy's ``Categorical(logits).sample()`` with ``log_prob``
and ``entropy``, a KL term. Each was refused: the distribution checks its parameters are in
its support (``torch._is_all_true(constraint.check(scale))``: a value read; on a traced
tensor it now holds, as in a healthy network), and
``log_prob`` checks ``isinstance(value, torch.Tensor)`` in torch's own code, which kept the
builtin answer for a traced tensor; ``Categorical.sample``'s ``torch.multinomial`` was
uncounted. A check of real tensors (a prior with a negative scale) still fails as torch's does."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import distributions as D
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from tests.frontends.pytorch.applied import traced_and_real


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 16, 3, 2, 1)
        self.mu, self.log_var = nn.Conv2d(16, 8, 1), nn.Conv2d(16, 8, 1)
        self.dec = nn.ConvTranspose2d(8, 3, 4, 2, 1)

    def forward(self, x: Any) -> Any:
        h = self.enc(x).relu()
        z = D.Normal(self.mu(h), (0.5 * self.log_var(h)).exp()).rsample()
        return self.dec(z)


class Policy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.logits, self.value = nn.Linear(8, 4), nn.Linear(8, 1)

    def forward(self, x: Any) -> Any:
        d = D.Categorical(logits=self.logits(x))
        return d.log_prob(d.sample()) + d.entropy() + self.value(x).squeeze(-1)


class Gaussian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mu = nn.Linear(8, 2)
        self.log_std = nn.Parameter(torch.zeros(2))

    def forward(self, x: Any) -> Any:
        d = D.Independent(D.Normal(self.mu(x), self.log_std.exp()), 1)
        prior = D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1)
        return d.log_prob(d.rsample()) + D.kl_divergence(d, prior)


@pytest.mark.parametrize(
    ("model", "shape"), [(VAE(), (1, 3, 32, 32)), (Policy(), (3, 8)), (Gaussian(), (3, 8))]
)
def test_a_distribution_in_the_forward_traces(model: nn.Module, shape: tuple[int, ...]) -> None:
    graph, real = traced_and_real(model.eval(), shape)
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert not graph.uncounted


def test_a_real_parameter_outside_the_support_fails_as_torch_does() -> None:
    class Negative(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mu = nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:  # (the check reads real values: torch's answer)
            prior = D.Normal(torch.zeros(2), torch.full((2,), -1.0))
            return self.mu(x) + prior.loc

    with pytest.raises(ValueError, match="scale"):
        Negative()(torch.randn(3, 8))
    with pytest.raises(StridescopeError, match="Expected parameter scale") as error:
        load_graph(Negative(), (3, 8))
    assert "\n" not in str(error.value)
