"""A semantic-convention registry read from YAML: the OpenTelemetry model (`groups`) and
Weaver's `definition/2` files (`attributes`, `attribute_groups`, `metrics`, `events`, `spans`).

    registry = load_registry("telemetry-schema/", dependency="semconv-1.40.0/model/")
    registry.attribute("demo.order.id")         # AttributeDef, own registry first
    registry.metric("demo.ad.requests")         # Signal with its resolved attribute uses

Refs resolve across the registry and its dependency (the registry's own definitions win).
Everything unknown is an error rather than a guess: an unknown key, a ref to nothing, an
`extends`/`ref_group` cycle, a malformed type. Each `RegistryError` names the file and the
path inside it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tracebed.errors import ConfigError


class RegistryError(ConfigError, ValueError):
    """A registry that cannot be read or resolved; says which file and where in it."""

    def __init__(self, message: str, file: str | Path | None = None, path: str = ""):
        self.file = str(file) if file is not None else ""
        self.path = path
        self.reason = message
        where = ": ".join(part for part in (self.file, path) if part)
        super().__init__(f"{where}: {message}" if where else message)


class Requirement(enum.StrEnum):
    REQUIRED = "required"
    CONDITIONALLY_REQUIRED = "conditionally_required"
    RECOMMENDED = "recommended"
    OPT_IN = "opt_in"


PRIMITIVE_TYPES = frozenset(
    {"string", "int", "double", "boolean", "any", "string[]", "int[]", "double[]", "boolean[]"}
)


@dataclass(frozen=True, slots=True)
class Deprecation:
    reason: str  # renamed | obsoleted | uncategorized
    renamed_to: str | None = None
    note: str = ""

    def describe(self) -> str:
        if self.renamed_to:
            return f"renamed to {self.renamed_to}"
        return self.note.strip() or self.reason


@dataclass(frozen=True, slots=True)
class EnumMember:
    id: str
    value: str | int | float | bool
    stability: str = ""
    deprecated: Deprecation | None = None


@dataclass(frozen=True, slots=True)
class AttrType:
    """`name` is a primitive type (`string`, `int[]`...) or `enum`; a template wraps one."""

    name: str
    template: bool = False
    members: tuple[EnumMember, ...] = ()

    @property
    def is_enum(self) -> bool:
        return self.name == "enum"

    def __str__(self) -> str:
        inner = self.name
        return f"template[{inner}]" if self.template else inner

    @property
    def value_type(self) -> str:
        """The primitive type a value must have: an enum's members' (string or int)."""
        if not self.is_enum:
            return self.name
        if self.members and all(
            isinstance(m.value, int) and not isinstance(m.value, bool) for m in self.members
        ):
            return "int"
        if self.members and all(isinstance(m.value, float) for m in self.members):
            return "double"
        return "string"


@dataclass(frozen=True, slots=True)
class AttributeDef:
    key: str
    type: AttrType
    brief: str = ""
    stability: str = ""
    deprecated: Deprecation | None = None
    file: str = ""

    @property
    def is_template(self) -> bool:
        return self.type.template


@dataclass(frozen=True, slots=True)
class AttributeUse:
    """An attribute as a group or signal lists it, with its requirement level there."""

    attribute: AttributeDef
    requirement: Requirement = Requirement.RECOMMENDED
    condition: str = ""

    @property
    def key(self) -> str:
        return self.attribute.key


class SignalType(enum.StrEnum):
    ATTRIBUTE_GROUP = "attribute_group"
    SPAN = "span"
    METRIC = "metric"
    EVENT = "event"
    ENTITY = "entity"


@dataclass(frozen=True, slots=True)
class Signal:
    """A resolved group: an attribute group, span, metric, event or entity."""

    id: str
    type: SignalType
    attributes: tuple[AttributeUse, ...] = ()
    name: str = ""  # metric name, event name, entity type, span type
    instrument: str = ""
    unit: str | None = None
    span_kind: str = ""
    stability: str = ""
    deprecated: Deprecation | None = None
    file: str = ""

    def attribute(self, key: str) -> AttributeUse | None:
        for use in self.attributes:
            if use.key == key:
                return use
        return None


@dataclass
class Registry:
    """One resolved registry, and the dependency its refs may point into."""

    root: str
    attributes: dict[str, AttributeDef] = field(default_factory=dict)
    signals: dict[str, Signal] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    dependency: Registry | None = None
    # Attribute keys this registry defines or references (what its coverage counts).
    referenced: set[str] = field(default_factory=set)
    # Lookup indexes, built on first use.
    _namespaces: frozenset[str] | None = field(default=None, init=False, repr=False)
    _template_list: list[AttributeDef] | None = field(default=None, init=False, repr=False)
    _indexes: dict[SignalType, dict[str, Signal]] = field(
        default_factory=dict, init=False, repr=False
    )

    # -- lookups (own registry first, then the dependency) ------------------------------------
    def attribute(self, key: str) -> AttributeDef | None:
        found = self.attributes.get(key)
        if found is None and self.dependency is not None:
            return self.dependency.attribute(key)
        return found

    def template_for(self, key: str) -> AttributeDef | None:
        """The longest template attribute `key` is an instance of (`prefix.<rest>`)."""
        best: AttributeDef | None = None
        for registry in self._chain():
            for template in registry._templates():
                if (
                    key.startswith(template.key + ".")
                    and len(key) > len(template.key) + 1
                    and (best is None or len(template.key) > len(best.key))
                ):
                    best = template
        return best

    def metric(self, name: str) -> Signal | None:
        return self._by_name(SignalType.METRIC, name)

    def event(self, name: str) -> Signal | None:
        return self._by_name(SignalType.EVENT, name)

    def signal(self, signal_id: str) -> Signal | None:
        found = self.signals.get(signal_id)
        if found is None and self.dependency is not None:
            return self.dependency.signal(signal_id)
        return found

    def all_attributes(self) -> Iterator[AttributeDef]:
        """Every attribute definition, own first; a key the dependency also has appears once."""
        seen: set[str] = set()
        for registry in self._chain():
            for key, attribute in registry.attributes.items():
                if key not in seen:
                    seen.add(key)
                    yield attribute

    def own_metrics(self) -> list[Signal]:
        return [s for s in self.signals.values() if s.type is SignalType.METRIC]

    def namespaces(self) -> frozenset[str]:
        """Every dot-separated prefix of a registered attribute key (`http`, `http.request`)."""
        cached = self._namespaces
        if cached is None:
            out: set[str] = set()
            for attribute in self.all_attributes():
                parts = attribute.key.split(".")
                out.update(".".join(parts[:i]) for i in range(1, len(parts)))
            cached = frozenset(out)
            self._namespaces = cached
        return cached

    def _chain(self) -> Iterator[Registry]:
        registry: Registry | None = self
        while registry is not None:
            yield registry
            registry = registry.dependency

    def _templates(self) -> list[AttributeDef]:
        cached = self._template_list
        if cached is None:
            cached = [a for a in self.attributes.values() if a.is_template]
            self._template_list = cached
        return cached

    def _by_name(self, kind: SignalType, name: str) -> Signal | None:
        for registry in self._chain():
            index = registry._indexes.get(kind)
            if index is None:
                index = {}
                for signal in registry.signals.values():
                    # A live definition wins over a deprecated one of the same name.
                    if (
                        signal.type is kind
                        and signal.name
                        and (signal.name not in index or index[signal.name].deprecated)
                    ):
                        index[signal.name] = signal
                registry._indexes[kind] = index
            if name in index:
                return index[name]
        return None


# -- the keys each kind of mapping may have ------------------------------------------------------

_V1_GROUP_KEYS = frozenset(
    {
        "id", "type", "brief", "note", "prefix", "extends", "stability", "deprecated",
        "attributes", "span_kind", "events", "metric_name", "instrument", "unit", "name",
        "display_name", "annotations", "entity_associations", "body", "constraints",
    }
)  # fmt: skip
_V1_ATTRIBUTE_KEYS = frozenset(
    {
        "id", "ref", "type", "brief", "examples", "tag", "requirement_level",
        "sampling_relevant", "note", "stability", "deprecated", "annotations", "role",
    }
)  # fmt: skip
_V2_TOP_KEYS = frozenset(
    {"file_format", "attributes", "attribute_groups", "metrics", "events", "spans", "entities"}
)
_V2_ATTRIBUTE_KEYS = frozenset(
    {"key", "type", "brief", "note", "examples", "stability", "deprecated", "annotations"}
)
_V2_USE_KEYS = frozenset(
    {"ref", "ref_group", "requirement_level", "brief", "note", "examples", "stability",
     "annotations", "sampling_relevant", "deprecated"}
)  # fmt: skip
_V2_GROUP_KEYS = frozenset(
    {"id", "visibility", "brief", "note", "stability", "deprecated", "attributes",
     "annotations", "display_name"}
)  # fmt: skip
_V2_SIGNAL_KEYS = {
    SignalType.METRIC: frozenset(
        {"name", "brief", "note", "instrument", "unit", "stability", "deprecated",
         "annotations", "attributes", "entity_associations"}
    ),
    SignalType.EVENT: frozenset(
        {"name", "brief", "note", "stability", "deprecated", "annotations", "attributes",
         "entity_associations", "body"}
    ),
    SignalType.SPAN: frozenset(
        {"type", "kind", "name", "brief", "note", "stability", "deprecated", "annotations",
         "attributes", "entity_associations"}
    ),
    SignalType.ENTITY: frozenset(
        {"type", "brief", "note", "stability", "deprecated", "annotations", "identity",
         "description"}
    ),
}  # fmt: skip
_MEMBER_KEYS = frozenset({"id", "value", "brief", "note", "stability", "deprecated", "annotations"})
_DEPRECATED_KEYS = frozenset({"reason", "renamed_to", "note"})
_V2_SECTION_TYPES = {
    "metrics": SignalType.METRIC,
    "events": SignalType.EVENT,
    "spans": SignalType.SPAN,
    "entities": SignalType.ENTITY,
}
_INSTRUMENTS = frozenset({"counter", "updowncounter", "gauge", "histogram"})


# -- reading -------------------------------------------------------------------------------------


@dataclass
class _RawAttr:
    """A parsed attribute entry: a definition (`key` + `type`) or a ref with overrides."""

    file: str
    path: str
    key: str | None = None  # a definition
    ref: str | None = None
    ref_group: str | None = None
    type: AttrType | None = None
    brief: str = ""
    stability: str = ""
    deprecated: Deprecation | None = None
    requirement: Requirement | None = None
    condition: str = ""


@dataclass
class _RawGroup:
    file: str
    path: str
    id: str
    type: SignalType
    attributes: list[_RawAttr] = field(default_factory=list)
    extends: str | None = None
    name: str = ""
    instrument: str = ""
    unit: str | None = None
    span_kind: str = ""
    stability: str = ""
    deprecated: Deprecation | None = None


@dataclass
class _Raw:
    root: str
    groups: dict[str, _RawGroup] = field(default_factory=dict)
    definitions: dict[str, _RawAttr] = field(default_factory=dict)  # key -> definition entry
    manifest: dict[str, Any] = field(default_factory=dict)


def _check_keys(node: Mapping[str, Any], allowed: frozenset[str], file: str, path: str) -> None:
    for key in node:
        if key not in allowed:
            raise RegistryError(f"unknown key {key!r}", file, f"{path}.{key}" if path else key)


def _mapping(node: Any, file: str, path: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise RegistryError(f"expected a mapping, got {type(node).__name__}", file, path)
    return node


def _list(node: Any, file: str, path: str) -> list[Any]:
    if node is None:
        return []
    if not isinstance(node, list):
        raise RegistryError(f"expected a list, got {type(node).__name__}", file, path)
    return node


def _str(node: Mapping[str, Any], key: str, file: str, path: str, required: bool = False) -> str:
    value = node.get(key)
    if value is None:
        if required:
            raise RegistryError(f"missing {key!r}", file, path)
        return ""
    if not isinstance(value, str):
        raise RegistryError(f"{key!r} must be a string", file, f"{path}.{key}")
    return value


def _parse_deprecated(node: Any, file: str, path: str) -> Deprecation | None:
    if node is None or node is False:
        return None
    if isinstance(node, str):  # the pre-2024 form: a free-text note
        return Deprecation("uncategorized", note=node)
    node = _mapping(node, file, path)
    _check_keys(node, _DEPRECATED_KEYS, file, path)
    reason = _str(node, "reason", file, path, required=True)
    if reason not in ("renamed", "obsoleted", "uncategorized"):
        raise RegistryError(f"unknown deprecation reason {reason!r}", file, f"{path}.reason")
    renamed_to = node.get("renamed_to")
    if reason == "renamed" and not renamed_to:
        raise RegistryError("reason 'renamed' needs 'renamed_to'", file, path)
    return Deprecation(reason, str(renamed_to) if renamed_to else None, str(node.get("note", "")))


def _parse_type(node: Any, file: str, path: str) -> AttrType:
    if isinstance(node, str):
        text = node.strip()
        if text.startswith("template[") and text.endswith("]"):
            inner = text[len("template[") : -1]
            if inner not in PRIMITIVE_TYPES:
                raise RegistryError(f"unknown template type {text!r}", file, path)
            return AttrType(inner, template=True)
        if text not in PRIMITIVE_TYPES:
            raise RegistryError(f"unknown type {text!r}", file, path)
        return AttrType(text)
    if isinstance(node, Mapping):
        _check_keys(node, frozenset({"members", "allow_custom_values"}), file, path)
        members = []
        for i, raw in enumerate(_list(node.get("members"), file, f"{path}.members")):
            mpath = f"{path}.members[{i}]"
            raw = _mapping(raw, file, mpath)
            _check_keys(raw, _MEMBER_KEYS, file, mpath)
            if "value" not in raw:
                raise RegistryError("enum member without 'value'", file, mpath)
            members.append(
                EnumMember(
                    id=str(raw.get("id", "")),
                    value=raw["value"],
                    stability=str(raw.get("stability", "")),
                    deprecated=_parse_deprecated(
                        raw.get("deprecated"), file, f"{mpath}.deprecated"
                    ),
                )
            )
        if not members:
            raise RegistryError("enum type without members", file, path)
        return AttrType("enum", members=tuple(members))
    raise RegistryError(f"unknown type {node!r}", file, path)


def _parse_requirement(node: Any, file: str, path: str) -> tuple[Requirement | None, str]:
    if node is None:
        return None, ""
    if isinstance(node, str):
        try:
            return Requirement(node), ""
        except ValueError:
            raise RegistryError(f"unknown requirement level {node!r}", file, path) from None
    if isinstance(node, Mapping) and len(node) == 1:
        ((level, text),) = node.items()
        try:
            return Requirement(level), str(text or "")
        except ValueError:
            raise RegistryError(f"unknown requirement level {level!r}", file, path) from None
    raise RegistryError(f"unknown requirement level {node!r}", file, path)


def _parse_attr(node: Any, file: str, path: str, *, v2: bool, in_group: bool) -> _RawAttr:
    node = _mapping(node, file, path)
    allowed = (_V2_USE_KEYS if in_group else _V2_ATTRIBUTE_KEYS) if v2 else _V1_ATTRIBUTE_KEYS
    _check_keys(node, allowed, file, path)
    attr = _RawAttr(file, path)
    key_field = "key" if v2 else "id"
    if "ref" in node or "ref_group" in node:
        if key_field in node or "type" in node:
            raise RegistryError(f"a ref cannot also have {key_field!r} or 'type'", file, path)
        attr.ref = _str(node, "ref", file, path) or None
        attr.ref_group = _str(node, "ref_group", file, path) or None
    else:
        attr.key = _str(node, key_field, file, path, required=True)
        if "type" not in node:
            raise RegistryError(f"attribute {attr.key!r} has no 'type'", file, path)
        attr.type = _parse_type(node["type"], file, f"{path}.type")
    attr.brief = str(node.get("brief") or "").strip()
    attr.stability = str(node.get("stability") or "")
    attr.deprecated = _parse_deprecated(node.get("deprecated"), file, f"{path}.deprecated")
    attr.requirement, attr.condition = _parse_requirement(
        node.get("requirement_level"), file, f"{path}.requirement_level"
    )
    return attr


def _add_definition(raw: _Raw, attr: _RawAttr) -> None:
    assert attr.key is not None
    known = raw.definitions.get(attr.key)
    if known is not None:
        raise RegistryError(
            f"attribute {attr.key!r} is already defined in {known.file} at {known.path}",
            attr.file,
            attr.path,
        )
    raw.definitions[attr.key] = attr


def _add_group(raw: _Raw, group: _RawGroup) -> None:
    known = raw.groups.get(group.id)
    if known is not None:
        raise RegistryError(
            f"group {group.id!r} is already defined in {known.file} at {known.path}",
            group.file,
            group.path,
        )
    raw.groups[group.id] = group


def _read_v1(raw: _Raw, doc: Mapping[str, Any], file: str) -> None:
    _check_keys(doc, frozenset({"groups"}), file, "")
    for g, node in enumerate(_list(doc.get("groups"), file, "groups")):
        path = f"groups[{g}]"
        node = _mapping(node, file, path)
        _check_keys(node, _V1_GROUP_KEYS, file, path)
        group_id = _str(node, "id", file, path, required=True)
        path = f"groups[{g}] ({group_id})"
        type_name = _str(node, "type", file, path, required=True)
        try:
            kind = SignalType(type_name)
        except ValueError:
            raise RegistryError(f"unknown group type {type_name!r}", file, f"{path}.type") from None
        group = _RawGroup(
            file,
            path,
            group_id,
            kind,
            extends=_str(node, "extends", file, path) or None,
            stability=str(node.get("stability") or ""),
            deprecated=_parse_deprecated(node.get("deprecated"), file, f"{path}.deprecated"),
            span_kind=str(node.get("span_kind") or ""),
        )
        if kind is SignalType.METRIC:
            group.name = _str(node, "metric_name", file, path, required=True)
            group.instrument = _str(node, "instrument", file, path, required=True)
            if group.instrument not in _INSTRUMENTS:
                raise RegistryError(
                    f"unknown instrument {group.instrument!r}", file, f"{path}.instrument"
                )
            group.unit = _str(node, "unit", file, path, required=True)
        elif kind in (SignalType.EVENT, SignalType.ENTITY):
            group.name = _str(node, "name", file, path)
        prefix = _str(node, "prefix", file, path)
        for a, anode in enumerate(_list(node.get("attributes"), file, f"{path}.attributes")):
            attr = _parse_attr(anode, file, f"{path}.attributes[{a}]", v2=False, in_group=True)
            if attr.key is not None:
                if prefix:  # the pre-1.21 way of writing a namespace once per group
                    attr.key = f"{prefix}.{attr.key}"
                _add_definition(raw, attr)
            group.attributes.append(attr)
        _add_group(raw, group)


def _read_v2(raw: _Raw, doc: Mapping[str, Any], file: str) -> None:
    _check_keys(doc, _V2_TOP_KEYS, file, "")
    for a, node in enumerate(_list(doc.get("attributes"), file, "attributes")):
        attr = _parse_attr(node, file, f"attributes[{a}]", v2=True, in_group=False)
        _add_definition(raw, attr)
    for g, node in enumerate(_list(doc.get("attribute_groups"), file, "attribute_groups")):
        path = f"attribute_groups[{g}]"
        node = _mapping(node, file, path)
        _check_keys(node, _V2_GROUP_KEYS, file, path)
        group_id = _str(node, "id", file, path, required=True)
        path = f"{path} ({group_id})"
        group = _RawGroup(
            file,
            path,
            group_id,
            SignalType.ATTRIBUTE_GROUP,
            stability=str(node.get("stability") or ""),
            deprecated=_parse_deprecated(node.get("deprecated"), file, f"{path}.deprecated"),
        )
        group.attributes = _v2_uses(node, file, path)
        _add_group(raw, group)
    for section, kind in _V2_SECTION_TYPES.items():
        for i, node in enumerate(_list(doc.get(section), file, section)):
            path = f"{section}[{i}]"
            node = _mapping(node, file, path)
            _check_keys(node, _V2_SIGNAL_KEYS[kind], file, path)
            name_key = "name" if kind in (SignalType.METRIC, SignalType.EVENT) else "type"
            name = _str(node, name_key, file, path, required=True)
            path = f"{path} ({name})"
            group = _RawGroup(
                file,
                path,
                f"{kind.value}.{name}",
                kind,
                name=name,
                stability=str(node.get("stability") or ""),
                deprecated=_parse_deprecated(node.get("deprecated"), file, f"{path}.deprecated"),
                span_kind=str(node.get("kind") or ""),
            )
            if kind is SignalType.METRIC:
                group.instrument = _str(node, "instrument", file, path, required=True)
                if group.instrument not in _INSTRUMENTS:
                    raise RegistryError(
                        f"unknown instrument {group.instrument!r}", file, f"{path}.instrument"
                    )
                group.unit = _str(node, "unit", file, path, required=True)
            if kind is not SignalType.ENTITY:
                group.attributes = _v2_uses(node, file, path)
            _add_group(raw, group)


def _v2_uses(node: Mapping[str, Any], file: str, path: str) -> list[_RawAttr]:
    uses = []
    for a, anode in enumerate(_list(node.get("attributes"), file, f"{path}.attributes")):
        apath = f"{path}.attributes[{a}]"
        use = _parse_attr(anode, file, apath, v2=True, in_group=True)
        if use.ref is None and use.ref_group is None:
            raise RegistryError("expected 'ref' or 'ref_group'", file, apath)
        uses.append(use)
    return uses


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


_MANIFEST_NAMES = ("manifest.yaml", "registry_manifest.yaml")
# libyaml's parser when PyYAML was built with it: semconv's 240 files load about 5x faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_dir(root: Path) -> _Raw:
    if not root.is_dir():
        raise RegistryError("not a directory", root)
    raw = _Raw(str(root))
    files = _yaml_files(root)
    if not files:
        raise RegistryError("no YAML files", root)
    for path in files:
        file = str(path)
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read: {exc}", file) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RegistryError(f"not valid YAML: {problem}", file, where) from None
        if doc is None:
            continue
        doc = _mapping(doc, file, "")
        if path.name in _MANIFEST_NAMES and path.parent == root:
            raw.manifest = dict(doc)
            continue
        if "file_format" in doc:
            if doc["file_format"] != "definition/2":
                raise RegistryError(
                    f"unknown file_format {doc['file_format']!r}", file, "file_format"
                )
            _read_v2(raw, doc, file)
        elif "groups" in doc:
            _read_v1(raw, doc, file)
        else:
            raise RegistryError(
                f"neither 'groups' nor 'file_format: definition/2' (keys {sorted(doc)[:6]})", file
            )
    return raw


# -- resolving -----------------------------------------------------------------------------------


class _Resolver:
    def __init__(self, raw: _Raw, dependency: Registry | None):
        self.raw = raw
        self.dependency = dependency
        self.registry = Registry(raw.root, manifest=raw.manifest, dependency=dependency)
        self._done: dict[str, Signal] = {}
        self._active: list[str] = []

    def resolve(self) -> Registry:
        for key, entry in self.raw.definitions.items():
            assert entry.type is not None
            self.registry.attributes[key] = AttributeDef(
                key, entry.type, entry.brief, entry.stability, entry.deprecated, entry.file
            )
        self.registry.referenced.update(self.registry.attributes)
        for group_id in self.raw.groups:
            self.registry.signals[group_id] = self._group(group_id, None)
        return self.registry

    def _group(self, group_id: str, via: _RawAttr | _RawGroup | None) -> Signal:
        done = self._done.get(group_id)
        if done is not None:
            return done
        raw = self.raw.groups.get(group_id)
        if raw is None:
            dep = self.dependency.signal(group_id) if self.dependency is not None else None
            if dep is None:
                assert via is not None
                raise RegistryError(f"no group {group_id!r} to refer to", via.file, via.path)
            return dep
        if group_id in self._active:
            cycle = " -> ".join([*self._active[self._active.index(group_id) :], group_id])
            raise RegistryError(f"cycle of groups: {cycle}", raw.file, raw.path)
        self._active.append(group_id)
        try:
            uses: dict[str, AttributeUse] = {}
            if raw.extends:
                for use in self._group(raw.extends, raw).attributes:
                    uses[use.key] = use
            for entry in raw.attributes:
                for use in self._uses(entry):
                    uses[use.key] = use
        finally:
            self._active.pop()
        signal = Signal(
            raw.id,
            raw.type,
            tuple(uses.values()),
            name=raw.name,
            instrument=raw.instrument,
            unit=raw.unit,
            span_kind=raw.span_kind,
            stability=raw.stability,
            deprecated=raw.deprecated,
            file=raw.file,
        )
        self._done[group_id] = signal
        return signal

    def _uses(self, entry: _RawAttr) -> Iterable[AttributeUse]:
        if entry.ref_group is not None:
            group = self._group(entry.ref_group, entry)
            return group.attributes
        key = entry.key or entry.ref
        assert key is not None
        attribute = self.registry.attribute(key)
        if attribute is None:
            raise RegistryError(f"ref {key!r} matches no attribute", entry.file, entry.path)
        if entry.ref is not None:
            self.registry.referenced.add(key)
            # A ref may refine what the signal says of the attribute (its stability, a
            # deprecation that only applies here).
            if entry.deprecated is not None or entry.stability:
                attribute = replace(
                    attribute,
                    deprecated=entry.deprecated or attribute.deprecated,
                    stability=entry.stability or attribute.stability,
                )
        requirement = entry.requirement or Requirement.RECOMMENDED
        return (AttributeUse(attribute, requirement, entry.condition),)


def load_registry(root: str | Path, dependency: str | Path | Registry | None = None) -> Registry:
    """Read and resolve the registry in `root`; refs it cannot resolve itself go to `dependency`
    (a directory, or a registry already loaded). Raises `RegistryError`."""
    dep: Registry | None
    if dependency is None or isinstance(dependency, Registry):
        dep = dependency
    else:
        dep = load_registry(dependency)
    raw = _read_dir(Path(root))
    try:
        return _Resolver(raw, dep).resolve()
    except RegistryError as exc:
        needs = [
            d.get("name", "?")
            for d in raw.manifest.get("dependencies") or ()
            if isinstance(d, dict)
        ]
        if dep is None and needs and "matches no attribute" in exc.reason:
            # The manifest names a dependency that was not given: say so, not just "no such ref".
            paths = ", ".join(
                str(d.get("registry_path", ""))
                for d in raw.manifest["dependencies"]
                if isinstance(d, dict)
            )
            raise RegistryError(
                f"{exc.reason} (the manifest depends on {', '.join(needs)}: {paths}; "
                "give that registry's directory as the dependency)",
                exc.file,
                exc.path,
            ) from None
        raise
