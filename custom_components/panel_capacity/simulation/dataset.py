"""Read a base-load recording: the UCI household file's format, or a plain timestamp,power_w file."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
import gzip
import io
from pathlib import Path
from typing import TYPE_CHECKING

from .scenario import UNITS_DEMAND, UNITS_POWER, ScenarioError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .scenario import BaseLoadSpec


@dataclass(slots=True)
class Series:
    """Piecewise-constant power: value i holds from times[i] to times[i + 1] (or ``end``)."""

    times: list[float]
    total_w: list[float]  # what the file says the house drew
    columns: dict[str, list[float]] = field(default_factory=dict)  # demand columns, in W
    end: float = 0.0
    held_rows: int = 0  # rows whose value was missing: the previous value was kept

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.times)


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _epoch(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso_prefix(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


ISO_LENGTH = 19  # "2007-01-06 00:00:00"


def _rows(reader: Iterator[list[str]], time_index: int, start: float | None) -> Iterator[list[str]]:
    """Skip rows before ``start`` cheaply when times are ISO strings (they sort as text)."""
    if start is None:
        yield from reader
        return
    prefix = _iso_prefix(start)
    for row in reader:
        stamp = row[time_index] if len(row) > time_index else ""
        if len(stamp) >= ISO_LENGTH and stamp[4] == "-" and stamp[:ISO_LENGTH].replace("T", " ") < prefix:
            continue
        yield row
        break
    yield from reader


@dataclass(slots=True)
class _Columns:
    """Where the wanted columns are, and how to scale them to watts."""

    time: int
    power: int
    power_scale: float
    demand: dict[str, tuple[int, float]]


def _columns(header: list[str], spec: BaseLoadSpec, demand_columns: dict[str, str]) -> _Columns:
    def index(column: str, what: str) -> int:
        try:
            return header.index(column)
        except ValueError:
            raise ScenarioError(
                f"{what}: no column {column!r} in {spec.csv.name} (it has {', '.join(header)})"
            ) from None

    return _Columns(
        time=index(spec.time_column, "base_load.time_column"),
        power=index(spec.power_column, "base_load.power_column"),
        power_scale=UNITS_POWER[spec.unit],
        demand={
            column: (index(column, "demand_column"), UNITS_DEMAND[unit])
            for column, unit in demand_columns.items()
        },
    )


def _append(series: Series, row: list[str], columns: _Columns, moment: float) -> None:
    """Add a row; a missing value keeps the previous one (and is counted)."""
    held = False
    try:
        power = float(row[columns.power]) * columns.power_scale
    except ValueError, IndexError:
        power = series.total_w[-1] if series.total_w else 0.0
        held = True
    series.times.append(moment)
    series.total_w.append(power)
    for column, (position, scale) in columns.demand.items():
        values = series.columns[column]
        try:
            values.append(float(row[position]) * scale)
        except ValueError, IndexError:
            values.append(values[-1] if values else 0.0)
            held = True
    series.held_rows += held


def load_series(spec: BaseLoadSpec, demand_columns: dict[str, str]) -> Series:
    """Read the window of the recording; ``demand_columns`` maps a column to its unit."""
    try:
        handle = _open(spec.csv)
    except OSError as err:
        raise ScenarioError(f"base_load.csv: cannot open {spec.csv}: {err.strerror}") from err
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ScenarioError(f"base_load.csv: {spec.csv} is empty")
        columns = _columns([name.strip() for name in header], spec, demand_columns)
        series = Series(times=[], total_w=[], columns={column: [] for column in demand_columns})
        previous = -float("inf")
        for row in _rows(reader, columns.time, spec.start):
            if not row:
                continue
            try:
                moment = _epoch(row[columns.time])
            except ValueError, IndexError:
                raise ScenarioError(f"{spec.csv.name}, a row: {row[:1]!r} is not a time") from None
            if spec.start is not None and moment < spec.start:
                continue
            if spec.end is not None and moment >= spec.end:
                break
            if moment <= previous:
                raise ScenarioError(f"{spec.csv.name}: times must increase (at {row[columns.time]})")
            previous = moment
            _append(series, row, columns, moment)
    if len(series.times) < MIN_ROWS:
        raise ScenarioError(
            f"base_load: fewer than two readings of {spec.csv.name} fall in the chosen window"
        )
    step = series.times[-1] - series.times[-2]
    series.end = spec.end if spec.end is not None else series.times[-1] + step
    return series


MIN_ROWS = 2
