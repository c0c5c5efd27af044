"""Forward-only traces: split one recorded graph into a compiled forward and backward.

The capture records the forward and, with placeholder output gradients (cotangents), the
backward the tape engine runs. Nodes that depend on a cotangent form the backward graph;
forward values it reads are 'saved' outputs of the forward graph. At replay the forward's
outputs carry one tape node whose VJP runs the compiled backward.
"""

import numpy as np

from .._grad_mode import STATE
from ..ops.registry import Node, Primitive
from ..tensor import _wrap
from .graph import Graph, Input
from .passes.pipeline import optimize
from .pytree import unflatten as _unflatten
from .tracer import resolve
from .variant import Variant, _make_backend


def split_backward(raw, cot_vids, grad_vids):
    """(forward graph, backward graph, saved vids) from a graph holding both."""
    cot = set(cot_vids)
    bwd_set = set(cot)
    fwd_nodes, bwd_nodes = [], []
    for n in raw.nodes:
        if any(v in bwd_set for v in n.ins):
            bwd_set.add(n.out)
            bwd_nodes.append(n)
        else:
            fwd_nodes.append(n)
    produced_bwd = {n.out for n in bwd_nodes} | cot
    need = set()
    for n in bwd_nodes:
        need.update(v for v in n.ins if v not in produced_bwd)
    need.update(v for v in grad_vids if v is not None and v not in produced_bwd)
    saved = sorted(v for v in need if v not in raw.consts)

    f = raw.copy_shell()
    f.inputs = [i for i in raw.inputs if i.kind != "cotangent"]
    f.nodes = fwd_nodes
    f.outputs = list(raw.outputs) + saved

    b = Graph()
    b.values = dict(raw.values)
    b._next = raw._next
    b.consts = dict(raw.consts)
    b.inputs = [Input(v, "saved", k) for k, v in enumerate(saved)] + [
        Input(v, "cotangent", k) for k, v in enumerate(cot_vids)
    ]
    b.nodes = bwd_nodes
    b.outputs = [v for v in grad_vids if v is not None]
    return f, b, saved


def _bwd_vjp(g, out, *wrt, fv, saved, index):
    cots = []
    for k, vid in enumerate(fv.cot_vids):
        val = fv.bwd_graph.values[vid]
        cots.append(g._data if k == index else np.zeros(val.shape, val.dtype))
    res = fv.bwd_exe.run(list(saved) + [np.ascontiguousarray(c) for c in cots])
    out_grads = []
    for vid in fv.grad_vids:
        out_grads.append(
            None
            if vid is None
            else _wrap(np.asarray(res[vid]).reshape(fv.bwd_graph.values[vid].shape))
        )
    return tuple(out_grads)


_BWD = Primitive(
    "compiled_backward",
    "opaque",
    None,
    vjp=_bwd_vjp,
    saves=(),
    backward_name="CompiledFunctionBackward",
)


class ForwardOnlyVariant(Variant):
    def __init__(self, fn_name, raw, info, guards, effects, out_tree, backend, options):
        f, b, saved = split_backward(raw, info["cot_vids"], info["grad_vids"])
        self.n_user_out = len(raw.outputs)
        self.diff = info["diff"]
        self.refs = info["refs"]
        self.cot_vids = info["cot_vids"]
        self.grad_vids = info["grad_vids"]
        fusion = backend != "reference"
        fg, counts = optimize(f, fusion=fusion)
        bg, bcounts = optimize(b, fusion=fusion)
        self.bwd_graph = bg
        # the forward's passes may rename a saved value (CSE): take it from its output slot
        self.saved_vids = list(fg.outputs[self.n_user_out :])
        super().__init__(fn_name, fg, raw, counts, guards, effects, out_tree, backend, options)
        self.bwd_counts = bcounts
        self.bwd_exe = _make_backend(backend, bg, options)

    def _prepare(self):
        super()._prepare()
        self.out_kind = self.out_kind[: self.n_user_out]

    def finish(self, args, arrays, outs):
        g = self.graph
        for r, v in g.grad_binds:
            resolve(r, args)._grad = None if v is None else _wrap(outs[v])
        res = self.outputs(args, outs)
        if STATE.enabled:
            wrt = tuple(resolve(r, args) for r in self.refs)
            if any(t._requires_grad for t in wrt):
                saved = [
                    np.ascontiguousarray(outs[v]) if v in outs else None for v in self.saved_vids
                ]
                saved = [
                    s if s is not None else _input_array(g, arrays, v)
                    for s, v in zip(saved, self.saved_vids)
                ]
                for k, i in enumerate(self.diff):
                    t = res[i]
                    t._grad_fn = Node(_BWD, wrt, {"fv": self, "saved": saved, "index": k}, t)
                    t._requires_grad = True
        return _unflatten(self.out_tree, iter(res))


def _input_array(g, arrays, vid):
    for inp, a in zip(g.inputs, arrays):
        if inp.vid == vid:
            return a
    raise KeyError(vid)
