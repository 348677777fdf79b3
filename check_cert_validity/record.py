"""Immutable value objects that cost nothing to define.

``dataclasses`` and ``typing.NamedTuple`` generate their methods by
compiling source text when each class is created; for a plugin that starts
thousands of times an hour that is measurable start-up time (issue 7). A
``Record`` subclass lists its fields in ``__slots__``, writes a typed
``__init__`` that calls ``self._set(field=value, ...)`` once, and gets immutability,
equality, hashing and a readable ``repr`` from here.
"""

from __future__ import annotations


class Record:
    """Base of immutable values: fields are ``__slots__``, set once by ``_set``."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: object) -> None:
        """Assign every field by name (only from ``__init__``)."""
        if values.keys() != set(self.__slots__):
            raise TypeError(f"{type(self).__name__} needs exactly {sorted(self.__slots__)}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"
