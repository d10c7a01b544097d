"""The class names of the raw Keras operations :mod:`.operations` reads, by how it reads
them (as :mod:`stridescope.frontends.pytorch.elementwise_names` spells torch's): element-wise
arithmetic (broadcasting, one MAC per output element and extra operand), element-wise math
on one tensor, comparisons and selections (no MACs), the reductions over ``axis`` of
:meth:`GraphBuilder.reduce`, products, reshapes, data movement, norms and sliding windows."""

from __future__ import annotations

from stridescope.ir import OpKind

__all__ = ["ARITH", "MOVES", "NORMS", "POINTWISE", "PRODUCTS", "REDUCE", "RESHAPES"]
__all__ += ["SELECTS", "SLIDING"]

ARITH = {
    "Add": OpKind.ADD,
    "Subtract": OpKind.ADD,
    "Maximum": OpKind.ADD,
    "Minimum": OpKind.ADD,
    "Fmax": OpKind.ADD,
    "Fmin": OpKind.ADD,
    "Multiply": OpKind.MUL,
    "Divide": OpKind.MUL,
    "TrueDivide": OpKind.MUL,
}
_DIVIDES = "DivideNoNan Arctan2 Fmod Gcd Lcm Ldexp Logaddexp Logaddexp2 Nextafter Hypot"
ARITH |= dict.fromkeys(_DIVIDES.split(), OpKind.MUL)  # priced as torch's are (a division)
_POINTWISE_NAMES = (
    "Relu Relu6 Sigmoid Softplus Softsign Silu LeakyRelu HardSigmoid HardSilu Elu Selu Gelu "
    "Celu TanhShrink HardTanh SoftShrink HardShrink Squareplus LogSigmoid SparsePlus "
    "Threshold Softmax LogSoftmax Sparsemax SparseSigmoid Tanh Abs Absolute Fabs Negative "
    "Exp Exp2 Expm1 Log Log1p Log2 Log10 Sqrt Cbrt Rsqrt Square Clip Erf Erfc Erfinv Sign "
    "Reciprocal Cos Sin Tan Cosh Sinh Arccos Arcsin Arctan Arccosh Arcsinh Arctanh Sinc I0 "
    "Deg2rad Rad2deg Angle Conjugate Floor Ceil Round Trunc Cast ReLU"
)
POINTWISE = frozenset(_POINTWISE_NAMES.split())
REDUCE = {"Mean": "avg", "Sum": "avg", "Max": "max", "Min": "max"}
PRODUCTS = frozenset({"Matmul", "Einsum", "DotProductAttention"})
RESHAPES = frozenset({"Reshape", "ExpandDims", "Squeeze", "Ravel"})
MOVES = frozenset(
    {"Stack", "GetItem", "Split", "Tile", "Pad", "BroadcastTo", "Repeat", "Flip", "Roll"}
    | {"Take", "TakeAlongAxis", "OneHot", "Tril", "Triu", "Diagonal", "Unstack", "ConvertToTensor"}
    | {"Slice", "DepthToSpace", "SpaceToDepth", "Fliplr", "Flipud", "Rot90", "Hsplit", "Vsplit"}
    | {"Dsplit", "ArraySplit", "View", "ViewAsComplex", "ViewAsReal", "Diagflat", "EmptyLike"}
    | {"Unfold", "MultiHot", "Hstack", "Vstack", "Dstack", "Append"}
)
# comparisons, logical ops and selections: broadcasting, no MACs (as the PyTorch tracer's)
_SELECTS_NAMES = (
    "Greater GreaterEqual Less LessEqual Equal NotEqual LogicalAnd LogicalOr LogicalXor "
    "LogicalNot Where IsNan IsInf IsFinite Isnan Isinf Isfinite Isneginf Isposinf Isreal "
    "Isclose Signbit BitwiseNot BitwiseInvert BitwiseLeftShift BitwiseRightShift LeftShift "
    "RightShift IsIn Heaviside"
)
SELECTS = frozenset(_SELECTS_NAMES.split())
NORMS = frozenset({"LayerNorm", "RMSNorm", "RmsNorm", "BatchNorm", "Normalize"})
SLIDING = frozenset({"MaxPool", "AveragePool", "Conv", "DepthwiseConv", "SeparableConv"})
