"""Built-in provider presets and the model catalogue.

Every provider is an OpenAI-compatible endpoint; what differs is where the key lives, how reasoning is
switched on, which structured-output mode the server honours and how calls are billed. The catalogue maps
the short model names users write in configs to each provider's own model id and to a price reference.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sdd_harness.graph.infra.embedded.options import ModelServerOptions

ReasoningStyle = Literal["openai", "openrouter", "deepseek", "kimi", "zai", "ollama", "chat_template", "none"]
StructuredMode = Literal["json_schema", "json_object"]
ReasoningEcho = Literal["auto", "none", "reasoning_content", "reasoning_details"]

# How each style switches reasoning on the wire (see sdd_harness.graph.core.models.reasoning_kwargs):
#   openai        reasoning_effort: low|medium|high                       (OpenAI, OpenCode Go)
#   openrouter    reasoning: {effort, exclude} / {enabled: false}         (OpenRouter, normalised for every vendor)
#   deepseek      thinking: {type: enabled|disabled} + reasoning_effort   (DeepSeek V4; medium is served as high)
#   kimi, zai     thinking: {type: enabled|disabled}                      (Moonshot Kimi K2.x, Z.AI GLM-4.5+)
#   ollama        reasoning_effort: none|low|medium|high                  (Ollama's /v1: "none" turns thinking off)
#   chat_template chat_template_kwargs: {enable_thinking: bool}           (vLLM / llama.cpp with Qwen3-style templates)
# Reasoning text comes back as `reasoning_content` (DeepSeek, Kimi, GLM, llama.cpp) or `reasoning` (OpenRouter,
# Ollama, vLLM >= 0.10); both are kept in the run log. `reasoning_echo` says whether it is sent back on later
# assistant turns ("auto": reasoning_content for deepseek/kimi/zai, reasoning_details for openrouter).


class Provider(BaseModel):
    """An OpenAI-compatible endpoint plus the quirks the harness must respect."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="OpenAI-compatible base URL; None only for `embedded`.")
    api_key_env: str | None = Field(None, description="Environment variable holding the key; None = no key.")
    reasoning_style: ReasoningStyle = "openai"
    structured_output: StructuredMode = "json_schema"
    tools: Literal["native", "json"] = "native"
    billing: Literal["per_token", "flat"] = "per_token"
    requests_per_second: float | None = Field(None, description="Client-side rate limit; None = unlimited.")
    reasoning_echo: ReasoningEcho = Field("auto", description="Send reasoning back on later assistant turns.")
    embedded: bool = False
    servers: dict[str, ModelServerOptions] = Field(
        default_factory=dict,
        description="embedded only: llama.cpp server options per model (slots, prompt cache, speculation).",
    )

    def server_options(self, model_id: str) -> ModelServerOptions | None:
        """The configured server options of an embedded model (None: the defaults)."""
        return self.servers.get(model_id)

    def echo_field(self) -> str | None:
        """The assistant-message field that carries reasoning back to this provider, if any."""
        if self.reasoning_echo != "auto":
            return None if self.reasoning_echo == "none" else self.reasoning_echo
        return {
            "deepseek": "reasoning_content",
            "kimi": "reasoning_content",
            "zai": "reasoning_content",
            "openrouter": "reasoning_details",
        }.get(self.reasoning_style)


BUILTIN_PROVIDERS: dict[str, Provider] = {
    "opencode-go": Provider(
        base_url="https://opencode.ai/zen/go/v1",
        api_key_env="OPENCODE_API_KEY",
        billing="flat",
        reasoning_style="openai",
    ),
    "openrouter": Provider(
        base_url="https://openrouter.ai/api/v1",
        api_key_env="OPENROUTER_API_KEY",
        reasoning_style="openrouter",
    ),
    "deepseek": Provider(
        base_url="https://api.deepseek.com/v1",
        api_key_env="DEEPSEEK_API_KEY",
        reasoning_style="deepseek",
        structured_output="json_object",
    ),
    "moonshot": Provider(
        base_url="https://api.moonshot.ai/v1",
        api_key_env="MOONSHOT_API_KEY",
        reasoning_style="kimi",
        structured_output="json_object",
    ),
    "zai": Provider(
        base_url="https://api.z.ai/api/paas/v4",
        api_key_env="ZAI_API_KEY",
        reasoning_style="zai",
        structured_output="json_object",
    ),
    "openai": Provider(base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"),
    "ollama": Provider(
        base_url="http://127.0.0.1:11434/v1",
        reasoning_style="ollama",
        tools="json",
        billing="flat",
    ),
    "vllm": Provider(
        base_url="http://127.0.0.1:8000/v1",
        reasoning_style="chat_template",
        tools="json",
        billing="flat",
    ),
    "llama.cpp": Provider(
        base_url="http://127.0.0.1:8080/v1",
        reasoning_style="chat_template",
        tools="json",
        billing="flat",
    ),
    "embedded": Provider(reasoning_style="none", tools="json", billing="flat", embedded=True),
}


class CatalogEntry(BaseModel):
    """Where a short model name lives on each provider, how to price it, and what else it may answer as.

    Routing checks compare the served model id with the requested one exactly, after normalising case, an
    ``org/`` prefix, date/version suffixes and routing tags (``graph.core.usage.normalise_model_id``). Any name
    of an entry — the short name, each provider's id, ``price_ref`` and ``aliases`` — counts as the same model.
    """

    model_config = ConfigDict(extra="forbid")

    ids: dict[str, str] = Field(default_factory=dict, description="provider name -> that provider's model id")
    price_ref: str | None = Field(None, description="genai-prices model ref on OpenRouter, e.g. 'qwen/qwen3-coder'")
    aliases: list[str] = Field(
        default_factory=list,
        description="Other ids a provider may report for this same model (e.g. OpenRouter's canonical slug).",
    )


def _entry(price_ref: str, aliases: tuple[str, ...] = (), **ids: str) -> CatalogEntry:
    return CatalogEntry(
        ids={k.replace("_", "-"): v for k, v in ids.items()}, price_ref=price_ref, aliases=list(aliases)
    )


BUILTIN_CATALOG: dict[str, CatalogEntry] = {
    "deepseek-v4-flash": _entry(
        "deepseek/deepseek-v4-flash",
        opencode_go="deepseek-v4-flash",
        openrouter="deepseek/deepseek-v4-flash",
        deepseek="deepseek-v4-flash",
    ),
    "deepseek-v4-pro": _entry(
        "deepseek/deepseek-v4-pro",
        opencode_go="deepseek-v4-pro",
        openrouter="deepseek/deepseek-v4-pro",
        deepseek="deepseek-v4-pro",
    ),
    "kimi-k2.6": _entry(
        "moonshotai/kimi-k2.6",
        opencode_go="kimi-k2.6",
        openrouter="moonshotai/kimi-k2.6",
        moonshot="kimi-k2.6",
    ),
    "glm-5.1": _entry("z-ai/glm-5.1", opencode_go="glm-5.1", openrouter="z-ai/glm-5.1", zai="glm-5.1"),
    # aliases: the names genai-prices lists for these models — OpenRouter's canonical slugs and Anthropic's id
    "qwen3-coder-480b": _entry(
        "qwen/qwen3-coder",
        aliases=("qwen/qwen3-coder-480b-a35b-07-25", "qwen3-coder-480b-a35b-instruct"),
        openrouter="qwen/qwen3-coder",
    ),
    "claude-sonnet-4.6": _entry(
        "anthropic/claude-sonnet-4.6",
        aliases=("anthropic/claude-4.6-sonnet", "claude-sonnet-4-6"),
        openrouter="anthropic/claude-sonnet-4.6",
    ),
    "qwen2.5-coder-0.5b": CatalogEntry(ids={"embedded": "qwen2.5-coder-0.5b"}),
    "qwen2.5-coder-1.5b": CatalogEntry(ids={"embedded": "qwen2.5-coder-1.5b"}),
}
