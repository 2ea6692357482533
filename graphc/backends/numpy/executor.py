"""Compile a Graph once into a plan over integer slots; run it forward and backward.

The plan is a flat list of steps ``(op, attrs, input slots, output slots)``; the backward
pass walks it in reverse, calling each op's VJP. Activations that no VJP reads are dropped
as soon as the forward pass is done with them, and the rest as soon as the backward pass
is. ``watch`` values (layer outputs an activity regularizer penalises) are kept, handed
back by ``forward`` and may receive an extra gradient in ``backward``.

By default the plan is then compiled to straight-line Python (``codegen.py``; see
``Executor.source()``): one function per pass, generated on first use, that does only the
per-batch work. ``compiled=False`` runs the same plan through the loops below instead
(the reference the generated code is tested against, bit for bit).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from graphc.backends.numpy import codegen
from graphc.backends.numpy.codegen import ADD_TO_PARAM as _ADD_TO_PARAM
from graphc.backends.numpy.codegen import ADD_TO_SLOT as _ADD_TO_SLOT
from graphc.backends.numpy.codegen import WRITE_PARAM as _WRITE_PARAM
from graphc.errors import GraphcError
from graphc.ir import Graph, Node, Parameter, Value
from graphc.ops.registry import ExecContext, Op, get_op

__all__ = ["Executor", "KernelError"]


class KernelError(GraphcError, RuntimeError):
    """A kernel or VJP failed; the message names the node and the layer."""


class _Step:
    __slots__ = (
        "op",
        "attrs",
        "ins",
        "outs",
        "node",
        "grad",
        "needs",
        "free_fwd",
        "free_bwd",
        "free_inf",
        "multi",
        "actions",
        "out_params",
        "stateful",
        "updates",
        "no_buffers",
        "frozen",
    )

    def __init__(self, node: Node, ins: list[int], outs: list[int]) -> None:
        self.op = get_op(node.op)
        self.attrs = node.attrs
        self.ins, self.outs, self.node = ins, outs, node
        self.multi = self.op.n_outputs > 1
        self.grad = False  # does any input need a gradient?
        self.needs: tuple[bool, ...] = ()  # which inputs need one
        self.free_fwd: tuple[int, ...] = ()  # slots to drop after this step, training fwd
        self.free_bwd: tuple[int, ...] = ()  # slots to drop after this step's VJP
        self.free_inf: tuple[int, ...] = ()  # slots to drop after this step, inference
        # what backward does with each input gradient: (input, slot, action, parameter)
        self.actions: tuple[tuple[int, int, int, Parameter | None], ...] = ()
        # parameters whose gradient buffer the VJP writes into
        self.out_params: tuple[Parameter | None, ...] = ()
        self.no_buffers: tuple[np.ndarray | None, ...] = ()  # out= for a VJP writing no weight
        self.stateful = type(self.op).update_state is not Op.update_state
        # whether update_state runs (after the kernel) in inference, in training
        self.updates = (
            self.stateful and self.op.updates_in(node.attrs, False),
            self.stateful and self.op.updates_in(node.attrs, True),
        )
        layer = node.layer
        # Read once, when the plan is made: the trainer rebuilds the plan when the set of
        # trainable weights changes, as freezing a layer does.
        self.frozen = self.op.frozen_means_inference and layer is not None and not layer.trainable


def _plan_nodes(graph: Graph) -> Iterable[Node]:
    """The graph's nodes as the plan runs them. A ``gemm`` (the one node a Dense layer
    records for ``x @ W + b``) runs as the matmul and the add it stands for: the steps
    the generated code writes inline and in place, and the numbers a matmul then an add
    compute. Those two nodes are the plan's own: no graph holds them and no value lists
    them in its ``uses``; the matmul's result is a value of the plan alone."""
    for node in graph.nodes:
        if node.op != "gemm":
            yield node
            continue
        x, w, b = node.inputs
        y = node.outputs[0]
        xw = object.__new__(Value)
        xw.shape, xw.dtype, xw.kind, xw.name = y.shape, y.dtype, "intermediate", y.name
        xw.index, xw.uses, xw.layer, xw.data, xw._id = 0, [], None, None, node._id
        for op, inputs, out in (("matmul", [x, w], xw), ("add", [xw, b], y)):
            part = object.__new__(Node)
            part.op, part.inputs, part.outputs, part.attrs = op, inputs, [out], {}
            part.scope, part.meta, part._id = node.scope, {}, node._id  # ids: hashes
            if out is xw:
                xw.producer = part
            yield part


class Executor:
    """Runs ``graph``. ``trainable`` are the parameters that get gradients; ``watch`` are
    internal values whose arrays ``forward`` also returns (see ``forward(watched=)``).
    Graph inputs may be listed in ``trainable`` too: ``backward`` writes their gradient
    into ``param_grads`` like a parameter's (``trace.py`` differentiates losses so).
    ``compiled``: run generated code (``source()``), else interpret the plan; None takes
    ``Executor.COMPILE`` (set it to False to run every new executor interpreted, e.g. to
    tell a suspected code generation bug from a kernel's)."""

    COMPILE = True

    def __init__(
        self,
        graph: Graph,
        trainable: Iterable[Parameter] = (),
        watch: Iterable[Value] = (),
        compiled: bool | None = None,
    ) -> None:
        self.graph = graph
        self.compiled = Executor.COMPILE if compiled is None else compiled
        self._functions: dict[Any, Any] = {}  # generated functions, made on first use
        slots: dict[Value, int] = {}

        def slot(v: Value) -> int:
            if v not in slots:
                slots[v] = len(slots)
            return slots[v]

        self.input_slots = [slot(v) for v in graph.inputs]
        self.leaves = []  # (slot, Value) for parameters and constants
        steps = []
        for node in _plan_nodes(graph):
            for v in node.inputs:
                if v not in slots and v.kind in ("param", "const"):
                    self.leaves.append((slot(v), v))
            steps.append(
                _Step(node, [slot(v) for v in node.inputs], [slot(v) for v in node.outputs])
            )
        self.output_slots = [slot(v) for v in graph.outputs]
        self.watch_slots = [slot(v) for v in watch]
        self.n_slots = len(slots)
        self.steps = steps
        self.slot_of = slots
        trainable = [p for p in trainable if p in slots]
        self.trainable = trainable
        self.param_slot = {slots[p]: p for p in trainable}
        # Per mode (False: inference, True: training), which steps run: None for all. A
        # graph recording a call once per mode (``phase_select``) runs only the branch of
        # the run's mode; the other branch's values stay None.
        self.live: dict[bool, list[bool] | None] = {False: None, True: None}
        if any(step.node.op == "phase_select" for step in steps):
            self.live = {mode: self._live_steps(mode) for mode in (False, True)}
        self._plan_gradients()
        # assign steps -> (variable's slot, the slot its readers after the step read)
        self.snapshots: dict[int, tuple[int, int]] = {}
        self._plan_snapshots()
        self._plan_memory()

    # ---- planning ------------------------------------------------------------------
    def _plan_snapshots(self) -> None:
        """A variable a layer assigns in call (``assign``, in place) that an earlier step
        reads for its gradient (``x * scale``, then ``scale.assign(...)``) keeps its old
        value for that gradient: the assign step puts a copy of the old array in the
        variable's slot, and the steps after it read the updated array from a slot of
        their own. Only for variables that get no gradient themselves."""
        current: dict[int, int] = {}  # variable's slot -> the slot its readers read now
        origin: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            if current:
                step.ins = [current.get(x, x) for x in step.ins]
            if not (step.stateful and step.op.update_in_inference):
                continue
            s = step.ins[0]
            first = origin.get(s, s)
            if first in self.param_slot:
                continue
            if not any(st.grad and st.op.vjp_reads_inputs and s in st.ins for st in self.steps[:i]):
                continue
            alias = self.n_slots
            self.n_slots += 1
            self.requires.append(False)
            self.snapshots[i] = (s, alias)
            current[first] = alias
            origin[alias] = first

    def _live_steps(self, training: bool) -> list[bool]:
        """The steps the outputs need in this mode: a ``phase_select`` needs only the
        branch of the mode (its other input is never read)."""
        needed = set(self.output_slots) | set(self.watch_slots)
        live = [False] * len(self.steps)
        for i in range(len(self.steps) - 1, -1, -1):
            step = self.steps[i]
            if not any(o in needed for o in step.outs):
                continue
            live[i] = True
            if step.node.op == "phase_select":
                needed.add(step.ins[1] if training else step.ins[0])
            else:
                needed.update(step.ins)
        return live

    def _plan_gradients(self) -> None:
        requires = [False] * self.n_slots
        for s in self.param_slot:
            requires[s] = True
        for step in self.steps:
            step.needs = tuple(requires[i] for i in step.ins)
            step.grad = any(step.needs)
            if step.grad:
                for o in step.outs:
                    requires[o] = True
        self.requires = requires
        self._backward_steps = [step for step in reversed(self.steps) if step.grad]
        # Static plan of the backward pass: the first gradient a parameter gets (in
        # backward order) is written into its buffer, later ones are added; parameters
        # that get none are zeroed at the end.
        seen: set[Parameter] = set()
        for step in self._backward_steps:
            actions: list[tuple[int, int, int, Parameter | None]] = []
            out_params: list[Parameter | None] = []
            for k, s in enumerate(step.ins):
                p = self.param_slot.get(s)
                first = p is not None and p not in seen and step.needs[k]
                out_params.append(p if first else None)
                if not step.needs[k]:
                    continue
                if p is None:
                    actions.append((k, s, _ADD_TO_SLOT, None))
                elif first:
                    seen.add(p)
                    actions.append((k, s, _WRITE_PARAM, p))
                else:
                    actions.append((k, s, _ADD_TO_PARAM, p))
            step.actions, step.out_params = tuple(actions), tuple(out_params)
            # Most steps write no weight gradient: one tuple for all their backward calls.
            if not any(p is not None for p in out_params):
                step.no_buffers = (None,) * len(out_params)
        self._ungraded = [p for p in self.param_slot.values() if p not in seen]
        # The gradient buffers the generated backward pass receives, in this order.
        self._grad_params = list(dict.fromkeys(self.param_slot.values()))
        # Where each graph input and leaf goes in the generated forward's ``init``.
        self._entry_index = {
            s: k for k, s in enumerate(list(self.input_slots) + [s for s, _ in self.leaves])
        }

    def _plan_memory(self) -> None:
        keep = (
            set(self.output_slots)
            | set(self.input_slots)
            | {s for s, _ in self.leaves}
            | set(self.watch_slots)
        )
        n = len(self.steps)
        last_fwd: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for s in step.ins:
                last_fwd[s] = i
        # Slots some VJP reads, and the earliest step (in forward order) that reads them:
        # the backward pass reaches that step last.
        first_bwd: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            if not step.grad:
                continue
            read = (step.ins if step.op.vjp_reads_inputs else []) + (
                step.outs if step.op.vjp_reads_outputs else []
            )
            for s in read:
                first_bwd.setdefault(s, i)
        free_inf: list[list[int]] = [[] for _ in range(n)]
        free_fwd: list[list[int]] = [[] for _ in range(n)]
        free_bwd: list[list[int]] = [[] for _ in range(n)]
        for s, i in last_fwd.items():
            if s in keep:
                continue
            free_inf[i].append(s)
            if s not in first_bwd:
                free_fwd[i].append(s)
        for s, i in first_bwd.items():
            if s not in keep:
                free_bwd[i].append(s)
        for i, step in enumerate(self.steps):
            step.free_inf, step.free_fwd, step.free_bwd = (
                tuple(free_inf[i]),
                tuple(free_fwd[i]),
                tuple(free_bwd[i]),
            )

    # ---- running -------------------------------------------------------------------
    def forward(
        self,
        inputs: Sequence[np.ndarray],
        ctx: ExecContext,
        keep_for_backward: bool = False,
        leaf_values: dict[Value, np.ndarray] | None = None,
        watched: list | None = None,
    ) -> Any:
        """Outputs for one batch; with ``keep_for_backward`` also the environment the
        backward pass needs. ``leaf_values`` overrides parameter arrays (gradient checks
        run the same plan in float64). A list passed as ``watched`` receives the arrays of
        the ``watch`` values."""
        if self.compiled:
            return self._forward_compiled(inputs, ctx, keep_for_backward, leaf_values, watched)
        env: list[Any] = [None] * self.n_slots
        for s, x in zip(self.input_slots, inputs):
            env[s] = x
        for s, v in self.leaves:
            env[s] = v.data
        if leaf_values:
            for v, arr in leaf_values.items():
                env[self.slot_of[v]] = arr
        inference = ExecContext(training=False, rng=ctx.rng)
        live = self.live[bool(ctx.training)]
        for k, step in enumerate(self.steps):
            snapshot = self.snapshots.get(k) if self.snapshots else None
            if live is not None and not live[k]:
                if snapshot is not None:
                    env[snapshot[1]] = env[snapshot[0]]
                continue
            args = [env[i] for i in step.ins]
            try:
                out = step.op.kernel(step.attrs, *args, ctx=inference if step.frozen else ctx)
                if step.updates[1 if ctx.training else 0] and not step.frozen:
                    old = args[0].copy() if snapshot and keep_for_backward else None
                    step.op.update_state(step.attrs, args, out if step.multi else (out,))
                    if snapshot is not None and old is not None:
                        env[snapshot[0]] = old
                if snapshot is not None:
                    env[snapshot[1]] = args[0]
            except Exception as e:  # re-raised with the node and layer attached
                raise self._error(step, "forward", e) from e
            if step.multi:
                for o, y in zip(step.outs, out):
                    env[o] = y
            else:
                env[step.outs[0]] = out
            for s in step.free_fwd if keep_for_backward else step.free_inf:
                env[s] = None
        outputs = [env[s] for s in self.output_slots]
        if watched is not None:
            watched[:] = [env[s] for s in self.watch_slots]
        return (outputs, env) if keep_for_backward else outputs

    def backward(
        self,
        env: list,
        output_grads: Sequence[np.ndarray | None],
        param_grads: dict[Parameter, np.ndarray],
        watched_grads: Sequence[np.ndarray | None] = (),
    ) -> None:
        """Accumulate d(loss)/d(param) into ``param_grads[param]`` (arrays written in
        place: views into the gradient buffer). Parameters that get no gradient are
        zeroed. ``watched_grads`` (one per ``watch`` value, or None) are added to the
        gradients flowing into those values."""
        if self.compiled:
            self._backward_compiled(env, output_grads, param_grads, watched_grads)
            return
        grads: list[Any] = [None] * self.n_slots
        for s, g in zip(self.output_slots, output_grads):
            if g is not None:
                grads[s] = g if grads[s] is None else grads[s] + g
        for s, g in zip(self.watch_slots, watched_grads):
            if g is not None:
                grads[s] = g if grads[s] is None else grads[s] + g
        for step in self._backward_steps:
            outs = step.outs
            if step.multi:
                gys = tuple(grads[o] for o in outs)
                if all(g is None for g in gys):
                    for p in step.out_params:  # as for a single output, below
                        if p is not None:
                            param_grads[p].fill(0)
                    continue
                gys = tuple(
                    g if g is not None or env[o] is None else np.zeros_like(env[o])
                    for g, o in zip(gys, outs)
                )
                ys = tuple(env[o] for o in outs)
            else:
                g0 = grads[outs[0]]
                if g0 is None:
                    # No gradient reached this step: the weights it would have written
                    # first get zero (their buffer holds the optimizer's scratch).
                    for p in step.out_params:
                        if p is not None:
                            param_grads[p].fill(0)
                    continue
                gys, ys = (g0,), (env[outs[0]],)
            xs = [env[i] for i in step.ins]
            try:
                out = step.no_buffers or tuple(
                    None if p is None else param_grads[p] for p in step.out_params
                )
                gxs = step.op.vjp(step.attrs, xs, ys, gys, needs=step.needs, out=out)
            except Exception as e:
                raise self._error(step, "gradient", e) from e
            for k, s, action, p in step.actions:
                g = gxs[k]
                if action == _ADD_TO_SLOT:
                    if g is not None:
                        grads[s] = g if grads[s] is None else grads[s] + g
                elif action == _WRITE_PARAM:
                    assert p is not None
                    buf = param_grads[p]
                    if g is None:
                        buf.fill(0)  # later contributions add to it
                    elif g is not buf:
                        np.copyto(buf, g)
                elif g is not None:
                    assert p is not None
                    param_grads[p] += g
            for o in outs:
                grads[o] = None
            for s in step.free_bwd:
                env[s] = None
        for p in self._ungraded:
            param_grads[p].fill(0)

    # ---- the generated code -----------------------------------------------------------
    def _function(self, key: Any) -> Any:
        fn = self._functions.get(key)
        if fn is None:
            source, names = self._generate(key)
            fn = codegen.compile_source(source, names, f"<graphc {self.graph.name} {key}>")
            self._functions[key] = fn
        return fn

    def _generate(self, key: Any) -> tuple[str, dict]:
        if key == "backward":
            return codegen.generate_backward(self)
        training, keep = key
        return codegen.generate_forward(self, training, keep)

    def source(self) -> str:
        """The generated Python of this plan: the training forward pass (keeping what
        the backward pass reads), the backward pass, and the inference forward pass."""
        keys: list[Any] = [(True, True), "backward", (False, False)]
        return "\n".join(self._generate(key)[0] for key in keys)

    def _forward_compiled(
        self,
        inputs: Sequence[np.ndarray],
        ctx: ExecContext,
        keep: bool,
        leaf_values: dict[Value, np.ndarray] | None,
        watched: list | None,
    ) -> Any:
        init: list[Any] = list(inputs[: len(self.input_slots)])
        init += [None] * (len(self.input_slots) - len(init))
        init += [v.data for _, v in self.leaves]
        if leaf_values:
            index, slot_of = self._entry_index, self.slot_of
            for v, arr in leaf_values.items():
                # A value that is neither an input nor a leaf is computed by a step, which
                # would overwrite it: as in the interpreter, it changes nothing.
                k = index.get(slot_of[v])
                if k is not None:
                    init[k] = arr
        fn = self._function((bool(ctx.training), bool(keep)))
        inference = ExecContext(training=False, rng=ctx.rng)
        return fn(init, ctx, inference, watched)

    def _backward_compiled(
        self,
        saved: list,
        output_grads: Sequence[np.ndarray | None],
        param_grads: dict[Parameter, np.ndarray],
        watched_grads: Sequence[np.ndarray | None],
    ) -> None:
        og = list(output_grads[: len(self.output_slots)])
        og += [None] * (len(self.output_slots) - len(og))
        wg = list(watched_grads[: len(self.watch_slots)])
        wg += [None] * (len(self.watch_slots) - len(wg))
        bufs = [param_grads[p] for p in self._grad_params]
        self._function("backward")(saved, og, wg, bufs)

    def _step_error(self, i: int, phase: str, e: Exception) -> KernelError:
        return self._error(self.steps[i], phase, e)

    @staticmethod
    def _error(step: _Step, phase: str, e: Exception) -> KernelError:
        return KernelError(
            f"{step.node.where()}: the {phase} kernel failed: {type(e).__name__}: {e}"
        )
