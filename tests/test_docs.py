"""The documentation in ``docs/`` matches the code: configuration, check catalogue, links."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import secrets
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from flask import Flask

from flask_bastion import checks, extension
from flask_bastion.checks import CheckMessage
from flask_bastion.config import SECTIONS, SettingInfo, load_config, parsers, settings
from flask_bastion.config.parsers import basic

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
FENCED = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _load_generator() -> t.Any:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts/gen_config_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _headings(page: Path) -> list[str]:
    """Headings outside fenced code blocks (a shell comment is not a heading)."""
    return HEADING.findall(FENCED.sub("", page.read_text(encoding="utf-8")))


def _anchors(page: Path) -> set[str]:
    return {gen._anchor(heading) for heading in _headings(page)}


def _local_links(page: Path) -> list[str]:
    found = LINK.findall(FENCED.sub("", page.read_text(encoding="utf-8")))
    return [link for link in found if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]


def test_configuration_md_is_generated() -> None:
    """docs/configuration.md is exactly what scripts/gen_config_docs.py generates."""
    assert _text("configuration.md") == gen.render()


def test_generator_check_passes_on_committed_file() -> None:
    """gen_config_docs.py --check exits 0 when the committed file is current."""
    assert gen.main(["--check"]) == 0


def test_generator_check_fails_on_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gen_config_docs.py --check exits 1 when the file differs from the generated text."""
    stale = tmp_path / "configuration.md"
    stale.write_text(gen.render().replace("BASTION_PROFILE", "BASTION_PROFILE_OLD", 1))
    monkeypatch.setattr(gen, "OUTPUT", stale)
    assert gen.main(["--check"]) == 1


def test_generator_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --check the generator writes the rendered text."""
    target = tmp_path / "configuration.md"
    monkeypatch.setattr(gen, "OUTPUT", target)
    assert gen.main([]) == 0
    assert target.read_text(encoding="utf-8") == gen.render()


def _setting_section(key: str) -> str:
    """The part of docs/configuration.md documenting ``key``, up to the next heading."""
    found = re.search(rf"^### `{key}`\n(.*?)(?=^#|\Z)", _text("configuration.md"), re.M | re.S)
    assert found is not None, f"{key} is not documented"
    return found.group(1)


@pytest.mark.parametrize("info", settings(), ids=lambda i: i.key)
def test_setting_links_the_checks_that_declare_it(info: SettingInfo) -> None:
    """A setting's "Related checks" link exactly the checks declaring that setting, whatever
    words their messages use (W034 speaks of the "session cookie name")."""
    declared = [m.id for m in checks.catalogue() if info.key in m.settings]
    found = re.findall(r"\[`(bastion\.[A-Z]\d{3})`\]\(checks\.md#", _setting_section(info.key))
    assert found == declared


def test_every_section_has_a_title() -> None:
    """Each configuration section has a proper heading (CSRF, not Csrf)."""
    assert set(gen.TITLES) == set(SECTIONS)
    assert "## CSRF (`BASTION_CSRF_*`)" in _text("configuration.md")


def test_untitled_section_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new section without a heading in TITLES is an error, not a capitalised guess."""
    monkeypatch.delitem(gen.TITLES, "csrf")
    with pytest.raises(SystemExit, match="'csrf'"):
        gen.render()


def test_boolean_spellings_documented_are_the_accepted_ones() -> None:
    """The reference lists every spelling the boolean parser accepts, and only those."""
    tokens = re.findall(r"`([^`]+)`", gen.ACCEPTS["boolean"])
    documented = [ast.literal_eval(token) for token in tokens]
    assert all(isinstance(parsers.boolean(value), bool) for value in documented)
    accepted = {True, False, *basic._TRUE, *basic._FALSE}
    assert set(documented) == accepted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1", True, id="json-integer-1"),
        pytest.param("0", False, id="json-integer-0"),
        pytest.param("true", True, id="json-true"),
        pytest.param("no", False, id="string-no"),
        pytest.param("ON", True, id="string-on-upper-case"),
    ],
)
def test_boolean_from_the_environment_as_documented(
    raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLASK_BASTION_CSP_REPORT_ONLY=1 (a JSON integer after from_prefixed_env) or =no is
    read as the reference says, not rejected."""
    monkeypatch.setenv("FLASK_BASTION_CSP_REPORT_ONLY", raw)
    app = Flask(__name__)
    app.config.from_prefixed_env()
    assert load_config(app.config, {}).csp.report_only is expected


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_check_has_a_catalogue_entry(message: CheckMessage) -> None:
    """Every declared check ID has its own heading in docs/checks.md."""
    assert message.id in _headings(DOCS / "checks.md")


@pytest.mark.parametrize("message", checks.catalogue(), ids=lambda m: m.id)
def test_catalogue_quotes_the_message(message: CheckMessage) -> None:
    """docs/checks.md quotes each check's message word for word, so it cannot drift."""
    assert message.msg in _text("checks.md")


def test_catalogue_names_only_declared_ids() -> None:
    """docs/checks.md mentions no check ID that the code does not declare."""
    mentioned = set(re.findall(r"bastion\.[A-Z]\d{3}", _text("checks.md")))
    assert mentioned <= {m.id for m in checks.catalogue()}


def _rest_to_markdown(text: str) -> str:
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _words(text: str) -> str:
    return " ".join(text.split())


def test_security_model_copies_the_hook_order() -> None:
    """docs/security-model.md states the hook order exactly as extension.py documents it."""
    docstring = extension.__doc__ or ""
    hook_order = docstring[docstring.index("Hook order") :]
    assert _words(_rest_to_markdown(hook_order)) in _words(_text("security-model.md"))


def test_index_links_every_page() -> None:
    """docs/index.md links every other page in docs/."""
    linked = {link.split("#")[0] for link in _local_links(DOCS / "index.md")}
    assert linked >= {page.name for page in PAGES if page.name != "index.md"}


def test_index_links_exist() -> None:
    """Every docs/*.md page that docs/index.md links to exists."""
    linked = {link.split("#")[0] for link in _local_links(DOCS / "index.md")}
    assert linked and all((DOCS / name).is_file() for name in linked if name)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_local_links_resolve(page: Path) -> None:
    """Every relative link in a docs page points at an existing file and heading."""
    broken = []
    for link in _local_links(page):
        name, _, anchor = link.partition("#")
        target = (page.parent / name) if name else page
        if not target.is_file() or (anchor and anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []


def _readme_example() -> str:
    """The Python code block of the README's "Use it" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Use it") :]
    match = PYTHON_BLOCK.search(section[: section.index("\n## ", 1)])
    assert match is not None
    return match.group(1)


@pytest.mark.slow
def test_readme_example_passes_the_deploy_check(tmp_path: Path) -> None:
    """The README's example, run as app.py with a generated key, passes
    `flask bastion check --deploy` with no finding at any level."""
    (tmp_path / "app.py").write_text(_readme_example(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BASTION_"))}
    env["SECRET_KEY"] = secrets.token_hex(32)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "bastion", "check", "--deploy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "System check identified no issues (0 silenced).\n", result.stderr
    assert result.returncode == 0
