"""The ``jitgrad.<name>`` functions of every op declared with ``public(export=True)``.

``jitgrad/__init__.py`` star-imports this module; nothing here is written by hand.
"""

from . import _EXPORTS

globals().update(_EXPORTS)
__all__ = sorted(_EXPORTS)
