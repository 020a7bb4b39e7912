"""The codec registry: the one dispatch point from the core to the format families.

Dispatch happens once, on the record's class: each family module (``scalar/_codec.py``,
``block/_block.py``, ``numsys/_posit.py``, ...) registers a codec object with
:func:`register_codec` when it is imported; the verbs of ``core/_codec.py`` and ``QArray`` find it
with :func:`codec_for`. The core never imports a family module: families sit above the core,
and this registry is how the core reaches them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ._options import Options
    from ._qarray import QArray

__all__ = ["Codec", "register_codec", "codec_for"]


class Codec(Protocol):
    """What a format family provides. ``opts`` is a validated :class:`Options`; ``key`` the
    randomness of stochastic rounding (validated by the verb); ``extra`` holds family-specific
    keyword options (validated by the family). A codec may also define ``validate(q)`` (the
    QArray layout of the family; default: one code per element, no scales)."""

    def quantize(self, x: Any, fmt: Any, opts: Options, key: Any, backend: str, **extra: Any) -> Any: ...

    def encode(self, x: Any, fmt: Any, opts: Options, key: Any, backend: str, **extra: Any) -> QArray: ...

    def decode(self, q: QArray, dtype: Any, backend: str) -> Any: ...

    def values(self, fmt: Any) -> np.ndarray: ...


_CODECS: dict[type, Codec] = {}


def register_codec(record_cls: type, codec: Codec) -> None:
    """Register the codec of a format family (one per record class; a subclass of a registered
    class uses its parent's codec unless it registers its own).

    Raises:
        TypeError: if ``record_cls`` is not a class.
    """
    if not isinstance(record_cls, type):
        raise TypeError(f"record_cls must be a class, got {type(record_cls).__name__}")
    _CODECS[record_cls] = codec


def codec_for(fmt: Any) -> Codec:
    """The codec registered for ``fmt``'s class (or its nearest registered base class).

    Raises:
        TypeError: naming the class, when no codec is registered for it.
    """
    for cls in type(fmt).__mro__:
        if cls in _CODECS:
            return _CODECS[cls]
    raise TypeError(f"no codec registered for {type(fmt).__name__}")
