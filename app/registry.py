"""The protocol registry: every definition under the protocols directory, loaded and validated at
start. A malformed definition stops kbx with a message naming the file and the problem."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.errors import NotFound
from exchange.protocols import DefinitionError, ProtocolDefinition, parse_definition
from exchange.shown import shown

__all__ = ["Registry", "load_registry"]


@dataclass(frozen=True, slots=True)
class Registry:
    definitions: Mapping[str, ProtocolDefinition]

    def get(self, protocol_id: str) -> ProtocolDefinition | None:
        return self.definitions.get(protocol_id)

    def require(self, protocol_id: str) -> ProtocolDefinition:
        """The definition of ``protocol_id``. Raises ``NotFound`` (``protocol.unknown``)."""
        definition = self.definitions.get(protocol_id)
        if definition is None:
            shown_id = shown(protocol_id)
            raise NotFound(
                "protocol.unknown",
                f"unknown protocol '{shown_id}' (known: {', '.join(sorted(self.definitions))})",
                f"onbekend protocol '{shown_id}' (bekend: {', '.join(sorted(self.definitions))})",
            )
        return definition

    def __iter__(self) -> Iterator[ProtocolDefinition]:
        return iter(self.definitions[k] for k in sorted(self.definitions))

    def __len__(self) -> int:
        return len(self.definitions)


def load_registry(directory: Path) -> Registry:
    if not directory.is_dir():
        raise DefinitionError(f"{directory}: protocol directory not found")
    definitions: dict[str, ProtocolDefinition] = {}
    for path in sorted(directory.glob("*.toml")):
        definition = parse_definition(path.read_bytes(), str(path))
        if definition.id != path.stem:
            raise DefinitionError(f"{path}: id {definition.id!r} does not match the file name")
        definitions[definition.id] = definition
    if not definitions:
        raise DefinitionError(f"{directory}: no protocol definitions (*.toml) found")
    return Registry(definitions)
