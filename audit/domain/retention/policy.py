"""The retention policy: classes, their tier ages, and which class an event gets.

Loaded from YAML data (``audit/data/retention/policy.yaml``) by
``parse_policy``; every problem in the file is reported with ``file:line``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from audit.domain.data_files import (
    DataFileError,
    describe_validation_error,
    line_of,
    parse_yaml,
)
from audit.domain.privacy.commitments import TRUNCATABLE
from audit.domain.privacy.fields import PERSONAL_FIELDS

CLASS_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class RetentionPolicyError(DataFileError):
    """The retention policy file is invalid.

    Every problem is listed as ``file:line: where: message``; fix the policy
    file named and restart the consumer and the retention job.
    """


class FieldAge(BaseModel):
    """A personal field that ages out: after ``after_days`` from the event's
    time, ``truncate`` keeps the network prefix of an IP (/24, /48),
    ``drop`` removes the value (docs/privacy.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_days: int = Field(ge=1)
    action: Literal["truncate", "drop"]


class RetentionClass(BaseModel):
    """Ages (whole days after the end of an index's day) at which it changes tier,
    and the ages of personal fields within its events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    warm_after_days: int = Field(ge=0)
    cold_after_days: int = Field(ge=0)
    delete_after_days: int = Field(ge=1)
    field_ages: dict[str, FieldAge] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _personal_fields(self) -> RetentionClass:
        for path, age in self.field_ages.items():
            if path not in PERSONAL_FIELDS:
                raise ValueError(f"field_ages: {path!r} is not a personal-data field")
            if age.action == "truncate" and path not in TRUNCATABLE:
                raise ValueError(f"field_ages: {path!r} cannot be truncated (only an IP can)")
        return self

    @model_validator(mode="after")
    def _ascending(self) -> RetentionClass:
        if not self.warm_after_days <= self.cold_after_days <= self.delete_after_days:
            raise ValueError(
                "ages must not decrease: warm_after_days <= cold_after_days <= delete_after_days"
            )
        return self


class CategoryRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: str
    org_override: bool = True


class TierSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    warm_replicas: int = Field(default=0, ge=0)
    force_merge_segments: int = Field(default=1, ge=1)
    cold_tier_preference: str = "data_cold,data_warm,data_hot"


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    settings: TierSettings = TierSettings()
    classes: dict[str, RetentionClass] = Field(min_length=1)
    org_selectable_classes: tuple[str, ...] = ()
    categories: dict[str, CategoryRule] = Field(default_factory=dict)
    fallback_class: str

    def retention_class(self, name: str) -> RetentionClass:
        try:
            return self.classes[name]
        except KeyError:
            raise KeyError(f"unknown retention class {name!r}") from None

    def class_for(self, data_category: str, org_setting: str | None) -> str:
        """The class an event of ``data_category`` is stored under.

        ``org_setting`` is the organization's chosen class (or ``None``). It
        applies when the category allows an override and the class is one an
        organization may choose; an invalid stored setting falls back to the
        category default rather than losing the event (validate settings when
        they are changed, with ``check_org_setting``).
        """
        rule = self.categories.get(data_category)
        default = rule.default if rule is not None else self.fallback_class
        override = rule.org_override if rule is not None else True
        if override and org_setting is not None and org_setting in self.org_selectable_classes:
            return org_setting
        return default

    def check_org_setting(self, class_name: str) -> None:
        """Raise ``ValueError`` naming the choices if an admin may not choose ``class_name``."""
        if class_name not in self.org_selectable_classes:
            choices = ", ".join(self.org_selectable_classes) or "none"
            raise ValueError(f"retention class {class_name!r} is not selectable; choose {choices}")

    def is_shortening(self, before: str, after: str) -> bool:
        """Whether moving from class ``before`` to ``after`` deletes data sooner."""
        return (
            self.retention_class(after).delete_after_days
            < self.retention_class(before).delete_after_days
        )


def _cross_check(policy: RetentionPolicy) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in policy.classes:
        if not CLASS_NAME.match(name):
            problems.append(
                (("classes", name), f"class name {name!r} must match {CLASS_NAME.pattern}")
            )
    for index, name in enumerate(policy.org_selectable_classes):
        if name not in policy.classes:
            problems.append((("org_selectable_classes", index), f"unknown class {name!r}"))
    for category, rule in policy.categories.items():
        if rule.default not in policy.classes:
            problems.append(
                (("categories", category, "default"), f"unknown class {rule.default!r}")
            )
    if policy.fallback_class not in policy.classes:
        problems.append((("fallback_class",), f"unknown class {policy.fallback_class!r}"))
    return problems


def parse_policy(text: str, source: str) -> RetentionPolicy:
    """The policy in YAML ``text``; ``source`` (a file name) is used in errors.

    Raises ``RetentionPolicyError`` listing every problem with its line.
    """
    data: Any = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise RetentionPolicyError(source, [f"{source}:1: the policy must be a mapping"])
    try:
        policy = RetentionPolicy.model_validate(data)
    except ValidationError as exc:
        raise RetentionPolicyError(source, describe_validation_error(exc, data, source)) from exc
    problems = _cross_check(policy)
    if problems:
        raise RetentionPolicyError(
            source,
            [
                f"{source}:{line_of(data, loc)}: {'.'.join(map(str, loc))}: {message}"
                for loc, message in problems
            ],
        )
    return policy
