"""Compact number columns for the series of an incident file.

A day of 15 s samples for 100 workloads is 3.5 M timestamps and 3.5 M values. As tuples of
Python floats that is 32 bytes a number (the float and its pointer), 220 MB for one file,
held for the whole replay. These columns keep the same numbers in ``array('d')``, 8 bytes
each, and read like the tuples they replace: ``len``, indexing, iteration, ``in``, equality
with a tuple, and ``None`` for a gap in a value column (stored as NaN, which validation has
already refused as an input value, so NaN can only mean a gap).

Why by hand: pydantic has no array type; ``numpy`` is not a core dependency and would bring
its own equality and serialisation semantics to a model that must dump byte-identical JSON.
Validation goes through pydantic's own ``tuple[float, ...]`` schema first, so error
messages and locations are those of a tuple field.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, overload

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_GAP = math.nan


def _schema(
    cls: type[Any], item: Any, handler: GetCoreSchemaHandler, of: Callable[[Any], Any]
) -> core_schema.CoreSchema:
    """Validate as ``tuple[item, ...]``, then pack; dump as a list (JSON) or tuple (Python)."""
    inner = handler.generate_schema(tuple[item, ...])

    def validate(value: Any, next_: core_schema.ValidatorFunctionWrapHandler) -> Any:
        return value if isinstance(value, cls) else of(next_(value))

    def dump(value: Any, info: core_schema.SerializationInfo) -> Any:
        return list(value) if info.mode_is_json() else tuple(value)

    return core_schema.no_info_wrap_validator_function(
        validate,
        inner,
        serialization=core_schema.plain_serializer_function_ser_schema(
            dump, info_arg=True, return_schema=core_schema.any_schema()
        ),
    )


class _Packed:
    """What both columns share: the packed array, its length and pydantic's schema."""

    __slots__ = ("_data",)
    _item: ClassVar[Any]
    _data: array[float]

    @property
    def array(self) -> array[float]:
        """The packed numbers (NaN for a gap); shared, never to be mutated."""
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _schema(cls, cls._item, handler, cls)


class NumberColumn(_Packed, Sequence[float]):
    """An immutable column of floats (timestamps) over ``array('d')``."""

    __slots__ = ()
    _item = float

    def __init__(self, numbers: Iterable[float] = ()) -> None:
        self._data = array("d", numbers)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        return self._data[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NumberColumn):
            return self._data == other._data
        if isinstance(other, tuple):
            return tuple(self._data) == other
        return NotImplemented

    __hash__ = _Packed.__hash__

    def __repr__(self) -> str:
        return f"NumberColumn({list(self._data)!r})"


class GapColumn(_Packed, Sequence[float | None]):
    """An immutable column of floats with gaps (``None``), over ``array('d')`` with NaN."""

    __slots__ = ("_gaps",)
    _item = float | None

    def __init__(self, values: Iterable[float | None] = ()) -> None:
        self._data = array("d", (_GAP if v is None else v for v in values))
        self._gaps = sum(1 for v in self._data if v != v)  # NaN is the only x with x != x

    @property
    def gaps(self) -> int:
        """How many samples are missing."""
        return self._gaps

    @overload
    def __getitem__(self, index: int) -> float | None: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float | None]: ...
    def __getitem__(self, index: int | slice) -> float | None | Sequence[float | None]:
        if isinstance(index, slice):
            return tuple(_unpack(self._data[index]))
        value = self._data[index]
        return None if value != value else value

    def __iter__(self) -> Iterator[float | None]:
        return _unpack(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GapColumn | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))  # gaps as None: NaN hashes by identity

    def __repr__(self) -> str:
        return f"GapColumn({list(self)!r})"


def _unpack(values: Iterable[float]) -> Iterator[float | None]:
    return (None if v != v else v for v in values)


def packed_numbers(numbers: Sequence[float]) -> array[float]:
    """The column's own array, or a packed copy of any other sequence of floats."""
    return numbers.array if isinstance(numbers, NumberColumn) else array("d", numbers)


def packed_values(values: Sequence[float | None]) -> GapColumn:
    """The column itself, or a GapColumn of any other sequence (``model_copy`` skips
    validation, so a copy updated with a tuple holds a tuple)."""
    return values if isinstance(values, GapColumn) else GapColumn(values)
