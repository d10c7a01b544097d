"""The cumulative receptive field of every node, walking the DAG once in topological order.

Rules (per spatial axis, in network-input pixels):

- a node with a sliding window (convolution, pooling, polyphase, space-to-depth, and explicit
  padding built with :meth:`GraphBuilder.pad`, a kernel-1 window whose padding shifts the
  start by ``-before * jump``) composes its window onto its parent's field
  (:meth:`Window.receptive`);
- shape-preserving ops (normalisation, activation, dropout) pass the field through, and so
  does a reduction over other axes than the spatial ones (the batch, the channels, the
  branches SKNet stacks), wherever it leaves them (a mean or sum over spatial axes is built
  as adaptive pooling; see :meth:`GraphBuilder.reduce`); adaptive pooling from ``n`` to ``m``
  positions, ``m`` dividing ``n``, is a pool of kernel and stride ``n / m``, and to other
  sizes reads each output's own window (:meth:`ReceptiveField.gathered`; a jump of
  ``n / m`` pixels, a fraction);
- an op whose every input already sees the whole input sees it too;
- add, multiply, concatenate and stack take the union of their parents' fields
  (:meth:`ReceptiveField.merge`; a broadcast squeeze-excite gate makes it whole); maps on
  different grids (their jumps differ) have no one field: **unknown**; a concatenation along
  a spatial axis shifts positions: **unknown**, unless every parent's field is the whole
  input;
- a reshape that drops spatial axes of one position (a squeeze; a frame picked by an
  integer index) keeps the field of every input axis: after it windows compose on the axes
  left, and frames stacked back in order on the axis they were picked along are a clip
  again, each position reading its own frame (:mod:`.rf_squeeze`); one that folds spatial
  axes into the channels (a CRNN's ``(N, C*H, W)``) gives each folded axis the union of its
  positions' fields and keeps the others';
- flatten, linear layers and tensor products (``@``, attention) on flattened features,
  adaptive pooling to one position and reshapes that merge spatial axes mix every position:
  the field is the **whole input** (:data:`WHOLE`); on a map of one position (a sequence
  read at its last step) they keep that position's field, unless it covers the input;
- a transposed window (a transposed convolution; nearest or linear upsampling and pixel
  shuffle by whole factors) gives each output the union of the fields of the inputs written
  to it (:meth:`ReceptiveField.scattered`): neighbouring outputs' fields then repeat in
  phases, and the size is the largest; past the input's resolution the jump is a fraction
  of a pixel; where an output has no input: **unknown**;
- any other resize of a modelled interpolation (sizes that are not whole multiples,
  ``align_corners``, a scale factor whose inverse places the sources) gives each output
  the union of the fields of the inputs it reads (:class:`~stridescope.ir.Resample`,
  :meth:`ReceptiveField.gathered`): a jump of ``n / out`` times the parent's;
- cropping (a padding window with negative amounts) composes like padding;
- a permute (:attr:`OpKind.PERMUTE`), and a reshape that keeps every spatial axis whole
  (splitting the channels), keep the field (positions stay, axes move); after them,
  ops that keep positions (normalisation, activation, element-wise merges, a dense layer on
  a non-spatial last axis) keep it until a permute puts the axes back; anything else on moved
  axes (a conv sliding over them, a reduction) is **unknown**;
- data movement that puts positions elsewhere on their own axes (a flip, a roll, an index of
  constants along a spatial axis: :attr:`~stridescope.ir.Resample.picks`, which coverage reads
  output by output) is **unknown**: its outputs' fields follow no pattern; one that moves only
  other axes (a flip of the channels) keeps the field;
- data movement that picks along axes that are not spatial with an index tensor
  (``x[:, idx]``, a gather of one phase per position, an embedding's rows at token ids: it
  records where the positions are) keeps the field of what it picks from; other data movement (flip, roll, integer indexing
  of tokens: :attr:`OpKind.MOVE`) keeps a whole-input field whole; otherwise positions may
  have moved: **unknown**; slicing that keeps every axis is a kernel-1 window
  (:meth:`GraphBuilder.slice`) and composes like one;
- a resize at positions another traced tensor gives (``grid_sample``'s grid, ``roi_align``'s
  boxes) may read anywhere: the **whole input**;
- interpolation not modelled (lanczos), padding of the batch axis and
  uncounted ops: **unknown** (``None``), and so is everything after them;
- a tensor whose values read no input (made from a shape: ``x.new_ones(...)``, stochastic
  depth's ``bernoulli_`` mask, a position encoding from weights and a coordinate grid, Swin's
  shifted-window attention mask) has no field (:data:`NO_INPUT`) and is left out of the ops
  that meet it: their field is that of their other inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from stridescope.analysis.node_facts import NodeFacts, node_facts
from stridescope.analysis.rf_squeeze import OTHER, Walk, channel_fold, partial, per_sample, squeezed
from stridescope.analysis.rf_state import MERGES, NO_INPUT, WHOLE, RFState, merged, scattered
from stridescope.geometry import ReceptiveField, adaptive_spans
from stridescope.geometry.receptive import Span
from stridescope.ir import Graph, Node, OpKind, Shape
from stridescope.ir.axes import axes_window

# per-node OpKind members as module names (``OpKind.X`` is slow on Python 3.11: see builder_core)
_FLATTEN, _SAMPLED = OpKind.FLATTEN, OpKind.INTERPOLATE
_CONCAT, _INPUT, _LINEAR, _MATMUL, _MOVE, _PERMUTE, _REDUCE, _RESHAPE, _SLICE = (
    OpKind.CONCAT,
    OpKind.INPUT,
    OpKind.LINEAR,
    OpKind.MATMUL,
    OpKind.MOVE,
    OpKind.PERMUTE,
    OpKind.REDUCE,
    OpKind.RESHAPE,
    OpKind.SLICE,
)

__all__ = ["MERGES", "NO_INPUT", "WHOLE", "RFState", "merged", "receptive_fields"]

_PASS = {OpKind.NORM, OpKind.ACTIVATION, OpKind.DROPOUT}
_GLOBAL = {OpKind.FLATTEN, OpKind.RESHAPE}
_ADAPTIVE = {OpKind.ADAPTIVE_AVGPOOL, OpKind.ADAPTIVE_MAXPOOL}
_DENSE = {OpKind.LINEAR, OpKind.MATMUL}
# ops that mix every position of their input (flatten, a reshape merging the spatial axes,
# dense layers and products, adaptive pools, reductions): on one position, its field
_MIXING = _GLOBAL | _DENSE | _ADAPTIVE | {OpKind.REDUCE}


def _reduced(graph: Graph, node: Node, parent: RFState) -> RFState:
    """An adaptive pool's field, or a reduction's: over batch / channels, positions stay
    where they are (where the builder put them, if the rank changed); over every spatial axis
    (``spatial_at`` empty) or with no spatial axis left, every position mixes."""
    out = graph.spatial(node.output_shape)
    if node.kind is not _REDUCE:  # adaptive pooling
        if all(d == 1 for d in out):
            return None if parent is None else WHOLE
        return _adaptive(parent, graph.spatial(node.input_shape), out)
    if node.spatial_at == ():  # over every spatial axis, wherever they were
        return None if parent is None else WHOLE
    keeps = node.spatial_at is not None or (  # (the builder put them where they went)
        len(node.input_shape) == len(node.output_shape) and graph.spatial(node.input_shape) == out
    )
    if keeps:
        return parent
    return WHOLE if not out and parent is not None else None


def _adaptive(parent: RFState, sizes: Shape, out: Shape) -> RFState:
    """Adaptive pooling from ``n`` to ``m`` positions: with ``m`` dividing ``n`` on every
    axis a pool of kernel and stride ``n / m`` (torchvision VGG's ``AdaptiveAvgPool2d(7)``
    on 7x7: the identity); other sizes have windows of two widths, each output read through
    its own (:func:`~stridescope.geometry.adaptive_spans`: a fractional jump)."""
    if not isinstance(parent, tuple) or len(parent) != len(sizes) or len(out) != len(sizes):
        return None
    pairs = [(n, m) for n, m in zip(sizes, out, strict=True) if n is not None and m]
    if len(pairs) != len(sizes):
        return None
    if any(n % m for n, m in pairs):
        return _gathered(parent, [adaptive_spans(n, m) for n, m in pairs], sizes)
    return tuple(r.then(n // m, n // m) for r, (n, m) in zip(parent, pairs, strict=True))


def _gathered(
    parent: RFState,
    reads: Sequence[Sequence[Span]] | None,
    sizes: Shape,
    steps: Sequence[Fraction | None] | None = None,
) -> RFState:
    """The field of an op whose outputs each read their own ``[first, end)`` inputs, per
    axis, the sources ``steps`` inputs apart per output (:meth:`ReceptiveField.gathered`);
    unknown where the reads are not known."""
    if not isinstance(parent, tuple) or reads is None:
        return parent if parent == WHOLE else None
    if len(parent) != len(reads) or len(sizes) != len(reads):
        return None
    found = []
    for axis, (field, spans, n) in enumerate(zip(parent, reads, sizes, strict=True)):
        after = None if n is None else field.gathered(spans, n, steps[axis] if steps else None)
        if after is None:
            return None
        found.append(after)
    return tuple(found)


def _over_positions(graph: Graph, node: Node) -> bool:
    """Whether a dense layer or a product reads every position of the one spatial axis
    there is (a rank-2 input's, or one a permute moved): a dense layer's last axis, which it
    sums over; a product's other operands' last two: attention's values, ``(N, heads, L, d)``,
    summed over ``L``, and its keys, which the scores ``q @ k.transpose(-2, -1)`` hold along
    their last axis (each score reads one key; the softmax after them reads them all, so
    their row says the whole input one node early)."""
    for i, p in enumerate(node.parents):  # (a parent's axes where they are, or the layout's:
        above = graph.nodes[p]  # ``k.transpose(1, 2)`` of ``(N, T, C)`` is ``(N, C, T)``)
        at, rank = graph.spatial_axes_of(above), len(above.output_shape)
        if at == (rank - 1,) or (i > 0 and at == (rank - 2,)):
            return True
    return False


def _one_position(graph: Graph, parent: Node, facts: NodeFacts) -> bool:
    """Whether ``parent`` holds one position: spatial sizes all 1 (a map read at one step,
    ``y[:, :, -1:]``), or no spatial axis left of known size (that step's axis dropped, and
    the field carried: see :func:`_carried`)."""
    sizes = facts.sizes[parent.id]
    if sizes is not None:
        return all([d == 1 for d in sizes])
    return None not in parent.output_shape and not graph.spatial_of(parent)


def _carried(field: tuple[ReceptiveField, ...], input_sizes: Shape | None) -> RFState:
    """What an op mixing the positions of a one-position map sees: that position's field,
    or the whole input where the field covers it (a classifier on a 1x1 map)."""
    if input_sizes is None or len(input_sizes) != len(field):
        return field
    covers = all(
        [r.start <= 0 and r.end >= (n or 0) for r, n in zip(field, input_sizes, strict=True)]
    )
    return WHOLE if covers else field


def _step(graph: Graph, node: Node, parents: list[RFState], facts: NodeFacts) -> RFState:
    kind = node.kind
    if kind is _INPUT:
        return tuple(ReceptiveField() for _ in graph.spatial_of(node))
    if not node.counted or not parents:
        return None
    parent = parents[0]
    if parent == WHOLE and all([p == WHOLE for p in parents]):
        return WHOLE  # every value it reads sees the whole input already, and so does it
    if kind is _PERMUTE:  # the axes move, every position stays itself
        return parent
    if kind is _SAMPLED and len(parents) > 1 and node.resample is None and node.window is None:
        return None if parent is None else WHOLE  # where a grid or boxes say: anywhere
    if (kind is _RESHAPE or kind is _MOVE) and node.spatial_at is not None:
        return parent  # spatial axes kept whole, or each position picked along other axes
    if (
        kind in _MIXING
        and isinstance(parent, tuple)
        and len(node.parents) == 1
        and _one_position(graph, graph.nodes[node.parents[0]], facts)
    ):  # the field of a one-position map's only position
        return _carried(parent, facts.sizes[0])
    if facts.parent_moved[node.id]:
        # a permute moved the spatial axes: only ops that carry the move keep the field
        keeps = node.spatial_at is not None or kind in _GLOBAL or kind is _MOVE
        if not keeps:
            if kind in _DENSE and parent is not None and _over_positions(graph, node):
                return WHOLE  # a dense layer over a spatial axis (a rank-2 signal's)
            if kind in MERGES and merged(parents) == WHOLE:
                return WHOLE  # (a residual add after attention: it reads every position)
            return WHOLE if parent == WHOLE else None
    if kind in _PASS:  # (with several inputs, a select: torch.where(mask, a, b))
        return parent if len(parents) == 1 else merged(parents)
    if kind in MERGES:
        placed = facts.placed
        joined = kind is _CONCAT and any(placed[p] != placed[node.id] for p in node.parents)
        if joined:  # along a spatial axis: the second part's positions shift (unless every
            return None  # part sees the whole input, as _step's first rule says)
        return merged(parents)
    return _one_parent(graph, node, parent, facts)


def _one_parent(graph: Graph, node: Node, parent: RFState, facts: NodeFacts) -> RFState:
    """:func:`_step` of the ops that read one parent's positions: windows, transposed
    windows, resizes through their coordinates, dense layers, reductions, data movement."""
    window, scatter = node.window, node.scatter
    if node.spatial_at is not None:  # a layer's window on the axes where they are
        window, scatter = axes_window(node, graph.layout)
    if window is not None:
        if isinstance(parent, tuple) and len(parent) == len(window.kernel):
            # a 1x1 window composes to the same field: keep the parent's (no new objects)
            return parent if window.identity else window.receptive(parent)
        return parent if parent == WHOLE else None
    if scatter is not None:
        return scattered(scatter, parent)
    if node.resample is not None and node.spatial_at is None:  # its own source coordinates
        if node.resample.mode == "picks":  # (positions out of order: fields in no pattern)
            return parent if not any(node.resample.picks) else None
        sizes, out = facts.sizes[node.parents[0]], facts.sizes[node.id]
        if sizes is None or out is None:
            return WHOLE if parent == WHOLE else None
        steps = node.resample.steps(sizes, out)
        return _gathered(parent, node.resample.reads(sizes, out), sizes, steps)
    if node.kind in (_LINEAR, _MATMUL):
        # a dense layer on the last axis of a channels-last feature map keeps positions
        # (an NHWC graph, or axes a permute moved: the node then carries ``spatial_at``)
        spatial = graph.spatial(node.input_shape)
        nhwc = graph.layout == "nhwc" and len(spatial) > 0 and node.kind is _LINEAR
        keeps = nhwc or facts.moved[node.id]
        return parent if keeps else (None if parent is None else WHOLE)
    if node.kind in _ADAPTIVE or node.kind is _REDUCE:
        return _reduced(graph, node, parent)
    if node.kind in (_MOVE, _SLICE):  # (a windowed slice composed above; moved from the
        return None  # whole input, still the whole input: the first rule)
    if node.kind in _GLOBAL:
        return None if parent is None else WHOLE
    return None


def _drops(node: Node, sizes: Shape | None) -> bool:
    """Whether a reshape may drop spatial axes of one position or fold some into the
    channels (:func:`~.rf_squeeze.squeezed` decides): not one whose spatial axes the builder
    kept whole (a channel shuffle's)."""
    return sizes is not None and (1 in sizes or node.spatial_at is None)


def _state(walk: Walk, node: Node, parents: tuple[int, ...]) -> RFState:
    """:func:`receptive_fields`'s field of ``node``, given its parents' (``parents``: those
    that read the input)."""
    kept, states = walk.kept, walk.states
    if kept and parents[0] in kept:  # (rare: the map of such a squeeze, or after it)
        squeeze = node.kind is _RESHAPE or node.kind is _FLATTEN
        read: RFState | Literal["other"] = squeezed(walk, node) if squeeze else None
        if read is None:
            read = partial(walk, node, parents)
        if read == OTHER:  # read as any node is, on a field of every input axis
            read = _step(walk.graph, node, [states[p] for p in parents], walk.facts)
        return read
    if (
        (node.kind is _RESHAPE or node.kind is _FLATTEN)  # (a squeeze: see rf_squeeze)
        and len(node.output_shape) < len(node.input_shape)
        and len(parents) == 1
        and type(states[parents[0]]) is tuple
        and _drops(node, walk.facts.sizes[parents[0]])
        and (found := squeezed(walk, node)) is not None
    ):  # spatial axes of one position dropped, or folded: see rf_squeeze
        return found
    if (found := per_sample(walk, node)) is not None:  # (frames folded into a batch of one)
        return found
    if (found := channel_fold(walk, node)) is not None:  # (rows made the channels)
        return found
    return _step(walk.graph, node, [states[p] for p in parents], walk.facts)


def _after(walk: Walk, node: Node, parents: tuple[int, ...], state: RFState) -> RFState:
    """The field of a node after a fold or a global pool (``walk.folds``: where the field is
    lost, the whole input, what a fold said before it was followed) or after one whose batch
    axis holds a spatial axis's positions, one per sample (``walk.batched``, see
    :func:`~.rf_squeeze.per_sample`: unknown where the batch axis changes, the frames taken
    out of it and mixed, ``view(N, T, ...)`` then a mean over them, where a field of one
    frame would be too small); the node recorded as one more such where its field is
    followed."""
    folds, batched, states = walk.folds, walk.batched, walk.states
    if folds and not folds.isdisjoint(parents):
        if state is None and all([p in folds or states[p] is not None for p in parents]):
            state = WHOLE
        elif type(state) is tuple:
            folds.add(node.id)
    if batched and not batched.isdisjoint(parents):
        batch, nodes = node.output_shape[:1], walk.graph.nodes
        if any([p in batched and nodes[p].output_shape[:1] != batch for p in parents]):
            folds.discard(node.id)  # (unknown, not the whole input a fold's loss says)
            return None
        if type(state) is tuple:
            batched.add(node.id)
    return state


def receptive_fields(graph: Graph, facts: NodeFacts | None = None) -> list[RFState]:
    """One state per node: a field per spatial axis, :data:`WHOLE`, or ``None`` (unknown).
    ``facts``: the graph's :func:`node_facts`, when the caller has them.

    >>> from stridescope.ir import GraphBuilder
    >>> b = GraphBuilder((1, 32, 32, 3), "nhwc")
    >>> x = b.conv(b.input, "c", out_channels=8, kernel=3)
    >>> x = b.pool(x, "p", mode="max", kernel=2)
    >>> x = b.conv(x, "c1", out_channels=8, kernel=1, stride=2)
    >>> x = b.flatten(x, "f")
    >>> [s if s is None or isinstance(s, str) else s[0].size for s in receptive_fields(b.build())]
    [1, 3, 4, 4, 'whole input']
    """
    facts = node_facts(graph) if facts is None else facts
    walk = Walk(graph, facts)  # (its lists, named here: read at every node)
    states, kept, folds, batched = walk.states, walk.kept, walk.folds, walk.batched
    free: set[int] = set()  # nodes whose values read no input (see below); most graphs: none
    for node in graph.nodes:
        parents = node.parents
        if not parents and node.kind is not _INPUT:
            free.add(node.id)  # a tensor made from a shape: x.new_ones(...), ones_like(x)
            states.append(NO_INPUT)
            continue
        if free and not free.isdisjoint(parents):
            # a mask or gate made from such tensors (stochastic depth's bernoulli_) reads no
            # input: where it meets the input's values, the field is theirs alone
            parents = tuple(p for p in parents if p not in free)
            if not parents:
                free.add(node.id)
                states.append(NO_INPUT)
                continue
        if len(parents) == 1 and node.counted and not (kept and parents[0] in kept):
            above = states[parents[0]]  # most nodes: as _step gives it, sooner
            if above is WHOLE or (node.kind in _PASS and not facts.parent_moved[node.id]):
                if folds and parents[0] in folds:
                    folds.add(node.id)
                if batched and parents[0] in batched:
                    batched.add(node.id)
                states.append(above)  # (the whole input already, or the parent's field)
                continue
        if (
            (kept and parents[0] in kept)
            or (
                (node.kind is _RESHAPE or node.kind is _FLATTEN)
                and len(node.output_shape) < len(node.input_shape)  # (may drop or fold axes)
            )
            or (
                (node.window is not None or node.kind is _LINEAR)
                and node.spatial_at is None
                and facts.parent_moved[node.id]  # (a parent's axes not the layout's)
            )
        ):  # (the last: a window on the layout's axes after a spatial axis kept at the batch's
            # or the channels' place: per_sample, channel_fold)
            state = _state(walk, node, parents)
        elif len(parents) == 1:
            state = _step(graph, node, [states[parents[0]]], facts)
        else:
            state = _step(graph, node, [states[p] for p in parents], facts)
        if folds or batched:  # (after a fold, a pool or frames in the batch: most, none)
            state = _after(walk, node, parents, state)
        states.append(state)
    return states
