"""``scan``: a loop over the time axis whose step is a sub-graph, traced once.

A recurrent layer over a cell graphc has no whole-sequence op for (a user's cell, a
``StackedRNNCells`` of them, ``ConvLSTMCell``) records its step *once*, on symbolic
per-step tensors, as the *body* of one ``scan`` node; the kernel runs the body once per
time step. The number of steps is then known only at run time, so ``Input((None, f))``
works, and the graph stays one node however long the sequences are.

The node::

    scan(*init_carries, *sequences, *captured) -> (*final_carries, *stacked_outputs)

- ``body`` (attribute): a ``ScanBody`` holding the step's ``Graph``. Its inputs are the
  carries, one time slice of each sequence (``sequence[:, t]``) and the *captured* values
  (the weights and outer tensors the step reads); its outputs are the new carries, then
  the per-step outputs.
- ``n_carry``, ``n_seq``: how the inputs split; what is left is captured.
- ``reverse``: the sequences are read from the last step to the first (``go_backwards``);
  the stacked outputs are in processing order, as Keras's.
- sequences are ``(batch, time, ...)``; a per-step output ``(batch, ...)`` is stacked into
  ``(batch, time, ...)``. With ``axis=0`` (``keras.ops.scan``: ``graphc.ops.scan`` on
  symbolic tensors) time is the leading axis instead: a sequence ``(time, ...)`` is read
  as ``sequence[t]`` and a per-step output of any shape is stacked into ``(time, ...)``;
  a missing ``axis`` is 1.
- ``index_order`` (default False): with ``reverse``, the stacked outputs are put back in
  the sequences' order (``keras.ops.scan``'s ``reverse``: ``ys[t]`` from ``xs[t]``)
  instead of the processing order.

The op has a variable number of outputs: ``n_outputs = 2`` only marks it multi-output
(the kernel always returns a tuple, one array per node output).

Running the body: the NumPy backend's ``Executor``, per step (this module sits below the
backends, which register it through ``set_executor_factory`` when imported). The VJP is
backpropagation through time over that executor's backward pass: in training the kernel
keeps each step's saved activations for the VJP (a *tape*, keyed by the node's first
output array, dropped with it), recorded for the gradients the previous VJP wanted (the
weights' and the carries', say, not the input sequence's: no wasted input gradient per
step); without a tape that covers them (the kernel ran in inference, or the VJP wants
more) the VJP runs the forward again. The ONNX lowering is ONNX ``Scan`` with the body
as its subgraph, time-major (the sequences transposed, and reversed by a Slice for
``reverse``); captured values ride along as loop-invariant state variables, so the body
reads no outer-scope names.

``graphc.ops.scan``, ``fori_loop`` (symbolic bounds) and ``map`` (unknown length) on
symbolic tensors record this node with ``axis=0`` (``ops/composite.py``). ``while``
(``keras.ops.while_loop`` on a symbolic condition) is the sibling without sequences: its
body returns the new carries and the condition on them, it runs until the condition is
false (or ``maximum_iterations``), and lowers to ONNX ``Loop``.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import numpy as np

from graphc import recording
from graphc.errors import ShapeError
from graphc.ir import Graph, TensorType, Value, format_shape
from graphc.ops.registry import REGISTRY, ExecContext, Op, apply

__all__ = ["ScanBody", "BodyTrace", "set_executor_factory"]

#: ``factory(graph, trainable) -> executor`` (``Executor.forward``/``backward``): set by
#: ``graphc.backends.numpy`` when it is imported.
_EXECUTOR_FACTORY: list = []


def set_executor_factory(factory: Callable) -> None:
    """Tell the scan op how to run a body (the NumPy backend's ``Executor``)."""
    _EXECUTOR_FACTORY[:] = [factory]


class ScanBody:
    """A scan's step graph and the executors made for it (by the inputs that get a
    gradient). ``graph.inputs`` are ``carries + sequence slices + captured``."""

    __slots__ = ("graph", "n_carry", "n_seq", "_executors", "wanted", "__weakref__")

    def __init__(self, graph: Graph, n_carry: int, n_seq: int) -> None:
        self.graph = graph
        self.n_carry, self.n_seq = n_carry, n_seq
        self._executors: dict = {}
        #: the body inputs the last VJP differentiated with respect to: what the next
        #: training forward records its tape for (every float input until a VJP ran)
        self.wanted: frozenset | None = None

    @property
    def n_outputs(self) -> int:
        """Per-step outputs (after the carries)."""
        return len(self.graph.outputs) - self.n_carry

    def float_inputs(self) -> frozenset:
        return frozenset(v for v in self.graph.inputs if v.dtype.startswith("float"))

    def executor(self, trainable: frozenset):
        """The executor over the body that differentiates with respect to the body
        inputs ``trainable`` (none: inference). An executor reads which layers are frozen
        when it is made (batch normalization then runs in inference), so there is one
        per state of those layers too."""
        frozen = tuple(
            node.layer.trainable
            for node in self.graph.nodes
            if REGISTRY[node.op].frozen_means_inference and node.layer is not None
        )
        key = (trainable, frozen)
        ex = self._executors.get(key)
        if ex is None:
            if not _EXECUTOR_FACTORY:
                raise RuntimeError(
                    "scan needs the NumPy backend to run its body: import "
                    "graphc.backends.numpy first (graphc.Model and the RNN layers do)"
                )
            order = [v for v in self.graph.inputs if v in trainable]
            ex = self._executors[key] = _EXECUTOR_FACTORY[0](self.graph, order)
        return ex

    def __getstate__(self):
        return {"graph": self.graph, "n_carry": self.n_carry, "n_seq": self.n_seq}

    def __setstate__(self, state):
        self.graph, self.n_carry, self.n_seq = state["graph"], state["n_carry"], state["n_seq"]
        self._executors = {}
        self.wanted = None

    def __repr__(self) -> str:
        return (
            f"<ScanBody {len(self.graph.nodes)} nodes, {self.n_carry} carries, "
            f"{self.n_seq} sequences, {len(self.graph.inputs) - self.n_carry - self.n_seq} "
            f"captured, {self.n_outputs} outputs>"
        )


# ---- tracing a body ----------------------------------------------------------------------
class _StandIn:
    """The layer a body traced outside any layer call is recorded under."""

    trainable = True

    def __init__(self, name: str):
        self.name = name


class BodyTrace:
    """Record a scan body from ops applied to placeholders, then apply the scan::

        tr = BodyTrace()
        h = tr.carry(h0)                 # a placeholder for the carry, h0 its initial value
        x = tr.sequence(inputs)          # a placeholder for inputs[:, t]
        h_new = ops.tanh(x @ w + h @ u)  # recorded once (w, u are captured)
        (h_last, hs) = tr.finish([h_new], [h_new])

    Every value the body reads that it did not make (a weight, a tensor recorded before
    the trace, a graph input) becomes a captured input of the node. Carries may be added
    after some of the body is recorded (a carry shaped like a step's output).
    """

    def __init__(self, name: str = "scan", axis: int = 1) -> None:
        if axis not in (0, 1):
            raise ValueError(f"scan: axis must be 0 or 1, received {axis!r}")
        self.mark = recording.next_id()
        self.name = name
        #: the time axis of the sequences: 1 for ``(batch, time, ...)`` (a recurrent
        #: layer; carries keep an unknown batch), 0 for ``keras.ops.scan``'s leading axis
        #: (carries keep their exact shapes)
        self.axis = axis
        self.carries: list[Value] = []
        self.inits: list[Any] = []
        self.slices: list[Value] = []
        self.sequences: list[Value] = []

    def carry(self, init: Value) -> Value:
        shape = tuple(init.shape)
        if self.axis == 1 and shape:
            shape = (None,) + shape[1:]
        ph = Value(shape, init.dtype, kind="input", name=f"{self.name}/carry")
        self.carries.append(ph)
        self.inits.append(init)
        return ph

    def sequence(self, seq: Value) -> Value:
        shape = tuple(seq.shape)
        if len(shape) < self.axis + 1:
            want = "(batch, time, ...)" if self.axis else "(time, ...)"
            raise ShapeError(f"scan: a sequence must be {want}, received {format_shape(shape)}")
        step = (None,) + shape[2:] if self.axis else shape[1:]
        ph = Value(step, seq.dtype, kind="input", name=f"{self.name}/step")
        self.slices.append(ph)
        self.sequences.append(seq)
        return ph

    def finish(
        self,
        new_carries: Sequence[Any],
        outputs: Sequence[Any],
        reverse: bool = False,
        index_order: bool = False,
    ):
        """Apply the scan: returns ``(final carries, stacked outputs)`` as two lists.
        ``index_order``: see the module docstring."""
        if len(new_carries) != len(self.carries):
            raise ValueError(
                f"scan: the step returned {len(new_carries)} carries for "
                f"{len(self.carries)} initial ones"
            )
        if not self.sequences:
            raise ValueError("scan: at least one sequence is needed (it sets the length)")
        body, captured = self._body(new_carries, outputs)
        extra: dict = {}
        if self.axis != 1:
            extra["axis"] = self.axis
        if index_order:
            extra["index_order"] = True
        result = apply(
            "scan",
            [*self.inits, *self.sequences, *[v for v, _ in captured]],
            body=body,
            n_carry=len(self.carries),
            n_seq=len(self.slices),
            reverse=bool(reverse),
            **extra,
        )
        result = list(result)
        return result[: len(self.carries)], result[len(self.carries) :]

    def finish_while(
        self, new_carries: Sequence[Any], cond_next: Value, cond0: Any, maximum_iterations=None
    ) -> list:
        """Apply a ``while`` node (no sequences): the body maps the carries to their new
        values and ``cond_next`` (the condition on them, a bool scalar); ``cond0`` is the
        condition on the initial values. Returns the final carries."""
        if self.sequences:
            raise ValueError("while: a while loop reads no sequences")
        body, captured = self._body(new_carries, [cond_next])
        result = apply(
            "while",
            [*self.inits, cond0, *[v for v, _ in captured]],
            body=body,
            n_carry=len(self.carries),
            maximum_iterations=-1 if maximum_iterations is None else int(maximum_iterations),
        )
        return list(result) if isinstance(result, (tuple, list)) else [result]

    def _body(self, new_carries: Sequence[Any], outputs: Sequence[Any]):
        """The body graph from the recorded step: ``(ScanBody, captured pairs)``."""
        if len(new_carries) != len(self.carries):
            raise ValueError(
                f"scan: the step returned {len(new_carries)} carries for "
                f"{len(self.carries)} initial ones"
            )
        outs = []
        with _in_scope(self.name):
            for v in list(new_carries) + list(outputs):
                if not isinstance(v, Value):
                    raise TypeError(
                        f"scan: a step must return tensors made by graphc.ops; received "
                        f"{type(v).__name__}"
                    )
                if v.producer is None or v.producer._id < self.mark:
                    v = apply("identity", [v])  # an input, weight or outer value as is
                outs.append(v)
        skip = 1 if self.axis else 0  # the batch dimension may differ (a 1-row init)
        for ph, new in zip(self.carries, outs):
            if (
                new.dtype != ph.dtype
                or len(new.shape) != len(ph.shape)
                or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(new.shape[skip:], ph.shape[skip:])
                )
            ):
                raise ShapeError(
                    f"scan: a step changed a carried state from {format_shape(ph.shape)} "
                    f"{ph.dtype} to {format_shape(new.shape)} {new.dtype}; a state must "
                    "keep its shape and dtype from step to step"
                )
        captured = self._capture(outs)
        inputs = self.carries + self.slices + [ph for _, ph in captured]
        graph = Graph.from_outputs(inputs, outs, name=self.name)
        return ScanBody(graph, len(self.carries), len(self.slices)), captured

    def _capture(self, outs: list[Value]) -> list[tuple[Value, Value]]:
        """Find the body's nodes; replace every outside value they read by a placeholder.
        Returns ``[(outside value, placeholder)]`` in first-read order."""
        own = set(self.carries) | set(self.slices)
        captured: dict[Value, Value] = {}
        seen: set = set()
        body_nodes = []
        stack = list(outs)
        while stack:
            v = stack.pop()
            if v in seen or v in own:
                continue
            seen.add(v)
            node = v.producer
            if node is None or node._id < self.mark:
                continue
            body_nodes.append(node)
            stack.extend(node.inputs)
        body_nodes.sort(key=lambda n: n._id)
        for node in body_nodes:
            for k, v in enumerate(node.inputs):
                if v in own or v.kind == "const":
                    continue
                if v.kind != "param" and v.producer is not None and v.producer._id >= self.mark:
                    continue  # made in the body
                ph = captured.get(v)
                if ph is None:
                    ph = captured[v] = Value(v.shape, v.dtype, kind="input",
                                             name=f"{self.name}/captured")  # fmt: skip
                node.inputs[k] = ph
                ph.uses.append(node)
                if v.kind not in ("param", "const") and node in v.uses:
                    v.uses.remove(node)
        return list(captured.items())


class _in_scope:
    """Record under a stand-in layer when no layer call is recording."""

    def __init__(self, name: str):
        self.inner = None if recording.current_scope() else recording.scope(_StandIn(name), -1)

    def __enter__(self):
        if self.inner is not None:
            self.inner.__enter__()

    def __exit__(self, *exc):
        if self.inner is not None:
            self.inner.__exit__(*exc)


# ---- the op --------------------------------------------------------------------------------
#: id(first output array) -> (weak reference to it, executor, per-step saved activations)
_TAPES: dict = {}


def _drop_tape(key: int) -> None:
    _TAPES.pop(key, None)


def _split(attrs, xs):
    nc, ns = attrs["n_carry"], attrs["n_seq"]
    return list(xs[:nc]), list(xs[nc : nc + ns]), list(xs[nc + ns :])


def _order(attrs, steps: int):
    return range(steps - 1, -1, -1) if attrs["reverse"] else range(steps)


class Scan(Op):
    """Loop a body graph over the time axis (see the module docstring)."""

    name = "scan"
    n_outputs = 2  # a tuple: final carries then stacked outputs (as many as the body has)
    vjp_reads_inputs = True
    vjp_reads_outputs = True  # the first output keys the kernel's tape

    def infer(self, attrs, *types):
        body: ScanBody = attrs["body"]
        carries, seqs, captured = _split(attrs, types)
        g = body.graph
        if len(types) != len(g.inputs) or not seqs:
            raise ShapeError(
                f"scan: the body takes {len(g.inputs)} inputs ({body.n_carry} carries, "
                f"{body.n_seq} sequences), received {len(types)}"
            )
        axis = _axis(attrs)
        steps = seqs[0].shape[axis] if len(seqs[0].shape) > axis else None
        batch = seqs[0].shape[0]
        for t, s in zip(seqs, g.inputs[body.n_carry : body.n_carry + body.n_seq]):
            want = tuple(t.shape[:axis]) + tuple(t.shape[axis + 1 :])
            if len(t.shape) < axis + 1 or not _compatible(want, s.shape):
                raise ShapeError(
                    f"scan: a sequence of shape {format_shape(t.shape)} does not match "
                    f"the body's step input {format_shape(s.shape)} "
                    + ("(batch, time, ...)" if axis else "(time, ...)")
                )
        for t, s in zip(
            carries + captured, g.inputs[: body.n_carry] + g.inputs[body.n_carry + body.n_seq :]
        ):
            if not _compatible(t.shape, s.shape):
                raise ShapeError(
                    f"scan: an input of shape {format_shape(t.shape)} does not match the "
                    f"body's {format_shape(s.shape)}"
                )
        out = [TensorType(t.shape, t.dtype) for t in carries]
        for v in g.outputs[body.n_carry :]:
            shape = tuple(v.shape)
            stacked = (batch, steps) + shape[1:] if axis else (steps,) + shape
            out.append(TensorType(stacked, v.dtype))
        return tuple(out)

    def kernel(self, attrs, *xs, ctx):
        body: ScanBody = attrs["body"]
        carries, seqs, captured = _split(attrs, xs)
        axis = _axis(attrs)
        steps = seqs[0].shape[axis]
        if steps == 0 and body.n_outputs:
            raise ValueError(
                "scan: the sequences have 0 time steps; a recurrent layer or a scan needs "
                "at least one"
            )
        keep = bool(ctx.training)
        ex = body.executor((body.wanted or body.float_inputs()) if keep else frozenset())
        n = body.n_carry
        per_step: list = []
        tape: list = []
        seqs = _time_major(seqs, axis)
        for t in _order(attrs, steps):
            ins = carries + [s[t] for s in seqs] + captured
            if keep:
                outs, env = ex.forward(ins, ctx, keep_for_backward=True)
                tape.append(env)
            else:
                outs = ex.forward(ins, ctx)
            carries = list(outs[:n])
            per_step.append(outs[n:])
        finals = [np.array(c, copy=True) for c in carries]
        if attrs["reverse"] and attrs.get("index_order"):
            per_step.reverse()
        stacked = [np.stack([o[k] for o in per_step], axis=axis) for k in range(body.n_outputs)]
        result = tuple(finals + stacked)
        if keep and result:
            key = id(result[0])
            _TAPES[key] = (weakref.ref(result[0]), ex, tape)
            weakref.finalize(result[0], _drop_tape, key)
        return result

    def _tape(self, attrs, xs, ys, wanted):
        """The kernel's saved activations for these outputs (when recorded for at least
        the ``wanted`` gradients), or a new forward pass."""
        if ys and ys[0] is not None:
            entry = _TAPES.pop(id(ys[0]), None)
            if entry is not None and entry[0]() is ys[0] and wanted <= set(entry[1].trainable):
                return entry[1], entry[2]
        body: ScanBody = attrs["body"]
        ex = body.executor(wanted)
        carries, seqs, captured = _split(attrs, xs)
        ctx = ExecContext(training=True)
        tape = []
        axis = _axis(attrs)
        steps = seqs[0].shape[axis]
        seqs = _time_major(seqs, axis)
        for t in _order(attrs, steps):
            outs, env = ex.forward(
                carries + [s[t] for s in seqs] + captured, ctx, keep_for_backward=True
            )
            tape.append(env)
            carries = list(outs[: body.n_carry])
        return ex, tape

    def vjp(self, attrs, xs, ys, gys, needs, out):
        body: ScanBody = attrs["body"]
        g_inputs = body.graph.inputs
        nc, ns = body.n_carry, body.n_seq
        floats = body.float_inputs()
        # the carries' gradients flow back through time whatever the outer graph needs
        wanted = frozenset(
            v for k, v in enumerate(g_inputs) if v in floats and (k < nc or needs[k])
        )
        body.wanted = wanted
        ex, tape = self._tape(attrs, xs, ys, wanted)
        carries, seqs, captured = _split(attrs, xs)
        trainable = set(ex.trainable)
        g_carry = [
            (g if g is not None else np.zeros_like(x)) if ph in trainable else None
            for g, x, ph in zip(gys[:nc], carries, g_inputs[:nc])
        ]
        g_out = list(gys[nc:])
        g_seq = [
            np.zeros_like(s) if needs[nc + k] and g_inputs[nc + k] in trainable else None
            for k, s in enumerate(seqs)
        ]
        g_cap: list = [None] * len(captured)
        axis = _axis(attrs)
        order = list(_order(attrs, seqs[0].shape[axis]))
        by_index = bool(attrs.get("index_order"))
        for j in range(len(order) - 1, -1, -1):
            t = order[j]
            at = _at(axis, t)
            bufs = {}
            for ph, x in zip(g_inputs, carries + [s[at] for s in seqs] + captured):
                if ph in trainable:
                    bufs[ph] = np.empty(x.shape, dtype=np.result_type(x.dtype, np.float32))
            out_at = at if by_index else _at(axis, j)
            grads = g_carry + [None if g is None else g[out_at] for g in g_out]
            ex.backward(tape[j], grads, bufs)
            tape[j] = None
            g_carry = [bufs.get(ph) for ph in g_inputs[:nc]]
            for k in range(ns):
                if g_seq[k] is not None:
                    g_seq[k][at] = bufs[g_inputs[nc + k]]
            for k, ph in enumerate(g_inputs[nc + ns :]):
                if needs[nc + ns + k] and ph in bufs:
                    g_cap[k] = bufs[ph] if g_cap[k] is None else g_cap[k] + bufs[ph]
        result = [g if needs[k] else None for k, g in enumerate(g_carry)]
        result += g_seq
        result += [
            None if g is None else g.astype(x.dtype, copy=False) for g, x in zip(g_cap, captured)
        ]
        return tuple(result)

    def lower(self, attrs, b, *names):
        body: ScanBody = attrs["body"]
        nc, ns = body.n_carry, body.n_seq
        carries, seqs, captured = _split(attrs, names)
        g = body.graph
        ph_carry = g.inputs[:nc]
        ph_seq = g.inputs[nc : nc + ns]
        ph_cap = g.inputs[nc + ns :]
        # ONNX Scan: state variables first (the carries, then the captured values carried
        # through unchanged), then the scan inputs; outputs in the same order.
        graph_proto = b.subgraph(
            g,
            inputs=ph_carry + ph_cap + ph_seq,
            outputs=list(g.outputs[:nc]) + ph_cap + list(g.outputs[nc:]),
            name=f"{b.where or 'scan'}/body",
        )
        n_y = body.n_outputs
        # Time-major for ONNX (scan axis 0, forwards: what every runtime implements):
        # transpose the sequences, reverse them with a negative-step Slice, transpose
        # the stacked outputs back.
        axis = _axis(attrs)
        time_major = []
        for name, t in zip(seqs, b.in_types[nc : nc + ns]):
            x = b.op("Transpose", name, perm=_swap01(len(t.shape))) if axis else name
            if attrs["reverse"]:
                x = _reverse0(b, x)
            time_major.append(x)
        outs = b.op(
            "Scan",
            *carries,
            *captured,
            *time_major,
            outputs=nc + len(captured) + n_y,
            body=graph_proto,
            num_scan_inputs=ns,
        )
        outs = [outs] if isinstance(outs, str) else list(outs)
        ys = outs[nc + len(captured) :]
        if attrs["reverse"] and attrs.get("index_order"):
            ys = [_reverse0(b, y) for y in ys]
        if axis:
            ys = [
                b.op("Transpose", y, perm=_swap01(len(t.shape)))
                for y, t in zip(ys, b.out_types[nc:])
            ]
        return tuple(outs[:nc] + list(ys))


class While(Op):
    """``keras.ops.while_loop`` on a symbolic condition::

        while(*init_carries, cond0, *captured) -> (*final_carries)

    ``body`` (a ``ScanBody`` without sequences) maps ``carries + captured`` to the new
    carries and the condition on them (a bool scalar); ``cond0`` is the condition on the
    initial carries. At most ``maximum_iterations`` steps (-1: no limit). The VJP is
    backpropagation through the steps run (the condition has no gradient); the lowering
    is ONNX ``Loop``."""

    name = "while"
    n_outputs = 2  # a tuple: the final carries
    vjp_reads_inputs = True
    vjp_reads_outputs = True

    def infer(self, attrs, *types):
        body: ScanBody = attrs["body"]
        nc = body.n_carry
        g = body.graph
        if len(types) != len(g.inputs) + 1:
            raise ShapeError(
                f"while: the body takes {len(g.inputs)} inputs, received {len(types) - 1}"
            )
        c = types[nc]
        if tuple(c.shape) != () or c.dtype != "bool":
            raise ShapeError(
                f"while: the condition must be a bool scalar, received "
                f"{format_shape(c.shape)} {c.dtype}"
            )
        cond = g.outputs[nc]
        if tuple(cond.shape) != () or cond.dtype != "bool":
            raise ShapeError(
                f"while_loop: cond must return a bool scalar, received "
                f"{format_shape(cond.shape)} {cond.dtype}; reduce it (ops.all, ops.any)"
            )
        return tuple(TensorType(t.shape, t.dtype) for t in types[:nc])

    @staticmethod
    def _split(attrs, xs):
        nc = attrs["n_carry"]
        return list(xs[:nc]), xs[nc], list(xs[nc + 1 :])

    def _run(self, attrs, xs, ex, ctx, keep):
        body: ScanBody = attrs["body"]
        nc = body.n_carry
        carries, cond, captured = self._split(attrs, xs)
        limit = attrs["maximum_iterations"]
        tape: list = []
        go, n = bool(cond), 0
        while go and (limit < 0 or n < limit):
            if keep:
                outs, env = ex.forward(carries + captured, ctx, keep_for_backward=True)
                tape.append(env)
            else:
                outs = ex.forward(carries + captured, ctx)
            carries, go = list(outs[:nc]), bool(outs[nc])
            n += 1
        return carries, tape

    def kernel(self, attrs, *xs, ctx):
        body: ScanBody = attrs["body"]
        keep = bool(ctx.training)
        ex = body.executor((body.wanted or body.float_inputs()) if keep else frozenset())
        carries, tape = self._run(attrs, xs, ex, ctx, keep)
        result = tuple(np.array(c, copy=True) for c in carries)
        if keep and result:
            key = id(result[0])
            _TAPES[key] = (weakref.ref(result[0]), ex, tape)
            weakref.finalize(result[0], _drop_tape, key)
        return result

    def vjp(self, attrs, xs, ys, gys, needs, out):
        body: ScanBody = attrs["body"]
        g_inputs = body.graph.inputs
        nc = body.n_carry
        floats = body.float_inputs()
        # body input k is node input k for the carries, k + 1 for the captured values
        wanted = frozenset(
            v for k, v in enumerate(g_inputs) if v in floats and (k < nc or needs[k + 1])
        )
        body.wanted = wanted
        entry = _TAPES.pop(id(ys[0]), None) if ys and ys[0] is not None else None
        if entry is not None and entry[0]() is ys[0] and wanted <= set(entry[1].trainable):
            ex, tape = entry[1], entry[2]
        else:
            ex = body.executor(wanted)
            _, tape = self._run(attrs, xs, ex, ExecContext(training=True), True)
        carries, _, captured = self._split(attrs, xs)
        trainable = set(ex.trainable)
        g_carry = [
            (g if g is not None else np.zeros_like(x)) if ph in trainable else None
            for g, x, ph in zip(gys, carries, g_inputs[:nc])
        ]
        g_cap: list = [None] * len(captured)
        for j in range(len(tape) - 1, -1, -1):
            bufs = {}
            for ph, x in zip(g_inputs, carries + captured):
                if ph in trainable:
                    bufs[ph] = np.empty(x.shape, dtype=np.result_type(x.dtype, np.float32))
            ex.backward(tape[j], g_carry + [None], bufs)
            tape[j] = None
            g_carry = [bufs.get(ph) for ph in g_inputs[:nc]]
            for k, ph in enumerate(g_inputs[nc:]):
                if needs[nc + 1 + k] and ph in bufs:
                    g_cap[k] = bufs[ph] if g_cap[k] is None else g_cap[k] + bufs[ph]
        result = [g if needs[k] else None for k, g in enumerate(g_carry)]
        result.append(None)  # the condition
        result += [
            None if g is None else g.astype(x.dtype, copy=False) for g, x in zip(g_cap, captured)
        ]
        return tuple(result)

    def lower(self, attrs, b, *names):
        body: ScanBody = attrs["body"]
        nc = body.n_carry
        g = body.graph
        carries, cond, captured = self._split(attrs, names)
        ph_carry, ph_cap = g.inputs[:nc], g.inputs[nc:]
        # ONNX Loop's body: (iteration, condition, *loop-carried) -> (condition,
        # *loop-carried); the captured values ride along unchanged.
        it = Value((), "int64", kind="input", name="iteration")
        cond_in = Value((), "bool", kind="input", name="cond_in")
        graph_proto = b.subgraph(
            g,
            inputs=[it, cond_in] + ph_carry + ph_cap,
            outputs=[g.outputs[nc]] + list(g.outputs[:nc]) + ph_cap,
            name=f"{b.where or 'while'}/body",
        )
        limit = attrs["maximum_iterations"]
        trips = b.const(np.array(limit if limit >= 0 else np.iinfo(np.int64).max, np.int64))
        outs = b.op(
            "Loop",
            trips,
            cond,
            *carries,
            *captured,
            outputs=nc + len(captured),
            body=graph_proto,
        )
        outs = [outs] if isinstance(outs, str) else list(outs)
        return tuple(outs[:nc])


def _axis(attrs) -> int:
    return attrs.get("axis", 1)


def _at(axis: int, t: int) -> tuple:
    """The index of step ``t`` along ``axis``."""
    return (slice(None),) * axis + (t,)


def _reverse0(b, x: str) -> str:
    """ONNX: ``x`` reversed along axis 0 (a negative-step Slice)."""
    return b.op(
        "Slice",
        x,
        b.const(np.array([-1], np.int64)),
        b.const(np.array([np.iinfo(np.int64).min], np.int64)),
        b.const(np.array([0], np.int64)),
        b.const(np.array([-1], np.int64)),
    )


def _time_major(seqs, axis: int = 1):
    """``(time, batch, ...)`` copies: each step's slice is then one contiguous block (the
    kernels' fast paths, convolutions' above all, want contiguous inputs)."""
    return [np.ascontiguousarray(np.moveaxis(s, axis, 0)) for s in seqs]


def _swap01(rank: int) -> list[int]:
    return [1, 0] + list(range(2, rank))


def _compatible(a, b) -> bool:
    a, b = tuple(a), tuple(b)
    return len(a) == len(b) and all(
        x is None or y is None or isinstance(x, str) or isinstance(y, str) or x == y
        for x, y in zip(a, b)
    )
