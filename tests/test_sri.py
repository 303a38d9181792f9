"""Subresource Integrity: sri() digests, its cache, and paths outside the static folder."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import typing as t
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Blueprint, Flask, render_template_string

from flask_bastion import Bastion, sri

from .conftest import HTTPS, SECRET

#: The module, which the package's ``sri`` attribute (the function) hides.
sri_module = importlib.import_module("flask_bastion.sri")

SCRIPT = b'document.documentElement.classList.add("js");\n'
PAGE = """<script src="{{ url_for('static', filename='app.js') }}"
integrity="{{ sri('app.js') }}" nonce="{{ csp_nonce() }}"></script>"""


def integrity(content: bytes) -> str:
    """The SRI value of ``content``, straight from hashlib."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@pytest.fixture
def static(tmp_path: Path) -> Path:
    """A static folder holding app.js, next to a private file outside it."""
    folder = tmp_path / "static"
    (folder / "css").mkdir(parents=True)
    (folder / "app.js").write_bytes(SCRIPT)
    (folder / "css" / "site.css").write_bytes(b"body { margin: 0 }\n")
    (tmp_path / "secret.txt").write_bytes(b"password=hunter2\n")
    return folder


@pytest.fixture
def app(static: Path) -> Flask:
    app = Flask(__name__, static_folder=str(static))
    app.config.update(
        SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory"
    )

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE)

    Bastion(app)
    return app


def digest_in(app: Flask, filename: str, **kwargs: t.Any) -> str:
    with app.test_request_context(base_url=HTTPS):
        return sri(filename, **kwargs)


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths sri() opens, recorded as it opens them."""
    opened: list[str] = []

    def recording_open(path: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        opened.append(path)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(sri_module, "open", recording_open, raising=False)
    return opened


def test_digest_is_sha384_base64_of_the_file(app: Flask, static: Path) -> None:
    """sri() returns 'sha384-' and the base64 SHA-384 digest of the file's bytes."""
    assert digest_in(app, "app.js") == integrity(SCRIPT)


def test_digest_of_a_file_in_a_subfolder(app: Flask, static: Path) -> None:
    """A path with a subfolder inside the static folder is hashed like url_for names it."""
    assert digest_in(app, "css/site.css") == integrity(b"body { margin: 0 }\n")


def test_template_global_renders_the_digest(app: Flask) -> None:
    """Bastion registers sri() as a Jinja global; the page carries the file's digest."""
    response = app.test_client().get("/", base_url=HTTPS)
    assert response.status_code == 200
    assert f'integrity="{integrity(SCRIPT)}"' in response.get_data(as_text=True)


def test_file_is_read_once(app: Flask, static: Path, opens: list[str]) -> None:
    """Many calls and many page renders read the file once."""
    client = app.test_client()
    for _ in range(5):
        digest_in(app, "app.js")
        assert client.get("/", base_url=HTTPS).status_code == 200
    assert opens == [str(static / "app.js")]


def _write_bigger(path: Path) -> bytes:
    content = SCRIPT + b"// more\n"
    path.write_bytes(content)
    return content


def _write_same_size_later(path: Path) -> bytes:
    """Same size, a later modification time: an edit within one second, say."""
    before = path.stat()
    content = SCRIPT.replace(b"js", b"JS")
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    return content


def _replace_keeping_size_and_mtime(path: Path) -> bytes:
    """A new file renamed over the old one (a deploy), with the old size and mtime."""
    before = path.stat()
    content = SCRIPT.replace(b"js", b"JS")
    new = path.with_name("app.js.new")
    new.write_bytes(content)
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(new, path)
    return content


@pytest.mark.parametrize(
    "change",
    [_write_bigger, _write_same_size_later, _replace_keeping_size_and_mtime],
    ids=["bigger", "same-size-later-mtime", "replaced-same-size-and-mtime"],
)
def test_changed_file_gets_a_new_digest(
    app: Flask, static: Path, opens: list[str], change: Callable[[Path], bytes]
) -> None:
    """A file changed after its digest was cached is hashed again, never served stale."""
    assert digest_in(app, "app.js") == integrity(SCRIPT)
    content = change(static / "app.js")
    assert digest_in(app, "app.js") == integrity(content)
    assert digest_in(app, "app.js") == integrity(content)
    assert len(opens) == 2


@pytest.mark.parametrize(
    "filename",
    ["../secret.txt", "css/../../secret.txt", "{root}/secret.txt", "/etc/passwd"],
    ids=["parent", "parent-via-subfolder", "absolute-into-tmp", "absolute-etc"],
)
def test_path_leaving_the_static_folder_is_refused(
    app: Flask, static: Path, opens: list[str], filename: str
) -> None:
    """../ and absolute paths raise ValueError; the file outside is never opened."""
    filename = filename.format(root=static.parent)
    with pytest.raises(ValueError, match="leaves the static folder"):
        digest_in(app, filename)
    assert opens == []


@pytest.mark.parametrize("filename", ["missing.js", "css", "app.js/x"], ids=str)
def test_missing_file_raises_naming_it(app: Flask, filename: str) -> None:
    """A name that is not a file in the static folder raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match=f"sri\\('{filename}'\\): no such file"):
        digest_in(app, filename)


def test_missing_file_fails_the_render(app: Flask) -> None:
    """A template naming a missing file fails at render with the clear error."""
    with (
        app.test_request_context(base_url=HTTPS),
        pytest.raises(FileNotFoundError, match=r"sri\('gone.js'\)"),
    ):
        render_template_string("{{ sri('gone.js') }}")


def test_blueprint_static_folder(app: Flask, tmp_path: Path) -> None:
    """blueprint= takes the file from that blueprint's static folder."""
    folder = tmp_path / "admin-static"
    folder.mkdir()
    (folder / "admin.js").write_bytes(b"admin();\n")
    app.register_blueprint(Blueprint("admin", __name__, static_folder=str(folder)))
    assert digest_in(app, "admin.js", blueprint="admin") == integrity(b"admin();\n")
    with pytest.raises(FileNotFoundError):
        digest_in(app, "app.js", blueprint="admin")


def test_blueprint_without_static_folder(app: Flask) -> None:
    """A blueprint without a static folder, or no such blueprint, raises ValueError."""
    app.register_blueprint(Blueprint("plain", __name__))
    for name in ("plain", "nonexistent"):
        with pytest.raises(ValueError, match=f"blueprint '{name}' has no static folder"):
            digest_in(app, "app.js", blueprint=name)


def test_app_without_static_folder() -> None:
    """An application without a static folder raises ValueError."""
    app = Flask(__name__, static_folder=None)
    with pytest.raises(ValueError, match="the application has no static folder"):
        digest_in(app, "app.js")
