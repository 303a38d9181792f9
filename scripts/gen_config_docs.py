"""Generate ``docs/configuration.md`` from :func:`flask_bastion.config.settings`.

The configuration reference is generated so that it cannot drift from the code: every
key, default, accepted value and danger note comes from the setting declarations in
``flask_bastion.config``, and each setting's "Related checks" from the settings that the
check messages in ``flask_bastion.checks`` declare. ``tests/test_docs.py`` fails when the
committed file is stale.

::

    python scripts/gen_config_docs.py          # rewrite docs/configuration.md
    python scripts/gen_config_docs.py --check  # exit 1 when docs/configuration.md is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing as t
from collections.abc import Mapping
from pathlib import Path

from flask_bastion import checks
from flask_bastion.config import PREFIX, SECTIONS, SettingInfo, settings

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

#: Heading of each section; the key is the ``<SECTION>`` part of ``BASTION_<SECTION>_*``.
TITLES = {
    "": "Core",
    "proxy": "Proxy",
    "https": "HTTPS",
    "headers": "Headers",
    "csp": "CSP",
    "errors": "Errors",
    "inputs": "Inputs",
    "csrf": "CSRF",
    "sessions": "Sessions",
    "stores": "Stores",
    "passwords": "Passwords",
    "accounts": "Accounts",
    "mail": "Mail",
    "lockout": "Lockout",
    "crypto": "Crypto",
    "content": "Content",
    "ipfilter": "IP filter",
    "uploads": "Uploads",
    "ratelimit": "Rate limits",
}

#: What each parser in ``config/parsers/`` accepts, by the parser's function name.
ACCEPTS = {
    "boolean": (
        "`True` or `False`, `1` or `0`, or a string in any case (as the environment gives "
        "it): `'true'`, `'yes'`, `'on'`, `'1'` or `'false'`, `'no'`, `'off'`, `'0'`"
    ),
    "non_negative_int": "an integer, 0 or more",
    "positive_int": "an integer, 1 or more",
    "int_range": "an integer from {0} to {1}",
    "seconds": "a number of seconds above {0} and at most {1} (`0.5`, or `'0.5'` from the "
    "environment)",
    "range_api_url": (
        "`None`, or an `https://` URL (`http://` only to a loopback host such as "
        "`127.0.0.1`), without credentials, query or fragment"
    ),
    "url_prefix": "`''` or a path such as `'/auth'` (no trailing `/`)",
    "subset": "a list (or comma-separated string) of any of {0}",
    "string_tuple": "a list of strings, or one comma-separated string",
    "networks": (
        "a list of IP networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address "
        "means that one address; an IPv6 zone ID must be an interface name such as `%eth0` "
        "and is dropped), or one comma-separated string"
    ),
    "cidr_list": (
        "a list of IP networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare "
        "address means that one address; host bits after the prefix are an error; "
        "IPv4-mapped IPv6 networks are read as IPv4), or one comma-separated string"
    ),
    "ban_store_url": (
        "`'memory://'`, a `redis://`, `rediss://` or `unix://` URL, or a SQLAlchemy "
        "database URL such as `'sqlite:///bans.db'` or `'postgresql+psycopg://...'`"
    ),
    "optional_str": "a string, or `None` (an empty string also means `None`)",
    "secret": "a string or bytes, or `None` (an empty value also means `None`)",
    "crypto_keys": (
        "`None`, or a list of keys, newest first, each the base64url text of 32 bytes "
        "(padding optional); from the environment, one comma-separated string"
    ),
    "header_token": "an HTTP header name: letters, digits and `-`",
    "response_header": (
        "an HTTP header name: letters, digits and `-`; in any case, not a hop-by-hop or "
        "framing header (`Connection`, `Transfer-Encoding`, `Content-Length`, `Host`, ...), "
        "not `Set-Cookie`, `Location`, `Refresh`, `Clear-Site-Data`, an authentication or a "
        "caching header (`Cache-Control`, `Vary`, ...), and not a security header "
        "Flask-Bastion sends (`Content-Security-Policy`, `X-Frame-Options`, ...)"
    ),
    "identifier": "a name of letters, digits, `_`, `-` and `.`",
    "storage_url": (
        "`'memory://'`, or a Redis URL as the `limits` library reads it: `redis://`, "
        "`rediss://`, `redis+unix://`, `redis+sentinel://`, `redis+cluster://`"
    ),
    "rate_limits": (
        "`None` or `''` for none, or limits in the `limits` notation: `'600/minute'`, "
        "`'10/second; 1000/hour'` (`;` between limits), or a list of such strings"
    ),
    "endpoint_patterns": (
        "a list of endpoint names (letters, digits, `_`, `-`, `.`; `*` matches any "
        "characters, so `'*.static'` is every blueprint's static files), or one "
        "comma-separated string"
    ),
    "path_prefixes": (
        "a list of paths such as `'/admin'` (a `/` and path segments, no trailing `/`), or "
        "one comma-separated string"
    ),
    "clamd_url": "`None`, `'tcp://host:port'` or `'unix:///path/to/clamd.sock'`",
    "robots_tag": (
        "`None`, or 1 to 200 visible ASCII characters and inner spaces, such as "
        "`'noindex, nofollow'`"
    ),
    "origins": (
        "a list of origins (`https://app.example.org`, no path; `*` stands for one "
        "subdomain label, and is refused over a public suffix such as `*.co.uk` or "
        "`*.github.io`), or one comma-separated string"
    ),
    "csp_policy": (
        "a mapping of directive to a list of sources (a space-separated string is split); "
        "from the environment, a JSON object. Each source is one token of the CSP grammar: "
        "a quoted keyword (`\"'self'\"`, `\"'nonce'\"`), a hash (`\"'sha256-...'\"`), a "
        "scheme (`https:`) or a host (`https://cdn.example.org`); no spaces, control "
        "characters, `;` or `,`, and no fixed `'nonce-...'`"
    ),
    "feature_allowlists": (
        "a mapping of feature to a list of `self`, `*` and origins such as "
        "`https://maps.example.org` (a wildcard such as `https://*.example.org` is "
        "refused over a public suffix such as `*.co.uk`; a space-separated string is "
        "split); from the environment, a JSON object"
    ),
    "report_url": (
        "`None`, an `http(s)` URL or a path starting with `/`, without spaces, control "
        "characters, quotes, `;` or `,`"
    ),
    "visible_ascii": "1 to 64 visible ASCII characters (no spaces)",
    "mail_url": (
        "`None`, `'console'`, or an `smtp://` or `smtps://` URL: host, optional port, "
        "optional `user:password@` (percent-encoded), and for `smtp://` only the query "
        "`?starttls=1`; no path"
    ),
    "mail_address": (
        "`None`, or one email address, bare or with a display name "
        "(`'Vault <no-reply@example.org>'`)"
    ),
    "base_url": (
        "`None`, or an absolute `http(s)` URL without user, query or fragment, such as "
        "`'https://example.org'` or `'https://example.org/app'`"
    ),
}

INTRO = """\
# Configuration reference

<!-- Generated by scripts/gen_config_docs.py from flask_bastion.config.settings().
     Do not edit by hand: change src/flask_bastion/config/sections/, then run
     `python scripts/gen_config_docs.py`. -->

Every Flask-Bastion setting, its default, what it accepts and what it protects. The
defaults are the secure choice; a setting marked **Danger** weakens a protection when set
as described. **Related checks** lists the findings of `flask bastion check --deploy`
that concern a setting (see [the check catalogue](checks.md)).

## How settings are read

**Once, at start-up.** `Bastion(app)` or `bastion.init_app(app)` reads and validates
every setting into frozen dataclasses. Changing `app.config` afterwards has no effect on
Flask-Bastion; configure the application first, then initialise the extension.

**Precedence: constructor keyword > `app.config` > default.** A keyword passed to
`Bastion(...)` wins over the same key in `app.config`, which wins over the default
below. `flask bastion config` prints every effective value with its source
(`keyword`, `app.config` or `default`); `flask bastion config --json` prints the same as
JSON for scripts.

**Naming.** Keys are `BASTION_<SECTION>_<SETTING>` (`BASTION_HTTPS_HSTS_MAX_AGE`), except
the core settings, which have no section (`BASTION_PROFILE`). The constructor keyword is
the key without `BASTION_`, in lower case:

```python
Bastion(app, https_hsts_max_age=63_072_000, csp_report_only=True)
```

The full upper-case key is accepted as a keyword too (`Bastion(app,
BASTION_CSP_REPORT_ONLY=True)`).

**Unknown keys and bad values fail closed.** A misspelt security setting would silently
leave the default in place, so every `BASTION_*` key in `app.config` and every keyword
is checked: an unknown key or an invalid value raises `ConfigurationError` from
`init_app`, naming the key, the values it accepts and the closest known key
(`BASTION_HTTPS_HSTS_MAXAGE: unknown setting. Did you mean BASTION_HTTPS_HSTS_MAX_AGE?`).
Keys without the `BASTION_` prefix belong to the application and are not checked.

**Profiles.** `BASTION_PROFILE` is `'production'` (the default) or `'development'`. The
development profile exists for plain-HTTP work on `http://127.0.0.1` and relaxes exactly
three things:

1. requests from a loopback peer to a loopback host (`localhost`, `*.localhost`,
   `127.0.0.0/8`, `::1`) are not redirected to HTTPS;
2. the session cookie is not `Secure` (and drops its `__Host-` prefix, which requires
   `Secure`), so it is sent over HTTP;
3. `DEBUG` is allowed. Under the production profile, `init_app` raises
   `ConfigurationError` when `DEBUG` is on, because the debugger runs arbitrary code for
   anyone who reaches it.

Every other protection (security headers, CSP, HSTS on HTTPS responses, safe errors,
request limits) stays on. Flask-Bastion logs a warning at start-up under the development
profile, and `flask bastion check --deploy` reports it as `bastion.W007`. Never deploy
it.

**Environment variables.** Flask-Bastion reads only `app.config`. To configure it from
the environment, load prefixed variables with Flask's
[`Config.from_prefixed_env`](https://flask.palletsprojects.com/en/stable/api/#flask.Config.from_prefixed_env)
*before* initialising the extension:

```python
app = Flask(__name__)
app.config.from_prefixed_env()  # FLASK_BASTION_HTTPS_HSTS_MAX_AGE -> BASTION_HTTPS_HSTS_MAX_AGE
Bastion(app)
```

```sh
export FLASK_SECRET_KEY="$(flask bastion generate-secret)"
export FLASK_BASTION_PROXY_TRUSTED_HOPS=1
export FLASK_BASTION_PROXY_TRUSTED_CIDRS=10.0.0.0/8,fd00::/8
export FLASK_BASTION_CSP_REPORT_ONLY=false
export FLASK_BASTION_SILENCED_CHECKS='["bastion.I063"]'
```

`from_prefixed_env` parses each value as JSON when it is valid JSON (`true`, `60`,
`null`, `["bastion.W013"]`, `{...}`) and keeps it as a string otherwise; Flask-Bastion
then parses strings itself (comma-separated lists, digits as integers, `yes`/`no` and
`on`/`off` as booleans). Write booleans as `true` and `false`, or `1` and `0`: those
arrive as JSON integers, which boolean settings accept too. Write `null` for `None`.

**Flask's session cookie settings.** The server-side session interface owns the session
cookie and reads Flask's `SESSION_COOKIE_*` settings once, in `init_app`
([sessions](sessions.md#the-cookie)): `SESSION_COOKIE_SAMESITE` may be `'Lax'` (the
default) or `'Strict'`, and any other value, `'None'` included, raises
`ConfigurationError`, as does `SESSION_COOKIE_HTTPONLY = False`; `SESSION_COOKIE_NAME`
names the cookie after the `__Host-` prefix unless `BASTION_SESSIONS_COOKIE_NAME` is set.
With server-side sessions off, the same rules apply to Flask's own cookie session, and
`init_app` writes its flags:

| Flask key | Value | When |
|---|---|---|
| `SESSION_COOKIE_SECURE` | `True` (development profile: as the app set it) | sessions off |
| `SESSION_COOKIE_HTTPONLY` | `True` | sessions off |
| `SESSION_COOKIE_SAMESITE` | `'Lax'`, or `'Strict'` when the application chose it | sessions off |
| `MAX_CONTENT_LENGTH` | `BASTION_INPUTS_MAX_CONTENT_LENGTH` | unless the application set it |
| `MAX_FORM_MEMORY_SIZE` | `BASTION_INPUTS_MAX_FORM_MEMORY_SIZE` | unless the application set it |
| `MAX_FORM_PARTS` | `BASTION_INPUTS_MAX_FORM_PARTS` | unless the application set it |

`flask bastion check --deploy` asks the session interface for the cookie it sends and
reports one that is not `Secure`, `HttpOnly` or `SameSite` Lax or Strict
(`bastion.W014` to `bastion.W016`), and a later change that lifts the body limit
(`bastion.W072`).
"""


def _literal(value: t.Any) -> str:
    """``value`` as it would be written in Python configuration."""
    if isinstance(value, tuple):
        return repr([str(item) for item in value])
    return repr(value)


def _mapping_block(value: Mapping[str, t.Any]) -> str:
    lines = [f"    {json.dumps(name)}: {json.dumps(list(items))}," for name, items in value.items()]
    return "\n".join(["```python", "{", *lines, "}", "```"])


def _accepts(info: SettingInfo) -> str:
    if info.choices is not None:
        return "one of " + ", ".join(f"`{choice!r}`" for choice in info.choices)
    name = getattr(info.parse, "__name__", repr(info.parse))
    try:
        text = ACCEPTS[name]
    except KeyError:
        raise SystemExit(
            f"{Path(__file__).name}: describe the parser {name} of {info.key} in ACCEPTS"
        ) from None
    # A parser made for its setting (int_range) carries its bounds.
    bounds = getattr(info.parse, "bounds", None)
    if bounds:
        return text.format(*bounds)
    members = getattr(info.parse, "members", None)  # subset: the names it takes
    return text.format(", ".join(f"`{m!r}`" for m in members)) if members else text


def _danger(info: SettingInfo) -> str:
    word, _, rest = info.danger.partition(" ")
    if word in ("below", "above") and rest:
        return f"weakens security when set {word} `{rest}`."
    value = repr(info.danger) if info.choices and info.danger in info.choices else info.danger
    return f"weakens security when set to `{value}`."


def _related_checks(key: str) -> list[str]:
    """The IDs of the check messages that declare ``key`` among their settings."""
    return [m.id for m in checks.catalogue() if key in m.settings]


def _anchor(text: str) -> str:
    """The anchor GitHub and most renderers give a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", text.lower()).replace(" ", "-")


def _setting(info: SettingInfo) -> str:
    keyword = info.key[len(PREFIX) :].lower()
    lines = [f"### `{info.key}`", "", info.doc, ""]
    if isinstance(info.default, Mapping):
        lines += ["- **Default:**", "", _indent(_mapping_block(info.default)), ""]
    else:
        lines.append(f"- **Default:** `{_literal(info.default)}`")
    lines += [
        f"- **Accepts:** {_accepts(info)}",
        f"- **Keyword:** `Bastion(app, {keyword}=...)`",
        f"- **Environment:** `FLASK_{info.key}`",
    ]
    if info.danger:
        lines.append(f"- **Danger:** {_danger(info)}")
    related = _related_checks(info.key)
    if related:
        links = ", ".join(f"[`{id_}`](checks.md#{_anchor(id_)})" for id_ in related)
        lines.append(f"- **Related checks:** {links}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())


def _summary_row(info: SettingInfo) -> str:
    default = "see below" if isinstance(info.default, Mapping) else f"`{_literal(info.default)}`"
    danger = _danger(info).rstrip(".") if info.danger else ""
    danger = danger[:1].upper() + danger[1:]
    return f"| [`{info.key}`](#{_anchor(info.key)}) | {default} | {danger} |"


def render() -> str:
    """The text of ``docs/configuration.md``."""
    parts = [INTRO]
    for section, cls in SECTIONS.items():
        infos = [info for info in settings() if info.section == section]
        try:
            title = TITLES[section]
        except KeyError:
            raise SystemExit(
                f"{Path(__file__).name}: give the section {section!r} a heading in TITLES"
            ) from None
        pattern = f"{PREFIX}{section.upper()}_*" if section else f"{PREFIX}*"
        summary = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "`")
        parts.append(f"## {title} (`{pattern}`)\n\n{summary}\n")
        table = ["| Key | Default | Danger |", "|---|---|---|"]
        parts.append("\n".join(table + [_summary_row(info) for info in infos]) + "\n")
        parts.extend(_setting(info) + "\n" for info in infos)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed file is stale"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(
                f"{OUTPUT} is stale; run: python scripts/gen_config_docs.py",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
