"""Model-written code and the repository's tests run without the user's credentials: keys, tokens,
passwords, the config's own key variables and user:password parts of URLs are gone from their environment,
while PATH, HOME, LANG and VIRTUAL_ENV are still there."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from sdd_harness.graph.core.config import parse_config
from sdd_harness.graph.core.phases import BUILTIN_PHASES
from sdd_harness.graph.infra.childenv import scrubbed_env, without_url_credentials
from sdd_harness.graph.infra.workspace import Workspace

KEPT = {
    "PATH": "/usr/local/bin:/usr/bin",
    "HOME": "/home/dev",
    "LANG": "C.UTF-8",
    "VIRTUAL_ENV": "/work/.venv",
    "PYTHONPATH": "src",
    "TOKENIZERS_PARALLELISM": "false",
    "SSH_AUTH_SOCK": "/tmp/agent.sock",
    "NO_PROXY": "localhost,127.0.0.1",
    "HTTP_PROXY": "http://proxy.internal:3128",
    "CONTACT": "dev@example.com",
}
DROPPED = [
    "OPENAI_API_KEY",
    "anthropic_api_key",
    "GITHUB_TOKEN",
    "HF_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "CLIENT_SECRET",
    "DB_PASSWORD",
    "PGPASSWORD",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_OPENAI_KEY",
    "GH_TOKEN_VALUE",
]


def test_secret_variables_are_dropped_and_the_rest_is_kept() -> None:
    env = {**KEPT, **{name: f"value-of-{name}" for name in DROPPED}}
    child = scrubbed_env(env)
    assert child == KEPT


def test_configured_key_variables_and_copies_of_secret_values_are_dropped() -> None:
    env = {**KEPT, "MY_PROVIDER_CRED": "c-123456789", "OPENAI_API_KEY": "sk-abcdef123", "SETTING": "sk-abcdef123"}
    child = scrubbed_env(env, secret_names={"my_provider_cred"})
    assert child == KEPT


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("HTTPS_PROXY", "http://alice:s3cret@proxy:3128", "http://proxy:3128"),
        ("https_proxy", "http://alice:p@ss@proxy:3128/", "http://proxy:3128/"),
        ("ALL_PROXY", "socks5://tok3n@proxy:1080", "socks5://proxy:1080"),
        ("HTTP_PROXY", "alice:s3cret@proxy:3128", "proxy:3128"),
        ("PIP_INDEX_URL", "https://user:pw@pypi.corp/simple", "https://pypi.corp/simple"),
        (
            "PIP_EXTRA_INDEX_URL",
            "https://a:b@one/simple https://c:d@two/simple",
            "https://one/simple https://two/simple",
        ),
        ("DATABASE_URL", "postgresql://app:hunter2@db:5432/app", "postgresql://db:5432/app"),
        ("HTTP_PROXY", "http://proxy:3128", "http://proxy:3128"),
        ("CONTACT", "dev@example.com", "dev@example.com"),
        ("REPO", "git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ],
)
def test_credentials_inside_urls_are_stripped(name: str, value: str, expected: str) -> None:
    assert without_url_credentials(name, value) == expected
    assert scrubbed_env({name: value}) == {name: expected}


def config_with_key_var(var: str):  # noqa: ANN201 - a HarnessConfig
    return parse_config(
        {
            "default_provider": "mine",
            "providers": {"mine": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": var}},
            "phases": {p: {"model": "m"} for p in BUILTIN_PHASES},
            "orchestrator": {"model": "m"},
        }
    )


def test_the_config_lists_every_key_variable_it_knows() -> None:
    names = config_with_key_var("ODD_NAME_FOR_A_CREDENTIAL").api_key_env_names()
    assert "ODD_NAME_FOR_A_CREDENTIAL" in names and "OPENROUTER_API_KEY" in names
    assert names == sorted(set(names))


def test_a_repo_test_that_prints_its_environment_never_sees_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{canary}-openai")
    monkeypatch.setenv("ODD_NAME_FOR_A_CREDENTIAL", f"{canary}-configured")
    monkeypatch.setenv("GITHUB_TOKEN", f"ghp_{canary}")
    monkeypatch.setenv("DB_PASSWORD", f"{canary}-db")
    monkeypatch.setenv("COPY_OF_THE_KEY", f"sk-{canary}-openai")
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:{canary}@proxy.invalid:3128")
    monkeypatch.setenv("LANG", "C.UTF-8")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "test_env.py").write_text(
        "import os\n\n\ndef test_print_environment():\n"
        "    for name, value in sorted(os.environ.items()):\n"
        "        print(f'{name}={value}')\n",
        encoding="utf-8",
    )
    secret_names = config_with_key_var("ODD_NAME_FOR_A_CREDENTIAL").api_key_env_names()
    ws = Workspace(repo, secret_names=secret_names)
    result = asyncio.run(ws.run("python -m pytest -q -s -p no:cacheprovider test_env.py", 60))
    assert result.ok, result.output
    assert "PATH=" in result.output and "HOME=" in result.output and "LANG=C.UTF-8" in result.output
    assert "HTTPS_PROXY=http://proxy.invalid:3128" in result.output
    assert canary not in result.output
