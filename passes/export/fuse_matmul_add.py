"""MatMul + Add fused into Gemm."""

from __future__ import annotations

from graphc.ir import Fusion, Graph, Node, Value
from passes._base import Pass, PassResult

__all__ = ["FuseMatMulAdd"]


class FuseMatMulAdd(Pass):
    """``add(matmul(x, W), b)`` becomes ``gemm(x, W, b)`` (ONNX ``Gemm``) when valid:
    ``x`` has rank 2, ``W`` is a 2-D weight, ``b`` a 1-D weight with one entry per column
    of ``W``, all of one float dtype, and the matmul's result is read by that add alone.
    A Dense layer records gemm itself on a rank-2 input; the pairs fused here come from
    other layers (``ops.matmul(x, w) + b`` written out, an imported ONNX MatMul + Add).
    A Dense layer on rank-3 inputs keeps its MatMul and Add (Gemm is rank 2 only)."""

    name = "fuse_matmul_add"

    def run(self, graph: Graph) -> PassResult:
        nodes = graph.nodes
        # Keyed by id(): Node.__hash__ and Value.__hash__ are Python calls, id() is not.
        members = {id(n) for n in nodes}
        outputs = {id(v) for v in graph.outputs}
        fusions: list[Fusion] = []
        why_not = []
        for mm in nodes:
            if mm.op != "matmul":
                continue
            found = self._why_not(mm, members, outputs)
            if isinstance(found, str):
                why_not.append(f"{mm.where()}: {found}")
                continue
            # gemm takes the add's place and its output values (so its readers), and the
            # matmul, read by the add alone, goes: nothing to rewire.
            add, bias = found
            fusions.append(
                Fusion((mm, add), "gemm", [mm.inputs[0], mm.inputs[1], bias], None, mm.scope)
            )
        if not fusions:
            return PassResult(graph, False, "; ".join(why_not) or "no matmul nodes")
        # Every pair is found before the graph changes, then all are fused in one walk of
        # the node list. Fusing one pair never decides another: an add's other operand is
        # a weight, so no matmul or add belongs to two pairs, and the fused values keep
        # their types and readers.
        graph.fuse(fusions)
        reason = f"fused {len(fusions)} matmul+add pair(s) into gemm"
        if why_not:
            reason += "; not fused: " + "; ".join(why_not)
        return PassResult(graph, True, reason)

    @staticmethod
    def _why_not(mm: Node, members: set[int], outputs: set[int]) -> str | tuple[Node, Value]:
        """``(add_node, bias)`` when ``mm`` can be fused, else the reason it cannot.
        ``members`` and ``outputs`` hold the ids of the graph's nodes and outputs."""
        x, w = mm.inputs
        y = mm.outputs[0]
        if w.kind != "param" or len(w.shape) != 2:
            return "the right operand is not a 2-D weight"
        if len(x.shape) != 2:
            return f"the input has rank {len(x.shape)}; Gemm needs rank 2"
        if not x.dtype.startswith("float") or x.dtype != w.dtype:
            return f"dtypes {x.dtype} and {w.dtype} are not one float dtype"
        # The graph's readers of y, each once (add(y, y) lists the add twice in uses).
        users = y.uses
        if len(users) != 1 or id(users[0]) not in members:
            users = list({id(u): u for u in users if id(u) in members}.values())
        if id(y) in outputs or len(users) != 1 or users[0].op != "add":
            return "the result is not read by exactly one add (and nothing else)"
        add = users[0]
        a, b = add.inputs
        if a is y and b is y:
            return "the add adds the result to itself"
        bias = b if a is y else a
        if bias.kind != "param" or bias.shape != (w.shape[1],) or bias.dtype != w.dtype:
            return f"the added tensor {bias.ir_name!r} is not a 1-D weight of {w.shape[1]} entries"
        return add, bias
