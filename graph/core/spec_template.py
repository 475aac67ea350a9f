"""A filled precise-spec template handed in instead of a free-text request (`sdd run --spec-file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdd_harness.graph.core.config import ConfigError


class SpecTemplate(BaseModel):
    """The precise-spec template: every field a small model needs to implement one thing well."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=3, description="What to build, one line.")
    file: str = Field(min_length=1, description="The file to change or create, repo-relative.")
    requirements: list[str] = Field(min_length=1, description="Exact behaviours.")
    input: str = ""
    output: str = ""
    validation: str = ""
    error_handling: str = ""
    dependencies: list[str] = Field(default_factory=list)
    style: str = ""


def load_template(path: str | Path) -> dict[str, Any]:
    """Load and validate a template file; errors name the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "<file>", str(path), "spec file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "<yaml>", str(err).splitlines()[0], "the spec file must be valid YAML") from None
    if isinstance(data, dict) and isinstance(data.get("requirements"), str):
        data["requirements"] = [data["requirements"]]
    try:
        return SpecTemplate.model_validate(data).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(map(str, first["loc"])) or "<root>"
        allowed = ", ".join(SpecTemplate.model_fields)
        hint = f"{first['msg']}; template fields: {allowed}"
        value = "<missing>" if first["type"] == "missing" else first.get("input")
        raise ConfigError(str(path), key, value, hint) from None
