"""The rows of the function table whose handler is made per function (each runs its
function on meta tensors for its outputs' shapes and dtypes): reductions along an axis, scans,
sorts, FFTs, distances, the products and solves of ``torch.linalg``, element-wise functions
whose tensor is not their first argument (``torch.polygamma(n, x)``) and ``torch.isin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stridescope.frontends.pytorch.handlers import (
    along,
    elementwise,
    linalg,
    native,
    reduction,
    sampling,
    spectral,
)

__all__ = ["PER_FUNCTION"]

# Handlers made per function (they run it on meta for its output's shapes and dtypes)
PER_FUNCTION: list[tuple[Callable[[Any], Callable[..., Any]], str]] = [
    *linalg.PER_FUNCTION,
    *native.PER_FUNCTION,
    (lambda func: reduction.sum_to_size, "Tensor.sum_to_size"),
    (
        lambda func: elementwise.polygamma,
        "torch.polygamma torch.special.polygamma Tensor.polygamma",
    ),
    (lambda func: elementwise.isin, "torch.isin"),
    (spectral.distance(3), "F.cosine_similarity torch.cosine_similarity"),
    (spectral.distance(1), "F.pairwise_distance torch.pairwise_distance torch.dist Tensor.dist"),
    (spectral.fft("1"), "torch.fft.fft torch.fft.ifft torch.fft.rfft torch.fft.irfft"),
    (spectral.fft("1"), "torch.fft.hfft torch.fft.ihfft"),
    (spectral.fft("2"), "torch.fft.fft2 torch.fft.ifft2 torch.fft.rfft2 torch.fft.irfft2"),
    (spectral.fft("2"), "torch.fft.hfft2 torch.fft.ihfft2"),
    (spectral.fft("n"), "torch.fft.fftn torch.fft.ifftn torch.fft.rfftn torch.fft.irfftn"),
    (spectral.fft("n"), "torch.fft.hfftn torch.fft.ihfftn"),
    (along.reduction("max"), "torch.argmax Tensor.argmax torch.argmin Tensor.argmin"),
    (along.reduction("max"), "torch.median Tensor.median torch.nanmedian Tensor.nanmedian"),
    (along.reduction("max", dim_default=-1), "torch.mode Tensor.mode"),
    (along.reduction("max", dim_default=-1, k_first=True), "torch.kthvalue Tensor.kthvalue"),
    (along.reduction("max"), "torch.all Tensor.all torch.any Tensor.any torch._is_all_true"),
    (along.reduction("max"), "torch.aminmax Tensor.aminmax"),
    (
        along.reduction("max", dim_at=1),
        "torch.quantile Tensor.quantile torch.nanquantile Tensor.nanquantile",
    ),
    (
        along.reduction("avg"),
        "torch.logsumexp Tensor.logsumexp torch.prod Tensor.prod torch.nansum Tensor.nansum "
        "torch.nanmean Tensor.nanmean torch.count_nonzero Tensor.count_nonzero "
        "torch.special.logsumexp",
    ),
    (along.spread_pair, "torch.std_mean torch.var_mean"),
    (along.reduction("avg", dim_at=1), "torch.linalg.vector_norm"),
    (along.reduction("avg", dim_at=1, dim_default=-1), "torch.trapezoid torch.trapz"),
    (
        along.along("scan"),
        "torch.cumsum Tensor.cumsum torch.cumprod Tensor.cumprod torch.logcumsumexp "
        "Tensor.logcumsumexp torch.cummax Tensor.cummax torch.cummin Tensor.cummin",
    ),
    (along.along("whole", dim_default=-1), "torch.sort Tensor.sort torch.argsort Tensor.argsort"),
    (along.along("whole", dim_at=99, dim_default=0), "torch.msort Tensor.msort"),
    (along.along("whole", dim_at=1, dim_default=-1), "torch.topk Tensor.topk"),
    (along.along("diff", 1, -1), "torch.diff Tensor.diff torch.cumulative_trapezoid"),
    (
        sampling.fractional_max_pool,
        "F.fractional_max_pool2d F.fractional_max_pool3d F.fractional_max_pool2d_with_indices "
        "F.fractional_max_pool3d_with_indices",
    ),
    (
        sampling.data_sized,
        "torch.masked_select Tensor.masked_select torch.nonzero Tensor.nonzero torch.argwhere "
        "Tensor.argwhere torch.bincount Tensor.bincount",
    ),
    (
        sampling.unique,
        "torch.unique Tensor.unique torch.unique_consecutive Tensor.unique_consecutive",
    ),
]
