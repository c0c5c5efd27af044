"""Out-of-scope features (sparse, quantisation, complex, ...): a clear error, not AttributeError."""

import types


class _OutOfScope(types.ModuleType):
    """A placeholder module or callable: using it raises NotImplementedError naming it."""

    def __init__(self, name, what):
        super().__init__(name)
        self._what = what

    def _fail(self, attr=None):
        full = self.__name__ + (f".{attr}" if attr else "")
        raise NotImplementedError(f"{full}: out of jitgrad's scope ({self._what})")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail(attr)

    def __call__(self, *args, **kwargs):
        self._fail()


def out_of_scope(name, what):
    """The placeholder for ``name`` (``what`` says which feature it belongs to)."""
    return _OutOfScope(name, what)
