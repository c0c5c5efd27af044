"""The static-graph IR: values with static shapes/dtypes, nodes in execution order.

Inputs are what a compiled step reads at each call (arguments, state, scalar hyperparameters,
random draws); constants are baked; outputs are the returned values, the final values of state
that the step wrote, and the new ``.grad`` bindings of leaves.
"""

import numpy as np


class Value:
    __slots__ = ("id", "shape", "dtype")

    def __init__(self, vid, shape, dtype):
        self.id = vid
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize


class GNode:
    """``out = op(*ins, **params)``; ``op`` is a Primitive (or a fused group after fusion)."""

    __slots__ = ("op", "ins", "params", "out", "where")

    def __init__(self, op, ins, params, out, where=None):
        self.op = op
        self.ins = tuple(ins)
        self.params = params
        self.out = out
        self.where = where  # user file:line that created the node (for errors)

    @property
    def name(self):
        return self.op.name

    def key(self):
        return (self.op.name, self.ins, _freeze(self.params))


def _freeze(p):
    if isinstance(p, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in p.items()))
    if isinstance(p, (list, tuple)):
        return tuple(_freeze(v) for v in p)
    if isinstance(p, np.ndarray):
        return ("nd", p.shape, str(p.dtype), p.tobytes())
    if isinstance(p, np.dtype):
        return ("dt", str(p))
    return p


class Input:
    """A runtime input: kind is 'arg', 'state', 'grad' (a leaf's .grad), 'scalar' or 'random'."""

    __slots__ = ("vid", "kind", "ref", "info")

    def __init__(self, vid, kind, ref, info=None):
        self.vid = vid
        self.kind = kind
        self.ref = ref
        self.info = info


class Graph:
    def __init__(self):
        self.values = {}
        self.nodes = []
        self.inputs = []
        self.consts = {}  # vid -> ndarray
        self.outputs = []  # vids of returned tensors
        self.out_refs = []  # per output: the argument/state tensor it is (identity kept), or None
        self.state_writes = []  # (input index, vid): final value of a state tensor
        self.grad_binds = []  # (leaf tensor, vid or None)
        self._next = 0

    def new_value(self, shape, dtype):
        v = Value(self._next, shape, dtype)
        self.values[v.id] = v
        self._next += 1
        return v.id

    def copy_shell(self):
        """A graph with the same values/inputs/consts/outputs but no nodes (for passes)."""
        g = Graph()
        g.values = dict(self.values)
        g.inputs = list(self.inputs)
        g.consts = dict(self.consts)
        g.outputs = list(self.outputs)
        g.out_refs = list(self.out_refs)
        g.state_writes = list(self.state_writes)
        g.grad_binds = list(self.grad_binds)
        g._next = self._next
        return g

    def live_outputs(self):
        """Every vid the caller needs after the step."""
        out = list(self.outputs)
        out += [v for _, v in self.state_writes]
        out += [v for _, v in self.grad_binds if v is not None]
        return out

    def consumers(self):
        users = {}
        for i, n in enumerate(self.nodes):
            for v in n.ins:
                users.setdefault(v, []).append(i)
        return users

    # ---- printing -----------------------------------------------------------------
    def _vstr(self, vid):
        v = self.values[vid]
        return f"%{vid}:{v.dtype.name}{list(v.shape)}"

    def __str__(self):
        lines = []
        for inp in self.inputs:
            lines.append(f"input  {self._vstr(inp.vid)} = {inp.kind}({_ref_name(inp)})")
        for vid, c in self.consts.items():
            if any(vid in n.ins for n in self.nodes) or vid in self.live_outputs():
                lines.append(f"const  {self._vstr(vid)} = {_const_str(c)}")
        for n in self.nodes:
            ps = ", ".join(f"{k}={_pstr(v)}" for k, v in n.params.items() if k != "group")
            args = ", ".join(f"%{i}" for i in n.ins)
            lines.append(
                f"{self._vstr(n.out)} = {n.op.name}({args}{', ' if ps and args else ''}{ps})"
            )
        for i, v in enumerate(self.outputs):
            lines.append(f"output[{i}] = %{v}")
        for idx, v in self.state_writes:
            lines.append(f"state {_ref_name(self.inputs[idx])} <- %{v}")
        for t, v in self.grad_binds:
            lines.append(f"grad of {_rname(t)} <- {'None' if v is None else '%' + str(v)}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_dot(self):
        """Graphviz DOT text of the graph: inputs as boxes, ops as ellipses."""
        out = ["digraph jitgrad {", "  rankdir=TB;", '  node [fontname="monospace"];']
        for inp in self.inputs:
            out.append(
                f'  v{inp.vid} [shape=box, label="{inp.kind} {_ref_name(inp)}\\n'
                f'{list(self.values[inp.vid].shape)}"];'
            )
        for vid in self.consts:
            out.append(f'  v{vid} [shape=plaintext, label="const {list(self.values[vid].shape)}"];')
        for n in self.nodes:
            v = self.values[n.out]
            out.append(f'  v{n.out} [label="{n.op.name}\\n{v.dtype.name}{list(v.shape)}"];')
            for i in n.ins:
                out.append(f"  v{i} -> v{n.out};")
        for i, v in enumerate(self.outputs):
            out.append(f'  out{i} [shape=doublecircle, label="out {i}"]; v{v} -> out{i};')
        for idx, v in self.state_writes:
            out.append(
                f'  w{idx} [shape=box, style=dashed, label="write '
                f'{_ref_name(self.inputs[idx])}"]; v{v} -> w{idx};'
            )
        out.append("}")
        return "\n".join(out)


def _rname(r):
    return f"arg{r.i}" if hasattr(r, "i") and not hasattr(r, "_data") else _tname(r)


def _tname(t):
    return f"tensor{list(t._data.shape)}@{id(t) & 0xFFFF:04x}"


def _ref_name(inp):
    if inp.kind == "arg":
        return f"arg{inp.ref}"
    if inp.kind == "scalar":
        return f"[{inp.ref[1]!r}]"
    if inp.kind == "random":
        return inp.info[0]
    if inp.kind == "grad":
        return f"{_rname(inp.ref)}.grad"
    return _tname(inp.ref)


def _const_str(c):
    if c.size == 1:
        return repr(c.reshape(()).item())
    return f"array{list(c.shape)}"


def _pstr(v):
    if isinstance(v, np.dtype):
        return v.name
    return repr(v)
