"""The spellings of the element-wise torch functions the function table gives one handler
each (:mod:`function_table`): activations (with the softmax kernels a graph in core ATen
calls), norms and dropouts, unary math, comparisons and other boolean results, selects and
fills, and binary ops priced as multiplications."""

from __future__ import annotations

__all__ = ["ACTIVATIONS", "COMPARE", "DIVIDE", "DROPOUTS", "MATH", "NORMS", "SELECT"]

ACTIVATIONS = (
    "F.relu F.relu_ torch.relu torch.relu_ Tensor.relu Tensor.relu_ F.relu6 F.leaky_relu "
    "F.leaky_relu_ F.elu F.elu_ F.selu F.celu F.gelu F.silu F.mish F.hardswish F.hardsigmoid "
    "F.hardtanh F.hardtanh_ F.sigmoid torch.sigmoid torch.sigmoid_ Tensor.sigmoid "
    "Tensor.sigmoid_ F.tanh torch.tanh torch.tanh_ Tensor.tanh Tensor.tanh_ F.softmax "
    "torch.softmax Tensor.softmax F.log_softmax torch.log_softmax Tensor.log_softmax "
    "F.softplus F.prelu F.logsigmoid F.softsign F.tanhshrink F.threshold F.softmin "
    "F.softshrink F.hardshrink Tensor.hardshrink F.rrelu F.rrelu_ F.gumbel_softmax "
    "torch.special.expit torch.special.softmax torch.special.log_softmax torch.celu torch.selu "
    "torch.rrelu torch._softmax torch._log_softmax torch._safe_softmax"
)
NORMS = "F.batch_norm F.layer_norm F.group_norm F.instance_norm F.local_response_norm F.rms_norm"
DROPOUTS = (
    "F.dropout F.dropout1d F.dropout2d F.dropout3d F.alpha_dropout F.feature_alpha_dropout "
    "torch.feature_dropout torch.feature_dropout_ torch.feature_alpha_dropout "
    "torch.feature_alpha_dropout_ torch.dropout_ torch.alpha_dropout_"
)

MATH = (
    "torch.abs Tensor.abs Tensor.abs_ Tensor.__abs__ torch.neg Tensor.neg Tensor.neg_ "
    "Tensor.__neg__ torch.exp Tensor.exp Tensor.exp_ torch.log Tensor.log torch.log1p "
    "torch.expm1 torch.sqrt Tensor.sqrt torch.rsqrt Tensor.rsqrt torch.square Tensor.square "
    "torch.reciprocal Tensor.reciprocal torch.sign Tensor.sign torch.clamp Tensor.clamp "
    "Tensor.clamp_ torch.clip Tensor.clip Tensor.clip_ torch.sin torch.cos torch.erf Tensor.erf "
    "Tensor.sin Tensor.cos torch.tan torch.sinh torch.cosh torch.asin torch.acos torch.atan "
    "Tensor.atan torch.erfc torch.erfinv Tensor.log1p Tensor.expm1 torch.log2 Tensor.log2 "
    "torch.log10 Tensor.log10 torch.exp2 torch.floor Tensor.floor torch.ceil Tensor.ceil "
    "torch.round Tensor.round torch.trunc Tensor.trunc torch.frac Tensor.frac torch.clamp_min "
    "Tensor.clamp_min torch.clamp_max Tensor.clamp_max torch.nan_to_num Tensor.nan_to_num "
    "torch.sinc Tensor.sinc torch.logit Tensor.logit torch.angle Tensor.angle torch.renorm "
    "Tensor.renorm torch.lgamma Tensor.lgamma torch.digamma Tensor.digamma torch.i0 Tensor.i0 "
    "torch.special.erf torch.special.erfc torch.special.erfinv torch.special.expm1 "
    "torch.special.exp2 torch.special.log1p torch.special.logit torch.special.sinc "
    "torch.special.round torch.special.i0 torch.special.ndtr torch.special.ndtri "
    "torch.special.log_ndtr torch.special.digamma torch.special.gammaln torch.special.entr "
    "Tensor.tan Tensor.sinh Tensor.cosh Tensor.asin Tensor.acos Tensor.erfc Tensor.erfinv "
    "Tensor.exp2 torch.asinh Tensor.asinh torch.acosh Tensor.acosh torch.atanh Tensor.atanh "
    "torch.arcsin torch.arccos torch.arctan torch.arcsinh torch.arccosh torch.arctanh "
    "torch.rad2deg Tensor.rad2deg torch.deg2rad Tensor.deg2rad torch.sgn Tensor.sgn "
    "torch.positive Tensor.positive Tensor.__pos__ torch.fix Tensor.fix torch.negative "
    "Tensor.negative torch.absolute Tensor.absolute Tensor.arcsin Tensor.arccos Tensor.arctan "
    "Tensor.arcsinh Tensor.arccosh Tensor.arctanh torch.special.i0e torch.special.i1 "
    "torch.special.i1e torch.special.psi torch.special.erfcx torch.mvlgamma Tensor.mvlgamma "
    "torch.special.multigammaln torch.special.chebyshev_polynomial_t "
    "torch.special.chebyshev_polynomial_u torch.special.chebyshev_polynomial_v "
    "torch.special.chebyshev_polynomial_w torch.special.shifted_chebyshev_polynomial_t "
    "torch.special.shifted_chebyshev_polynomial_u torch.special.shifted_chebyshev_polynomial_v "
    "torch.special.shifted_chebyshev_polynomial_w torch.special.hermite_polynomial_h "
    "torch.special.hermite_polynomial_he torch.special.laguerre_polynomial_l "
    "torch.special.legendre_polynomial_p torch.special.bessel_j0 torch.special.bessel_j1 "
    "torch.special.bessel_y0 torch.special.bessel_y1 torch.special.modified_bessel_i0 "
    "torch.special.modified_bessel_i1 torch.special.modified_bessel_k0 "
    "torch.special.modified_bessel_k1 torch.special.scaled_modified_bessel_k0 "
    "torch.special.scaled_modified_bessel_k1 torch.special.spherical_bessel_j0 "
    "torch.special.airy_ai"
)

COMPARE = (
    "torch.eq Tensor.eq Tensor.__eq__ torch.ne Tensor.ne Tensor.__ne__ torch.lt Tensor.lt "
    "Tensor.__lt__ torch.le Tensor.le Tensor.__le__ torch.gt Tensor.gt Tensor.__gt__ torch.ge "
    "Tensor.ge Tensor.__ge__ torch.logical_and Tensor.logical_and torch.logical_or "
    "Tensor.logical_or torch.logical_xor Tensor.logical_xor torch.logical_not "
    "Tensor.logical_not torch.isnan Tensor.isnan torch.isinf Tensor.isinf torch.isfinite "
    "Tensor.isfinite torch.signbit Tensor.signbit torch.isposinf Tensor.isposinf "
    "torch.isneginf Tensor.isneginf torch.isreal Tensor.isreal torch.greater Tensor.greater "
    "torch.greater_equal Tensor.greater_equal torch.less Tensor.less torch.less_equal "
    "Tensor.less_equal torch.not_equal Tensor.not_equal torch.isclose Tensor.isclose"
)

SELECT = (
    "torch.masked_fill Tensor.masked_fill Tensor.masked_fill_ torch.where Tensor.where "
    "Tensor.__and__ Tensor.__rand__ Tensor.__iand__ Tensor.__or__ Tensor.__ror__ Tensor.__ior__ "
    "Tensor.__xor__ Tensor.__rxor__ Tensor.__ixor__ Tensor.__invert__ torch.bitwise_not "
    "Tensor.bitwise_not torch.bitwise_and Tensor.bitwise_and torch.bitwise_or Tensor.bitwise_or "
    "Tensor.fill_ Tensor.zero_ torch.fill Tensor.fill_diagonal_ Tensor.bernoulli_ Tensor.bernoulli torch.bernoulli "
    "Tensor.uniform_ Tensor.normal_ Tensor.random_ Tensor.exponential_ Tensor.geometric_ "
    "Tensor.log_normal_ Tensor.cauchy_ torch.heaviside Tensor.heaviside torch.lerp Tensor.lerp "
    "torch.bitwise_xor Tensor.bitwise_xor torch.bitwise_left_shift Tensor.bitwise_left_shift "
    "torch.bitwise_right_shift Tensor.bitwise_right_shift Tensor.__lshift__ Tensor.__rshift__ "
    "Tensor.__rlshift__ Tensor.__rrshift__ Tensor.__ilshift__ Tensor.__irshift__"
)

DIVIDE = (
    "Tensor.__floordiv__ Tensor.__rfloordiv__ Tensor.__mod__ Tensor.__rmod__ Tensor.__imod__ "
    "Tensor.__ifloordiv__ torch.floor_divide Tensor.floor_divide torch.remainder "
    "Tensor.remainder torch.fmod Tensor.fmod torch.atan2 Tensor.atan2 torch.hypot Tensor.hypot "
    "torch.fmax torch.fmin torch.copysign torch.logaddexp torch.xlogy torch.true_divide "
    "Tensor.true_divide Tensor.true_divide_ torch.logaddexp2 torch.ldexp Tensor.ldexp "
    "torch.nextafter Tensor.nextafter torch.gcd Tensor.gcd torch.lcm Tensor.lcm torch.multiply "
    "Tensor.multiply torch.divide Tensor.divide torch.arctan2 Tensor.arctan2 Tensor.fmax "
    "Tensor.fmin Tensor.logaddexp Tensor.logaddexp2 Tensor.copysign Tensor.xlogy "
    "torch.special.xlogy torch.special.xlog1py torch.igamma "
    "Tensor.igamma torch.igammac Tensor.igammac torch.special.gammainc torch.special.gammaincc "
    "torch.special.zeta"
)
