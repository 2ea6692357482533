"""Generate straight-line Python for an executor's plan: the compiled forward and backward.

The interpreter (``Executor.forward``/``backward`` with ``compiled=False``) walks the plan
on every batch: it builds argument lists from an environment list, tests each step's
flags, loops over the gradient actions. All of that depends only on the graph, so the
compiler does it once: it writes one Python function per pass in which every step is a
line or two over local variables (``v3`` is the value in slot 3, ``g3`` its gradient),
with the plan's decisions (what to free, where each gradient goes, which buffer a VJP
writes into) spelled out. ``Executor.source()`` shows the code.

Exactness: the generated code calls the same kernels and VJPs, on the same arguments, in
the same order, and accumulates gradients in the same order as the interpreter, so the
numbers are the same bit for bit (``tests/backends/test_codegen.py`` checks it). The few
steps written inline instead of called (``_INLINE``) are the exact expressions of their
op's kernel or VJP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from graphc.ops._blas import product
from graphc.ops.elementwise import relu

if TYPE_CHECKING:  # pragma: no cover
    from graphc.backends.numpy.executor import Executor

# What the backward pass does with an input's gradient.
ADD_TO_SLOT, WRITE_PARAM, ADD_TO_PARAM = 0, 1, 2


class _Writer:
    """Lines of one function, and the objects its code refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"np": np, "relu": relu, "mm": product}

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)

    def bind(self, name: str, obj: Any) -> str:
        self.names[name] = obj
        return name


def _var(s: int) -> str:
    return f"v{s}"


def _grad(s: int) -> str:
    return f"g{s}"


def _arg_list(slots: list[int], live: Callable[[int], bool]) -> str:
    return ", ".join(_var(s) if live(s) else "None" for s in slots)


def _tuple(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


# ---- steps written inline ------------------------------------------------------------
# The hot ops of dense networks are written into the generated code instead of called:
# each expression below is its op's kernel or VJP (graphc/ops/linalg.py, elementwise.py)
# for the case the static shapes guarantee, so the numbers are the same (``x.sum(...)``
# is spelt ``np.add.reduce(x, ...)``: the same reduction without the method's Python
# wrapper, and it can write into a gradient buffer). Some write in
# place: a forward value only when this step is its last reader and an inline step made
# it (a fresh array no one else holds), a gradient likewise (``fresh``). Anything else is
# a call to the op.


def _rank2(v: Any) -> bool:
    return len(v.shape) == 2


def _is_bias(x: Any, b: Any) -> bool:
    """``x + b`` with ``b`` a vector along x's known last dim: the sum has x's shape, and
    the bias gradient sums over the leading axes."""
    return (
        len(b.shape) == 1
        and len(x.shape) >= 1
        and isinstance(b.shape[0], int)
        and b.shape[0] == x.shape[-1]
    )


def _forward_inline(step: Any, args: list[str], y: str, reuse: Callable[[int], bool]) -> Any:
    """Lines computing ``y`` inline, or None to call the kernel. ``reuse(k)``: may the
    step write over its k-th input?"""
    name, node = step.op.name, step.node
    if step.multi or step.stateful:
        return None
    if name == "matmul" and _rank2(node.inputs[0]) and _rank2(node.inputs[1]):
        return [f"{y} = mm({args[0]}, {args[1]})"]  # np.matmul, small ones on one thread
    if name == "add" and len(args) == 2:
        return [f"{y} = {args[0]} + {args[1]}"]
    if name == "relu":
        out = f", out={args[0]}" if reuse(0) else ""
        return [f"{y} = relu({args[0]}{out})"]  # np.maximum(x, 0), faster
    if name == "softmax":
        ax = step.attrs.get("axis", -1)
        x = args[0]
        return [
            f"{y} = {x} - np.maximum.reduce({x}, axis={ax}, keepdims=True)",
            f"np.exp({y}, out={y})",
            f"{y} /= np.add.reduce({y}, axis={ax}, keepdims=True)",
        ]
    return None


def _backward_inline(step: Any, xs: list[str], y: str, gy: str, fresh: bool) -> Any:
    """``[(expr or None, fresh)]`` per input: its gradient written inline (None: no
    gradient), or None to call the VJP. ``fresh``: ``gy`` may be written over."""
    name, node, needs = step.op.name, step.node, step.needs
    if step.multi or y == "None" and name in ("relu", "softmax"):
        return None
    if name == "relu":
        out = f", out={gy}" if fresh else ""
        return [(f"np.multiply({gy}, {y} > 0{out})", True)]
    if name == "softmax":
        ax = step.attrs.get("axis", -1)
        return [(f"{y} * ({gy} - np.add.reduce({gy} * {y}, axis={ax}, keepdims=True))", True)]
    if name == "add" and len(xs) == 2:
        x, b = node.inputs
        if node.outputs[0].shape != x.shape or not _is_bias(x, b):
            return None
        # unbroadcast: x's gradient is gy itself; the bias's sums the leading axes.
        lead = tuple(range(len(x.shape) - 1))
        return [(gy, False), (f"np.add.reduce({gy}, axis={lead})", True)]
    if name == "matmul" and _rank2(node.inputs[0]) and _rank2(node.inputs[1]):
        a, b = xs
        return [
            (f"mm({gy}, {b}.T)" if needs[0] else None, True),
            (f"mm({a}.T, {gy})" if needs[1] else None, True),
        ]
    return None


def generate_forward(ex: "Executor", training: bool, keep: bool) -> tuple[str, dict]:
    """Source and namespace of ``forward(init, ctx, inference, watched)``.

    ``init`` holds the graph inputs then the leaves (parameters, constants); the function
    returns the outputs and, with ``keep``, the list of values the backward pass reads
    (``saved_slots(ex)``, in that order)."""
    w = _Writer()
    mode = ("training" if training else "inference") + (", kept for backward" if keep else "")
    w.line(f"def forward(init, ctx, inference, watched):  # {mode}", 0)
    entries = list(ex.input_slots) + [s for s, _ in ex.leaves]
    if entries:
        targets = ", ".join(_var(s) for s in entries)
        w.line(f"{targets}, = init" if len(entries) == 1 else f"{targets} = init")
    w.line("at = 0")
    live = ex.live[training]
    if live is not None:
        # the other mode's branch does not run: its values are None (read only by a
        # phase_select, freed, or kept for a backward pass that sends them no gradient)
        dead = [_var(o) for i, step in enumerate(ex.steps) if not live[i] for o in step.outs]
        if dead:
            w.line(" = ".join(dead) + " = None")
        for i, (var, alias) in ex.snapshots.items():
            if not live[i]:  # the variable keeps its array: later readers read it
                w.line(f"{_var(alias)} = {_var(var)}")
    w.line("try:")
    fresh: set[int] = set()  # values an inline step made: arrays no one else holds
    for i, step in enumerate(ex.steps):
        if live is not None and not live[i]:
            continue
        free = step.free_fwd if keep else step.free_inf
        w.line(f"# {step.node.where()}", 2)
        w.line(f"at = {i}", 2)
        outs = ", ".join(_var(o) for o in step.outs)

        def reuse(k: int, step: Any = step, free: tuple = free) -> bool:
            s = step.ins[k]
            return s in fresh and s in free and step.ins.count(s) == 1

        inline = _forward_inline(step, [_var(s) for s in step.ins], outs, reuse)
        if inline is not None:
            for text in inline:
                w.line(text, 2)
            fresh.add(step.outs[0])
            if free:
                w.line(f"del {', '.join(_var(s) for s in sorted(set(free)))}", 2)
            continue
        k = w.bind(f"K{i}", step.op.kernel)
        a = w.bind(f"A{i}", step.attrs)
        c = "inference" if step.frozen else "ctx"
        args = ", ".join(_var(s) for s in step.ins)
        call = f"{k}({a}, {args}, ctx={c})" if args else f"{k}({a}, ctx={c})"
        snapshot = ex.snapshots.get(i)
        if step.updates[1 if training else 0] and not step.frozen:
            u = w.bind(f"U{i}", step.op.update_state)
            w.line(f"out = {call}", 2)
            if snapshot is not None and not keep:
                snapshot = None  # no backward pass: the alias is the same array, below
                w.line(f"{_var(ex.snapshots[i][1])} = {_var(ex.snapshots[i][0])}", 2)
            if snapshot is not None:  # the earlier readers' gradients keep the old value
                w.line(f"old = {_var(snapshot[0])}.copy()", 2)
            w.line(f"{u}({a}, [{args}], {'out' if step.multi else '(out,)'})", 2)
            if snapshot is not None:
                w.line(f"{_var(snapshot[1])} = {_var(snapshot[0])}", 2)
                w.line(f"{_var(snapshot[0])} = old", 2)
                snapshot = None
            w.line(f"{outs}{',' if step.multi and len(step.outs) == 1 else ''} = out", 2)
        elif step.multi:
            w.line(f"{outs}{',' if len(step.outs) == 1 else ''} = {call}", 2)
        else:
            w.line(f"{outs} = {call}", 2)
            if step.op.kernel_returns_fresh:
                fresh.add(step.outs[0])
        if snapshot is not None:  # no update in this mode: the same array
            w.line(f"{_var(snapshot[1])} = {_var(snapshot[0])}", 2)
        if free:
            w.line(f"del {', '.join(_var(s) for s in sorted(set(free)))}", 2)
    if w.lines[-1].endswith("try:"):
        w.line("pass", 2)  # a graph without steps
    w.line("except Exception as e:  # re-raised with the node and layer attached")
    w.line('raise error(at, "forward", e) from e', 2)
    w.names["error"] = ex._step_error
    if ex.watch_slots:
        w.line("if watched is not None:")
        w.line(f"watched[:] = [{', '.join(_var(s) for s in ex.watch_slots)}]", 2)
    outputs = f"[{', '.join(_var(s) for s in ex.output_slots)}]"
    if keep:
        saved = saved_slots(ex)
        w.line(f"return {outputs}, [{', '.join(_var(s) for s in saved)}]")
    else:
        w.line(f"return {outputs}")
    return "\n".join(w.lines) + "\n", w.names


def saved_slots(ex: "Executor") -> list[int]:
    """The slots the backward pass reads that the training forward pass keeps alive."""
    freed = {s for step in ex.steps for s in step.free_fwd}
    read: list[int] = []
    for step in ex._backward_steps:
        for s in list(step.ins) + list(step.outs):
            if s not in freed and s not in read:
                read.append(s)
    return sorted(read)


def generate_backward(ex: "Executor") -> tuple[str, dict]:
    """Source and namespace of ``backward(saved, output_grads, watched_grads, bufs)``.

    ``saved`` is what the forward pass returned (emptied here, so that the values it
    holds are freed as the pass goes); ``output_grads`` and ``watched_grads`` are padded
    with None to one per output and per watched value; ``bufs`` are the gradient buffers
    of ``ex._grad_params``, in order."""
    w = _Writer()
    w.line("def backward(saved, output_grads, watched_grads, bufs):", 0)
    saved = saved_slots(ex)
    live = set(saved)
    if saved:
        targets = ", ".join(_var(s) for s in saved)
        w.line(f"{targets}, = saved" if len(saved) == 1 else f"{targets} = saved")
    w.line("saved.clear()  # the locals are now the only references: freed as we go")
    buf_of = {p: f"b{j}" for j, p in enumerate(ex._grad_params)}
    if buf_of:
        names = ", ".join(buf_of.values())
        w.line(f"{names}, = bufs" if len(buf_of) == 1 else f"{names} = bufs")
    # Every gradient the code may test starts as None; which of them can already hold a
    # contribution at each point is known here, so the first one is a plain assignment.
    grad_slots = sorted(
        {o for step in ex._backward_steps for o in step.outs}
        | {s for step in ex._backward_steps for _, s, act, _ in step.actions if act == ADD_TO_SLOT}
        | set(ex.output_slots)
        | set(ex.watch_slots)
    )
    if grad_slots:
        w.line(" = ".join(_grad(s) for s in grad_slots) + " = None")
    assigned: set[int] = set()
    fresh: set[int] = set()  # gradients made by one inline expression, held nowhere else

    def add(target: int, expr: str, indent: int, is_fresh: bool = False) -> None:
        """Add the gradient ``expr`` (possibly None) into ``g<target>``, as the
        interpreter does: the first contribution is the gradient itself."""
        g = _grad(target)
        if target not in assigned:
            w.line(f"{g} = {expr}", indent)
            assigned.add(target)
            if is_fresh:
                fresh.add(target)
        else:
            fresh.discard(target)
            w.line(f"t = {expr}", indent)
            w.line("if t is not None:", indent)
            w.line(f"{g} = t if {g} is None else {g} + t", indent + 1)

    for k, s in enumerate(ex.output_slots):
        add(s, f"output_grads[{k}]", 1)
    for k, s in enumerate(ex.watch_slots):
        add(s, f"watched_grads[{k}]", 1)
    w.line("at = 0")
    w.line("try:")
    index = {id(step): i for i, step in enumerate(ex.steps)}
    for step in ex._backward_steps:
        i = index[id(step)]
        v = w.bind(f"V{i}", step.op.vjp)
        a = w.names.get(f"A{i}") or w.bind(f"A{i}", step.attrs)
        n = w.bind(f"N{i}", step.needs)
        w.line(f"# {step.node.where()}", 2)
        outs = step.outs
        gys = [_grad(o) for o in outs]
        if step.multi:
            w.line(f"if not ({' and '.join(f'{g} is None' for g in gys)}):", 2)
            filled = [
                f"({g} if {g} is not None or {_var(o)} is None else np.zeros_like({_var(o)}))"
                if o in live
                else g
                for g, o in zip(gys, outs)
            ]
            gys_expr = _tuple(filled)
        else:
            w.line(f"if {gys[0]} is not None:", 2)
            gys_expr = _tuple(gys)
        ys_expr = _tuple([_var(o) if o in live else "None" for o in outs])
        xs_expr = f"[{_arg_list(list(step.ins), lambda s: s in live)}]"
        if any(p is not None for p in step.out_params):
            out_expr = _tuple(["None" if p is None else buf_of[p] for p in step.out_params])
        else:
            out_expr = w.bind(f"O{i}", step.no_buffers)
        w.line(f"at = {i}", 3)
        inline = _backward_inline(
            step,
            [_var(s) if s in live else "None" for s in step.ins],
            _var(outs[0]) if outs[0] in live else "None",
            gys[0],
            outs[0] in fresh and step.ins.count(outs[0]) == 0,
        )
        if inline is None:
            call = f"{v}({a}, {xs_expr}, {ys_expr}, {gys_expr}, needs={n}, out={out_expr})"
            w.line(f"r = {call}", 3)
            exprs = [(f"r[{kk}]", step.op.vjp_returns_fresh) for kk in range(len(step.ins))]
        else:
            exprs = [e if e[0] is not None else ("None", False) for e in inline]
        for kk, s, action, p in step.actions:
            expr, is_fresh = exprs[kk]
            if action == ADD_TO_SLOT:
                add(s, expr, 3, is_fresh)
                continue
            assert p is not None
            b = buf_of[p]
            if (
                action == WRITE_PARAM
                and inline is not None
                and step.op.name == "matmul"
                and kk == 1
            ):
                # As the VJP does: the weight's gradient straight into its buffer.
                w.line(f"mm({_var(step.ins[0])}.T, {gys[0]}, out={b})", 3)
            elif action == WRITE_PARAM and inline is not None and step.op.name == "add" and kk == 1:
                # The bias gradient: the same reduction, written into its buffer.
                lead = tuple(range(len(step.node.inputs[0].shape) - 1))
                # dtype=: accumulate in the gradient's dtype even if the buffer's differs
                # (a float64 gradient check into float32 buffers), as sum-then-copy does.
                g_ = gys[0]
                w.line(f"np.add.reduce({g_}, axis={lead}, dtype={g_}.dtype, out={b})", 3)
            elif action == WRITE_PARAM and inline is not None:
                w.line(f"np.copyto({b}, {expr})", 3)
            elif action == WRITE_PARAM:
                w.line(f"t = {expr}", 3)
                w.line("if t is None:", 3)
                w.line(f"{b}.fill(0)  # later contributions add to it", 4)
                w.line(f"elif t is not {b}:", 3)
                w.line(f"np.copyto({b}, t)", 4)
            else:
                w.line(f"t = {expr}", 3)
                w.line("if t is not None:", 3)
                w.line(f"{b} += t", 4)
        w.line(f"{' = '.join(gys)} = None", 3)
        freed = [s for s in step.free_bwd if s in live]
        if freed:
            w.line(f"{' = '.join(_var(s) for s in sorted(set(freed)))} = None", 3)
        first = [buf_of[q] for q in step.out_params if q is not None]
        if first:
            # No gradient reached this step: the weights it would have written first get
            # zero (the buffer holds the optimizer's scratch from the last step).
            w.line("else:", 2)
            for b in first:
                w.line(f"{b}.fill(0)", 3)
    if w.lines[-1].endswith("try:"):
        w.line("pass", 2)  # nothing to differentiate
    w.line("except Exception as e:")
    w.line('raise error(at, "gradient", e) from e', 2)
    w.names["error"] = ex._step_error
    for p in ex._ungraded:
        w.line(f"{buf_of[p]}.fill(0)")
    w.line("return None")
    return "\n".join(w.lines) + "\n", w.names


def compile_source(source: str, names: dict, filename: str) -> Callable:
    """Execute generated source; the function it defines. ``filename`` names it in
    tracebacks (the source is registered with ``linecache`` so they show its lines)."""
    import linecache

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    namespace = dict(names)
    exec(code, namespace)  # noqa: S102 - our own generated code
    fn = [v for k, v in namespace.items() if k in ("forward", "backward")]
    return fn[0]
