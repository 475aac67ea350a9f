"""What an embedded llama.cpp server runs with: manager-wide settings and per-model server options.

`ServerSettings` is the manager's (threads, host, port, timeouts, default context). `ModelServerOptions` is per
model and comes from the config (`providers.embedded.servers.<model>`): slots decoded side by side, prompt-cache
knobs and speculative decoding. Every numeric knob is bounded here, so a config cannot ask the child for an
unbounded draft or context. The child gets the options as one JSON argument and applies them to xllamacpp's
`CommonParams` (see `serve.py`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdd_harness.graph.infra.embedded.weights import EMBEDDED_MODELS

NgramKind = Literal["simple", "map-k", "mod"]


class Speculation(BaseModel):
    """Speculative decoding: cheap drafts that the served model checks several tokens at a time.

    The served model still picks every token, so at temperature 0 the text is its own greedy output; drafting only
    changes how many forward passes it takes. `draft_model` is a smaller embedded model with the same tokenizer;
    `ngram` drafts by looking up the last tokens in the prompt and the reply so far (prompt lookup), which pays
    when the reply copies long stretches of the prompt, as edits of an existing file do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    draft_model: str | None = Field(None, description="Embedded model that drafts (same tokenizer family).")
    draft_max: int = Field(8, ge=1, le=32, description="Most tokens the draft model proposes per step.")
    draft_min: int = Field(0, ge=0, le=32, description="Fewest draft tokens worth checking.")
    draft_p_min: float = Field(0.75, ge=0.0, le=1.0, description="Stop drafting below this draft probability.")
    ngram: NgramKind | None = Field(None, description="n-gram drafting: simple, map-k or mod (llama.cpp's kinds).")
    ngram_size_n: int = Field(12, ge=1, le=64, description="Tokens matched to find an earlier continuation.")
    ngram_size_m: int = Field(48, ge=1, le=128, description="Most tokens drafted from one match.")
    ngram_min_hits: int = Field(1, ge=1, le=16, description="map-k: times a match must recur before it drafts.")

    @field_validator("draft_model")
    @classmethod
    def _known_draft(cls, value: str | None) -> str | None:
        if value is not None and value not in EMBEDDED_MODELS:
            raise ValueError(f"unknown draft_model; embedded models: {_known()}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Speculation:
        if self.draft_model is None and self.ngram is None:
            raise ValueError("speculation needs draft_model, ngram or both")
        if self.draft_min > self.draft_max:
            raise ValueError(f"draft_min {self.draft_min} is above draft_max {self.draft_max}")
        return self


class ModelServerOptions(BaseModel):
    """llama.cpp server options for one embedded model; a model without an entry runs with the defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_ctx: int | None = Field(None, ge=512, le=32768, description="Context per slot; default: the manager's.")
    parallel: int = Field(1, ge=1, le=4, description="Slots that decode requests side by side in one batch.")
    cache_reuse: int = Field(0, ge=0, le=4096, description="Reuse cached chunks of at least this many tokens.")
    cache_ram_mib: int | None = Field(None, ge=0, le=65536, description="Host-RAM prompt cache; None = default.")
    speculation: Speculation | None = None

    def check_for(self, model: str) -> None:
        """Raise ValueError when these options cannot serve `model` (the config names the key)."""
        if model not in EMBEDDED_MODELS:
            raise ValueError(f"unknown embedded model; embedded models: {_known()}")
        draft = self.speculation.draft_model if self.speculation else None
        if draft == model:
            raise ValueError(f"{model} cannot draft for itself; pick a smaller model of the same family")


def _known() -> str:
    return ", ".join(sorted(EMBEDDED_MODELS))


@dataclass(frozen=True)
class ServerSettings:
    """Manager-wide: how every child is started and stopped."""

    n_ctx: int = 8192
    threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    host: str = "127.0.0.1"
    port: int = 0  # 0 = let the server pick a free port
    start_timeout: float = 180.0
    stop_timeout: float = 5.0


@dataclass(frozen=True)
class LaunchSpec:
    """Everything one server child needs: which weights, under which alias, with which options."""

    alias: str
    model_path: Path
    settings: ServerSettings
    options: ModelServerOptions = field(default_factory=ModelServerOptions)
    draft_path: Path | None = None

    @property
    def slot_ctx(self) -> int:
        return self.options.n_ctx or self.settings.n_ctx


def serve_command(launch: LaunchSpec) -> list[str]:
    """The command that runs one llama.cpp server child."""
    s = launch.settings
    cmd = [
        sys.executable,
        "-m",
        "sdd_harness.graph.infra.embedded",
        "serve",
        "--model-path",
        str(launch.model_path),
        "--alias",
        launch.alias,
        "--ctx",
        str(launch.slot_ctx),
        "--threads",
        str(s.threads),
        "--host",
        s.host,
        "--port",
        str(s.port),
        "--options",
        launch.options.model_dump_json(exclude_defaults=True),
    ]
    if launch.draft_path is not None:
        cmd += ["--draft-model-path", str(launch.draft_path)]
    return cmd
