"""Registry conformance: spans, metric points and log records checked against a semantic
convention registry, with findings named and levelled as Weaver's live-check names them.

    registry = load_registry(schema_dir, dependency=semconv_dir)
    report = check(registry, spans=trace, metrics=metrics, policy=Policy(ignore=("telemetry.*",)))
    report.failed("violation")      # True when any finding is a violation
    print(report.to_text())

Each finding says which sample it is about: signal type and name, the service, and the trace
and span ids, so a test author can tell which flow emitted the non-conforming telemetry.
Ids and default levels follow live-check's built-in advisors and its default `otel` policies
(`missing_namespace`, `invalid_format`, `illegal_namespace`, `extends_namespace`).
"""

from __future__ import annotations

import enum
import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracebed.model.logs import LogRecord
from tracebed.model.metrics import Metric
from tracebed.model.span import Attributes, Span
from tracebed.query.registry import AttributeDef, Registry, Requirement, Signal


class Level(enum.IntEnum):
    """Finding levels, ordered: a violation outranks an improvement outranks information."""

    INFORMATION = 1
    IMPROVEMENT = 2
    VIOLATION = 3

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        if isinstance(value, Level):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown finding level {value!r} (violation, improvement, information)"
            ) from None


_LABELS = {level: level.name.lower() for level in Level}

# Live-check's finding ids and the level each has by default.
DEFAULT_LEVELS: dict[str, Level] = {
    "missing_attribute": Level.VIOLATION,
    "template_attribute": Level.INFORMATION,
    "missing_metric": Level.VIOLATION,
    "missing_event": Level.VIOLATION,
    "deprecated": Level.VIOLATION,
    "type_mismatch": Level.VIOLATION,
    "not_stable": Level.IMPROVEMENT,
    "unit_mismatch": Level.VIOLATION,
    "unexpected_instrument": Level.VIOLATION,
    "undefined_enum_variant": Level.INFORMATION,
    "required_attribute_not_present": Level.VIOLATION,
    "recommended_attribute_not_present": Level.IMPROVEMENT,
    "opt_in_attribute_not_present": Level.INFORMATION,
    "conditionally_required_attribute_not_present": Level.INFORMATION,
    "missing_namespace": Level.IMPROVEMENT,
    "invalid_format": Level.VIOLATION,
    "illegal_namespace": Level.VIOLATION,
    "extends_namespace": Level.INFORMATION,
}

_NOT_PRESENT = {
    Requirement.REQUIRED: ("required_attribute_not_present", "Required"),
    Requirement.RECOMMENDED: ("recommended_attribute_not_present", "Recommended"),
    Requirement.OPT_IN: ("opt_in_attribute_not_present", "Opt-in"),
    Requirement.CONDITIONALLY_REQUIRED: (
        "conditionally_required_attribute_not_present",
        "Conditionally required",
    ),
}

# The otel policy's name format: lower-case words separated by dots or underscores.
_NAME_FORMAT = re.compile(r"^[a-z][a-z0-9]*([._][a-z0-9]+)*$")


# -- findings, policy, report --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    level: Level
    message: str
    signal_type: str  # span | resource | metric | log
    signal_name: str
    sample_type: str  # attribute | span | span_event | span_link | resource | metric | ... | log
    service: str = ""
    trace_id: str = ""
    span_id: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Live-check's `PolicyFinding` fields, plus where the sample came from."""
        return {
            "id": self.id,
            "level": self.level.label,
            "message": self.message,
            "context": dict(self.context),
            "signal_type": self.signal_type,
            "signal_name": self.signal_name,
            "sample_type": self.sample_type,
            "service": self.service,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }

    @property
    def key(self) -> str:
        """What the finding is about: its attribute, metric or event (else the signal)."""
        for name in ("attribute_key", "attribute_name", "metric_name", "event_name"):
            value = self.context.get(name)
            if value:
                return str(value)
        return self.signal_name

    def line(self) -> str:
        return f"{self.level.label:<11} {self.id:<32} {self.message}"


@dataclass(frozen=True)
class Policy:
    """What to check and how hard.

    - `ignore`: attribute keys to leave alone: a glob (`telemetry.*`) or a namespace
      (`telemetry` covers `telemetry.sdk.name`);
    - `level_overrides`: finding id -> level (`{"undefined_enum_variant": "violation"}`);
    - `exclude`: finding ids to drop;
    - `min_coverage`: the fraction of the registry's attributes and metrics the run must see.
    """

    ignore: tuple[str, ...] = ()
    level_overrides: Mapping[str, Level | str] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()
    min_coverage: float = 0.0

    def __post_init__(self) -> None:
        for finding_id, level in self.level_overrides.items():
            Level.parse(level)  # fail early on a typo
            if finding_id not in DEFAULT_LEVELS:
                raise ValueError(
                    f"unknown finding id {finding_id!r} in level overrides "
                    f"(known: {', '.join(sorted(DEFAULT_LEVELS))})"
                )
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be between 0 and 1, got {self.min_coverage}")

    def level_of(self, finding_id: str) -> Level:
        override = self.level_overrides.get(finding_id)
        if override is not None:
            return Level.parse(override)
        return DEFAULT_LEVELS.get(finding_id, Level.VIOLATION)

    def ignores(self, key: str) -> bool:
        for pattern in self.ignore:
            if any(c in pattern for c in "*?["):
                if fnmatch.fnmatchcase(key, pattern):
                    return True
            elif key == pattern or key.startswith(pattern + "."):
                return True
        return False


@dataclass
class Statistics:
    """Per-run numbers, named as live-check's statistics entity names them."""

    total_entities: int = 0
    total_entities_by_type: Counter[str] = field(default_factory=Counter)
    advice_level_counts: Counter[str] = field(default_factory=Counter)
    advice_type_counts: Counter[str] = field(default_factory=Counter)
    highest_advice_level_counts: Counter[str] = field(default_factory=Counter)
    no_advice_count: int = 0
    seen_registry_attributes: dict[str, int] = field(default_factory=dict)
    seen_non_registry_attributes: Counter[str] = field(default_factory=Counter)
    seen_registry_metrics: dict[str, int] = field(default_factory=dict)
    seen_non_registry_metrics: Counter[str] = field(default_factory=Counter)
    seen_registry_events: Counter[str] = field(default_factory=Counter)
    seen_non_registry_events: Counter[str] = field(default_factory=Counter)
    # What coverage counts: the attributes the registry defines or references, its metrics.
    coverage_attributes: frozenset[str] = frozenset()
    coverage_metrics: frozenset[str] = frozenset()

    @property
    def covered(self) -> tuple[int, int]:
        """(seen, total) over the registry's own attributes and metrics."""
        seen = sum(1 for k in self.coverage_attributes if self.seen_registry_attributes.get(k))
        seen += sum(1 for k in self.coverage_metrics if self.seen_registry_metrics.get(k))
        return seen, len(self.coverage_attributes) + len(self.coverage_metrics)

    @property
    def registry_coverage(self) -> float:
        seen, total = self.covered
        return seen / total if total else 1.0

    def unseen(self) -> list[str]:
        """The registry's attributes and metrics no sample carried."""
        out = [k for k in self.coverage_attributes if not self.seen_registry_attributes.get(k)]
        out += [
            f"metric {k}" for k in self.coverage_metrics if not self.seen_registry_metrics.get(k)
        ]
        return sorted(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_entities": self.total_entities,
            "total_entities_by_type": dict(self.total_entities_by_type),
            "total_advisories": sum(self.advice_level_counts.values()),
            "advice_level_counts": dict(self.advice_level_counts),
            "advice_type_counts": dict(self.advice_type_counts),
            "highest_advice_level_counts": dict(self.highest_advice_level_counts),
            "no_advice_count": self.no_advice_count,
            "registry_coverage": self.registry_coverage,
            "seen_registry_attributes": dict(sorted(self.seen_registry_attributes.items())),
            "seen_non_registry_attributes": dict(sorted(self.seen_non_registry_attributes.items())),
            "seen_registry_metrics": dict(sorted(self.seen_registry_metrics.items())),
            "seen_non_registry_metrics": dict(sorted(self.seen_non_registry_metrics.items())),
            "seen_registry_events": dict(sorted(self.seen_registry_events.items())),
            "seen_non_registry_events": dict(sorted(self.seen_non_registry_events.items())),
        }


@dataclass
class Report:
    findings: list[Finding]
    statistics: Statistics
    policy: Policy = field(default_factory=Policy)
    registry: str = ""

    def count(self, level: Level | str) -> int:
        return self.statistics.advice_level_counts.get(Level.parse(level).label, 0)

    def at_or_above(self, level: Level | str) -> list[Finding]:
        threshold = Level.parse(level)
        return [f for f in self.findings if f.level >= threshold]

    @property
    def coverage_shortfall(self) -> str | None:
        """Why coverage fails the policy's minimum, or None."""
        minimum = self.policy.min_coverage
        coverage = self.statistics.registry_coverage
        if minimum and coverage < minimum:
            seen, total = self.statistics.covered
            return (
                f"registry coverage {coverage:.1%} ({seen} of {total}) is under the minimum "
                f"{minimum:.1%}"
            )
        return None

    def failed(self, fail_on: Level | str | None = Level.VIOLATION) -> bool:
        if self.coverage_shortfall is not None:
            return True
        if fail_on is None or fail_on == "none":
            return False
        return bool(self.at_or_above(fail_on))

    def summary(self) -> str:
        counts = ", ".join(
            f"{n} {level.label}{'s' if n != 1 and level is not Level.INFORMATION else ''}"
            for level in (Level.VIOLATION, Level.IMPROVEMENT, Level.INFORMATION)
            for n in (self.count(level),)
        )
        seen, total = self.statistics.covered
        return (
            f"conformance: {counts} in {self.statistics.total_entities} samples; "
            f"registry coverage {self.statistics.registry_coverage:.1%} ({seen} of {total})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "findings": [f.as_dict() for f in self.findings],
            "statistics": self.statistics.as_dict(),
            "coverage_shortfall": self.coverage_shortfall,
        }

    def to_text(self, *, by: str = "finding", minimum: Level | str = Level.INFORMATION) -> str:
        """`by="finding"`: one line per kind of finding with its count and a first sample;
        `by="span"`: every finding under the span (or metric, log) it is about."""
        threshold = Level.parse(minimum)
        shown = [f for f in self.findings if f.level >= threshold]
        lines = [self.summary()]
        if self.coverage_shortfall:
            lines.append(f"  {self.coverage_shortfall}")
        if by == "span":
            lines += _by_sample(shown)
        else:
            lines += _by_finding(shown)
        return "\n".join(lines)


def _where(f: Finding) -> str:
    service = f" ({f.service})" if f.service else ""
    return f"{f.signal_type} {f.signal_name!r}{service}"


def _by_finding(findings: Sequence[Finding]) -> list[str]:
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    for f in findings:
        key = (-f.level, f.id, f.message, f.signal_type, f.signal_name, f.service)
        groups.setdefault(key, []).append(f)
    lines = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[5], k[4], k[2])):
        group = groups[key]
        first = group[0]
        times = f" x{len(group)}" if len(group) > 1 else ""
        sample = ""
        if first.trace_id:
            sample = f" [trace {first.trace_id}" + (
                f" span {first.span_id}]" if first.span_id else "]"
            )
        lines.append(f"  {first.line()}  -- {_where(first)}{times}{sample}")
    return lines


def _by_sample(findings: Sequence[Finding]) -> list[str]:
    lines: list[str] = []
    by_trace: dict[str, dict[tuple[str, str, str, str], list[Finding]]] = {}
    for f in findings:
        sample = (f.signal_type, f.signal_name, f.service, f.span_id)
        by_trace.setdefault(f.trace_id, {}).setdefault(sample, []).append(f)
    for trace_id, samples in by_trace.items():
        lines.append(f"  trace {trace_id}" if trace_id else "  (no trace)")
        for (signal_type, name, service, span_id), group in samples.items():
            span = f" span {span_id}" if span_id else ""
            lines.append(f"    {service or '?'}: {signal_type} {name!r}{span}")
            lines += [f"      {f.line()}" for f in group]
    return lines


# -- checking ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Where:
    signal_type: str
    signal_name: str
    service: str
    trace_id: str
    span_id: str


@dataclass(frozen=True, slots=True)
class _KeyInfo:
    """Everything about an attribute key that does not depend on its value (cached)."""

    ignored: bool
    attribute: AttributeDef | None
    template: AttributeDef | None
    namespace_findings: tuple[_Spec, ...]


# A finding before it is placed on a sample: (id, message, context).
_Spec = tuple[str, str, dict[str, Any]]
_SPEC_CACHE_LIMIT = 50_000


def value_type(value: Any) -> str:
    """The OTLP type of a decoded attribute value, as the registry spells types."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        inner = {value_type(v) for v in value}
        if not inner:
            return "[]"
        if len(inner) == 1:
            return f"{inner.pop()}[]"
        return "mixed[]"
    return "none" if value is None else type(value).__name__


def _compatible(actual: str, expected: str) -> bool:
    if expected == "any" or actual == expected:
        return True
    return actual == "[]" and expected.endswith("[]")  # an empty array fits any array type


_INSTRUMENTS = {"counter", "updowncounter", "gauge", "histogram"}


class Checker:
    """Accumulates findings and statistics over any number of spans, metrics and logs."""

    def __init__(self, registry: Registry, policy: Policy | None = None):
        self.registry = registry
        self.policy = policy or Policy()
        self.findings: list[Finding] = []
        coverage_attributes = frozenset(
            k for k in registry.referenced if not self.policy.ignores(k)
        )
        coverage_metrics = frozenset(m.name for m in registry.own_metrics())
        self.stats = Statistics(
            seen_registry_attributes=dict.fromkeys(sorted(coverage_attributes), 0),
            seen_registry_metrics=dict.fromkeys(sorted(coverage_metrics), 0),
            coverage_attributes=coverage_attributes,
            coverage_metrics=coverage_metrics,
        )
        self._keys: dict[str, _KeyInfo] = {}
        self._specs: dict[tuple[str, str, Any], tuple[_Spec, ...]] = {}
        self._resources: set[tuple[tuple[str, str], ...]] = set()
        self._levels = {
            finding_id: self.policy.level_of(finding_id) for finding_id in DEFAULT_LEVELS
        }

    # -- inputs ---------------------------------------------------------------------------
    def check_spans(self, spans: Iterable[Span]) -> None:
        for span in spans:
            where = _Where("span", span.name, span.service, span.trace_id, span.span_id)
            self._resource(span.resource, where)
            found = self._attributes(span.attributes, where)
            self._sample("span", found)
            for event in span.events:
                found = self._attributes(event.attributes, where)
                registered = self.registry.event(event.name)
                if registered is not None:
                    self.stats.seen_registry_events[event.name] += 1
                    found += self._signal_level(registered, event.name, "Event", where)
                    found += self._requirements(registered, event.attributes, where, "span_event")
                self._sample("span_event", found)
            for link in span.links:
                self._sample("span_link", self._attributes(link.attributes, where))

    def check_metrics(self, metrics: Iterable[Metric]) -> None:
        for metric in metrics:
            where = _Where("metric", metric.name, metric.service, "", "")
            self._resource(metric.resource, where)
            registered = self.registry.metric(metric.name)
            found = 0
            if registered is None:
                self.stats.seen_non_registry_metrics[metric.name] += 1
                found += self._emit(
                    "missing_metric",
                    f"Metric '{metric.name}' does not exist in the registry.",
                    where,
                    "metric",
                    {"metric_name": metric.name},
                )
            else:
                seen = self.stats.seen_registry_metrics
                seen[metric.name] = seen.get(metric.name, 0) + 1
                found += self._signal_level(registered, metric.name, "Metric", where)
                found += self._metric_shape(metric, registered, where)
            self._sample("metric", found)
            for point in metric.points:
                pwhere = _Where(
                    "metric", metric.name, metric.service, point.trace_id, point.span_id
                )
                found = self._attributes(point.attributes, pwhere)
                if registered is not None:
                    found += self._requirements(registered, point.attributes, pwhere, point.kind)
                self._sample(point.kind, found)

    def check_logs(self, logs: Iterable[LogRecord]) -> None:
        for log in logs:
            where = _Where("log", log.event_name, log.service, log.trace_id, log.span_id)
            self._resource(log.resource, where)
            found = self._attributes(log.attributes, where)
            if log.event_name:
                registered = self.registry.event(log.event_name)
                if registered is None:
                    self.stats.seen_non_registry_events[log.event_name] += 1
                    found += self._emit(
                        "missing_event",
                        f"Event '{log.event_name}' does not exist in the registry.",
                        where,
                        "log",
                        {"event_name": log.event_name},
                    )
                else:
                    self.stats.seen_registry_events[log.event_name] += 1
                    found += self._signal_level(registered, log.event_name, "Event", where)
                    found += self._requirements(registered, log.attributes, where, "log")
            self._sample("log", found)

    def report(self) -> Report:
        return Report(list(self.findings), self.stats, self.policy, self.registry.root)

    # -- the checks -----------------------------------------------------------------------
    def _emit(
        self,
        finding_id: str,
        message: str,
        where: _Where,
        sample_type: str,
        context: dict[str, Any],
        signal_type: str | None = None,
    ) -> int:
        if finding_id in self.policy.exclude:
            return 0
        level = self._levels.get(finding_id) or self.policy.level_of(finding_id)
        self.findings.append(
            Finding(
                finding_id,
                level,
                message,
                signal_type or where.signal_type,
                where.signal_name,
                sample_type,
                where.service,
                where.trace_id,
                where.span_id,
                context,
            )
        )
        self.stats.advice_level_counts[level.label] += 1
        self.stats.advice_type_counts[finding_id] += 1
        return 1

    def _sample(self, sample_type: str, found: int) -> None:
        """Count one sample; `found` findings were emitted for it (the last ones in the list)."""
        self.stats.total_entities += 1
        self.stats.total_entities_by_type[sample_type] += 1
        if not found:
            self.stats.no_advice_count += 1
            return
        highest = max(f.level for f in self.findings[-found:])
        self.stats.highest_advice_level_counts[highest.label] += 1

    def _resource(self, resource: Attributes, where: _Where) -> None:
        key = tuple(sorted((k, repr(v)) for k, v in resource.items()))
        if key in self._resources:
            return
        self._resources.add(key)
        rwhere = _Where("resource", where.service, where.service, where.trace_id, where.span_id)
        self._sample("resource", self._attributes(resource, rwhere))

    def _attributes(self, attributes: Attributes, where: _Where) -> int:
        """Check each attribute as its own sample; returns 0 (its findings are its own)."""
        for key, value in attributes.items():
            info = self._keys.get(key) or self._key_info(key)
            if not info.ignored:
                self._sample("attribute", self._attribute(key, value, info, where))
        return 0

    def _key_info(self, key: str) -> _KeyInfo:
        info = self._keys.get(key)
        if info is not None:
            return info
        if self.policy.ignores(key):
            info = _KeyInfo(True, None, None, ())
            self._keys[key] = info
            return info
        attribute = self.registry.attribute(key)
        template = self.registry.template_for(key) if attribute is None else None
        namespace: list[_Spec] = []
        if "." not in key:
            namespace.append(
                (
                    "missing_namespace",
                    f"Attribute '{key}' does not have a namespace.",
                    {"attribute_key": key},
                )
            )
        if not _NAME_FORMAT.match(key):
            namespace.append(
                (
                    "invalid_format",
                    f"Attribute '{key}' does not match the name formatting rules.",
                    {"attribute_key": key},
                )
            )
        parts = key.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts))]
        for prefix in prefixes:
            existing = self.registry.attribute(prefix)
            # A template's instances live under its name; a deprecated name is free again.
            if existing is not None and existing.deprecated is None and not existing.is_template:
                namespace.append(
                    (
                        "illegal_namespace",
                        f"Attribute '{key}' uses the namespace '{prefix}', which is an "
                        "existing attribute.",
                        {"attribute_key": key, "namespace": prefix},
                    )
                )
                break
        if attribute is None and template is None:
            known = [p for p in prefixes if p in self.registry.namespaces()]
            if known:
                namespace.append(
                    (
                        "extends_namespace",
                        f"Attribute '{key}' extends the existing namespace '{known[-1]}'.",
                        {"attribute_key": key, "namespace": known[-1]},
                    )
                )
        info = _KeyInfo(False, attribute, template, tuple(namespace))
        self._keys[key] = info
        return info

    def _attribute(self, key: str, value: Any, info: _KeyInfo, where: _Where) -> int:
        definition = info.attribute or info.template
        if definition is None:
            self.stats.seen_non_registry_attributes[key] += 1
        else:
            seen = self.stats.seen_registry_attributes
            seen[definition.key] = seen.get(definition.key, 0) + 1
        actual = value_type(value)
        # What an attribute's findings are depends on its key, its value's type and, for an
        # enum, the value itself: worked out once per combination.
        is_enum = definition is not None and definition.type.is_enum
        cache_key = (key, actual, value if is_enum and actual in ("string", "int") else None)
        specs = self._specs.get(cache_key)
        if specs is None:
            specs = self._attribute_specs(key, value, actual, info)
            if len(self._specs) < _SPEC_CACHE_LIMIT:
                self._specs[cache_key] = specs
        found = 0
        for finding_id, message, context in specs:
            found += self._emit(finding_id, message, where, "attribute", context)
        return found

    def _attribute_specs(
        self, key: str, value: Any, actual: str, info: _KeyInfo
    ) -> tuple[_Spec, ...]:
        specs: list[_Spec] = []
        definition = info.attribute
        if definition is None and info.template is not None:
            definition = info.template
            specs.append(
                (
                    "template_attribute",
                    f"Attribute '{key}' is a template of '{info.template.key}'.",
                    {"attribute_key": key, "template": info.template.key},
                )
            )
        if definition is None:
            specs.append(
                (
                    "missing_attribute",
                    f"Attribute '{key}' does not exist in the registry.",
                    {"attribute_key": key},
                )
            )
        else:
            specs += self._definition_specs(key, value, actual, definition)
        specs += info.namespace_findings
        return tuple(specs)

    def _definition_specs(
        self, key: str, value: Any, actual: str, definition: AttributeDef
    ) -> list[_Spec]:
        specs: list[_Spec] = []
        if definition.deprecated is not None:
            deprecated = definition.deprecated
            context: dict[str, Any] = {
                "attribute_key": key,
                "deprecation_reason": deprecated.reason,
            }
            message = f"Attribute '{key}' is deprecated; reason = '{deprecated.reason}'"
            if deprecated.renamed_to:
                context["renamed_to"] = deprecated.renamed_to
                message += f"; use '{deprecated.renamed_to}' instead"
            elif deprecated.note.strip():
                context["deprecation_note"] = deprecated.note.strip()
                message += f", note = '{deprecated.note.strip()}'"
            specs.append(("deprecated", message + ".", context))
        if definition.stability and definition.stability != "stable":
            specs.append(
                (
                    "not_stable",
                    f"Attribute '{key}' is not stable; stability = {definition.stability}.",
                    {"attribute_key": key, "stability": definition.stability},
                )
            )
        attr_type = definition.type
        if attr_type.is_enum:
            if actual not in ("string", "int"):
                specs.append(
                    (
                        "type_mismatch",
                        f"Enum attribute '{key}' has type '{actual}'. Enum value type should be "
                        "'string' or 'int'.",
                        {"attribute_key": key, "attribute_type": actual},
                    )
                )
            elif not any(
                m.value == value and type(m.value) is type(value) for m in attr_type.members
            ):
                specs.append(
                    (
                        "undefined_enum_variant",
                        f"Enum attribute '{key}' has value '{value}' which is not documented.",
                        {
                            "attribute_key": key,
                            "attribute_value": value,
                            "members": [m.value for m in attr_type.members],
                        },
                    )
                )
        elif not _compatible(actual, attr_type.name):
            specs.append(
                (
                    "type_mismatch",
                    f"Attribute '{key}' has type '{actual}'. Type should be '{attr_type.name}'.",
                    {"attribute_key": key, "attribute_type": actual, "expected": attr_type.name},
                )
            )
        return specs

    def _signal_level(self, signal: Signal, name: str, noun: str, where: _Where) -> int:
        found = 0
        context_key = "metric_name" if noun == "Metric" else "event_name"
        if signal.deprecated is not None:
            deprecated = signal.deprecated
            context: dict[str, Any] = {context_key: name, "deprecation_reason": deprecated.reason}
            message = f"{noun} '{name}' is deprecated; reason = '{deprecated.reason}'"
            if deprecated.renamed_to:
                context["renamed_to"] = deprecated.renamed_to
                message += f"; use '{deprecated.renamed_to}' instead"
            found += self._emit("deprecated", message + ".", where, where.signal_type, context)
        if signal.stability and signal.stability != "stable":
            found += self._emit(
                "not_stable",
                f"{noun} '{name}' is not stable; stability = {signal.stability}.",
                where,
                where.signal_type,
                {context_key: name, "stability": signal.stability},
            )
        return found

    def _metric_shape(self, metric: Metric, signal: Signal, where: _Where) -> int:
        found = 0
        if metric.instrument and metric.instrument not in _INSTRUMENTS:
            found += self._emit(
                "unexpected_instrument",
                f"Instrument '{metric.instrument}' is not supported.",
                where,
                "metric",
                {"instrument": metric.instrument},
            )
        elif metric.instrument and signal.instrument and metric.instrument != signal.instrument:
            found += self._emit(
                "unexpected_instrument",
                f"Instrument should be '{signal.instrument}', but found '{metric.instrument}'.",
                where,
                "metric",
                {"instrument": metric.instrument, "expected": signal.instrument},
            )
        if signal.unit is not None and signal.unit != metric.unit:
            found += self._emit(
                "unit_mismatch",
                f"Unit should be '{signal.unit}', but found '{metric.unit}'.",
                where,
                "metric",
                {"unit": metric.unit, "expected": signal.unit},
            )
        return found

    def _requirements(
        self, signal: Signal, attributes: Attributes, where: _Where, sample_type: str
    ) -> int:
        found = 0
        for use in signal.attributes:
            key = use.key
            if self.policy.ignores(key):
                continue
            if use.attribute.is_template:
                present = any(k.startswith(key + ".") for k in attributes)
            else:
                present = key in attributes
            if present:
                continue
            finding_id, noun = _NOT_PRESENT[use.requirement]
            context: dict[str, Any] = {"attribute_name": key}
            if use.condition:
                context["condition"] = use.condition.strip()
            found += self._emit(
                finding_id,
                f"{noun} attribute '{key}' is not present.",
                where,
                sample_type,
                context,
            )
        return found


def check(
    registry: Registry,
    spans: Iterable[Span] = (),
    metrics: Iterable[Metric] = (),
    logs: Iterable[LogRecord] = (),
    policy: Policy | None = None,
) -> Report:
    """Check spans, metrics and logs against `registry`; one report for all of them."""
    checker = Checker(registry, policy)
    checker.check_spans(spans)
    checker.check_metrics(metrics)
    checker.check_logs(logs)
    return checker.report()
