"""Pytrees: nested lists/tuples/namedtuples/dicts of tensors, flattened to a leaf list."""

from ..tensor import Tensor


def flatten(obj, leaves):
    """Append ``obj``'s tensors to ``leaves``; return the structure (non-tensors kept as-is)."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T",)
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return (type(obj), tuple(flatten(o, leaves) for o in obj))
    if isinstance(obj, tuple):  # namedtuple
        return ("NT", type(obj), tuple(flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        return (dict, tuple(obj.keys()), tuple(flatten(v, leaves) for v in obj.values()))
    return ("C", obj)


def unflatten(tree, it):
    """Rebuild the structure of ``tree`` taking tensors from the iterator ``it``."""
    tag = tree[0]
    if tag == "T":
        return next(it)
    if tag == "C":
        return tree[1]
    if tag == "NT":
        return tree[1](*[unflatten(t, it) for t in tree[2]])
    if tag is dict:
        return {k: unflatten(t, it) for k, t in zip(tree[1], tree[2])}
    return tag(unflatten(t, it) for t in tree[1])


def hashable(tree):
    """``tree`` as a dict key. An unhashable constant (an ``argparse.Namespace``, a dataclass
    instance) stands for itself by identity: what the step reads from it is guarded by
    value. An array constant has no such guard: a key that matches no other call."""
    try:
        hash(tree)
        return tree
    except TypeError:
        pass
    tag = tree[0]
    if tag == "T":
        return tree
    if tag == "C":
        obj = tree[1]
        if hasattr(obj, "__array__") or isinstance(obj, (list, dict, set, bytearray)):
            return ("id", id(tree))
        return ("C-id", type(obj), id(obj))
    if tag in ("NT", dict):
        return tree[:2] + (tuple(hashable(t) for t in tree[2]),)
    return (tag, tuple(hashable(t) for t in tree[1]))


def constants(tree, path=()):
    """``[(path, value)]`` of the non-tensor leaves of a structure (for the purity check)."""
    tag = tree[0]
    if tag == "T":
        return []
    if tag == "C":
        return [(path, tree[1])]
    kids = tree[2] if tag in ("NT", dict) else tree[1]
    out = []
    for i, t in enumerate(kids):
        out += constants(t, path + (i,))
    return out


def shape_of(tree):
    """The structure with constants blanked (two trees of one shape compare equal)."""
    tag = tree[0]
    if tag in ("T", "C"):
        return tag
    kids = tree[2] if tag in ("NT", dict) else tree[1]
    head = tree[:2] if tag in ("NT", dict) else tree[:1]
    return head + (tuple(shape_of(t) for t in kids),)
