"""Size arguments (``zeros(2, 3)``, ``x.view((4, -1))``): ints as PyTorch takes them."""

import operator


def int_tuple(op, what, args):
    """``args`` (ints, or one tuple/list of them) as a tuple of ints; a float, a bool or any
    other non-integer is a TypeError naming ``op`` and the argument, as PyTorch's."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:  # the common case: plain ints
        if type(s) is not int:
            break
    else:
        return args if type(args) is tuple else tuple(args)
    out = []
    for k, s in enumerate(args):
        if isinstance(s, bool) or not hasattr(s, "__index__"):
            raise TypeError(
                f"{op}(): argument '{what}' must be a tuple of ints, but element {k} is "
                f"{type(s).__name__} ({s!r}) in {tuple(args)!r}; pass int(...)"
            )
        try:
            out.append(operator.index(s))
        except TypeError:  # a tensor of more than one element or of a float dtype
            raise TypeError(
                f"{op}(): argument '{what}' must be a tuple of ints, but element {k} is "
                f"{s!r}; pass int(...)"
            ) from None
    return tuple(out)
