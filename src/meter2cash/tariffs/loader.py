"""Read tariff documents from YAML files and the packaged catalogue.

Every malformed file becomes one :class:`TariffError` line naming the file, the field path
(``versions[0].components[1].tiers[2].up_to_kwh``), the problem and the fix.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.schema import COMPONENT_KINDS, FieldProblem, TariffDocument
from meter2cash.tariffs.urdb import UrdbImport, looks_like_urdb, parse_urdb

CATALOGUE_PACKAGE = "meter2cash.tariffs"
CATALOGUE_DIR = "catalogue"


class _DecimalLoader(yaml.SafeLoader):
    """A safe YAML loader that reads numbers with a fraction as exact Decimals, not floats."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")  # .inf / .nan: rejected as not finite by validation
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)

_FIXES: dict[str, str] = {
    "missing": "add the field",
    "extra_forbidden": "remove the field or correct its spelling",
    "union_tag_invalid": f"use one of: {', '.join(COMPONENT_KINDS)}",
    "union_tag_not_found": f"add kind: one of {', '.join(COMPONENT_KINDS)}",
    "greater_than_equal": "prices and amounts are non-negative",
    "greater_than": "give a positive value",
    "less_than_equal": "give at most the maximum shown",
    "literal_error": "use one of the listed values",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "decimal_parsing": 'write the number as a plain decimal, e.g. "0.538"',
    "finite_number": "write a finite number",
    "too_short": "give at least one entry",
    "string_pattern_mismatch": "match the pattern shown",
}


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``versions[0].components[1].tiers[2]`` from a validation location.

    A discriminated union adds the component kind to the location after its index, and a
    bad mapping key adds ``[key]``; both are dropped, the path already leads there.
    """
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if item == "[key]":
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not (isinstance(previous, int) and item in COMPONENT_KINDS):
            parts.append(f".{item}" if parts else item)
        previous = item
    return "".join(parts) or "(document)"


def _describe(error: ErrorDetails) -> tuple[str, str, str]:
    """(field path, problem, fix) of one pydantic error."""
    loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, FieldProblem):
        return _field_path(loc + cause.path), cause.problem, cause.fix
    problem = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        problem = "is required"
    if error["type"].startswith("union_tag"):
        loc += ("kind",)
    return _field_path(loc), problem, _FIXES.get(error["type"], "correct the value")


def parse_tariff(text: str, source: str) -> TariffDocument:
    """Parse and validate YAML ``text`` read from ``source`` (a file name for messages)."""
    try:
        data: Any = yaml.load(text, Loader=_DecimalLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or "unreadable"
        raise TariffError(
            f"{source}:{where}: not valid YAML ({reason})",
            "fix the YAML syntax (indentation, colons, quotes)",
        ) from exc
    if not isinstance(data, dict):
        raise TariffError(
            f"{source}: a tariff file must be a mapping with code, name and versions",
            "start the file with 'code: …'",
        )
    try:
        return TariffDocument.model_validate(data)
    except ValidationError as exc:
        # A list whose items failed is also reported "too short"; that echo is dropped.
        errors = [e for e in exc.errors() if not (e["type"] == "too_short" and e["input"])]
        errors = errors or exc.errors()
        path, problem, fix = _describe(errors[0])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise TariffError(f"{source}: {path}: {problem}{more}", fix) from exc


def _read(path: Path) -> str:
    """The text of tariff file ``path`` (UTF-8), or a TariffError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TariffError(
            f"{path}: cannot read ({exc})", "check the path and encoding (UTF-8)"
        ) from exc


def load_tariff_file(path: str | Path) -> TariffDocument:
    """The tariff document in YAML file ``path``."""
    return parse_tariff(_read(Path(path)), str(path))


def load_urdb_file(path: str | Path) -> UrdbImport:
    """Import the URDB record in JSON file ``path``."""
    return parse_urdb(_read(Path(path)), str(path))


def load_tariff_or_urdb(path: str | Path) -> tuple[TariffDocument, tuple[str, ...]]:
    """The tariff in ``path``: our YAML, or a URDB JSON record (told apart by content).

    Also returns what a URDB import could not honour (``"field: why"``; empty for YAML).
    """
    path = Path(path)
    text = _read(path)
    if looks_like_urdb(text):
        imported = parse_urdb(text, str(path))
        return imported.document, imported.not_honoured
    return parse_tariff(text, str(path)), ()


class _FlowRowsDumper(yaml.SafeDumper):
    """Writes lists of plain values (a schedule row, a month list) on one line."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowRowsDumper.add_representer(list, _represent_list)


def dump_tariff(document: TariffDocument) -> str:
    """``document`` as tariff YAML that :func:`parse_tariff` reads back unchanged."""
    data = document.model_dump(mode="json")
    return yaml.dump(data, Dumper=_FlowRowsDumper, allow_unicode=True, sort_keys=False, width=100)


def load_catalogue() -> dict[str, TariffDocument]:
    """Every tariff in the packaged catalogue (``tariffs/catalogue/*.yaml``), by code."""
    catalogue: dict[str, TariffDocument] = {}
    folder = files(CATALOGUE_PACKAGE).joinpath(CATALOGUE_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        document = parse_tariff(entry.read_text(encoding="utf-8"), f"catalogue/{entry.name}")
        if document.code in catalogue:
            raise TariffError(
                f"catalogue/{entry.name}: tariff code {document.code} is used twice",
                "give each catalogue tariff its own code",
            )
        catalogue[document.code] = document
    return catalogue
