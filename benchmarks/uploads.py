"""What one upload costs, by stage: a text file and a photo-sized image through
``save_uploads``, without a scanner and with a private clamd (tests/clamav.py).

    .venv/bin/python benchmarks/uploads.py [--rounds N]

Prints one line per case: ``<case>  <ms> ms per upload (<MB/s>)``. The clamd cases need
Debian's clamav-daemon and scan against the tests' two-signature database, so they
measure the protocol and clamd's file handling, not a full signature set.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from flask import Flask, jsonify
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_bastion import Bastion
from flask_bastion.uploads import accepts_uploads, save_uploads
from tests.clamav import clamd_available, start_private_clamd


def make_app(folder: str, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="benchmark-" + "k" * 40,
        TRUSTED_HOSTS=["localhost"],
        BASTION_SESSIONS_STORE="memory",
        BASTION_UPLOADS_FOLDER=folder,
        BASTION_UPLOADS_QUOTA=0,
        DATABASE_URL="sqlite://",
        **config,
    )

    @app.post("/up")
    @accepts_uploads
    def up() -> t.Any:
        return jsonify([s.size for s in save_uploads("file", user_id="1")])

    Bastion(app)
    return app


def photo() -> bytes:
    """A 2000 x 1500 JPEG of noise (3 megapixels, about 1.5 MB)."""
    out = io.BytesIO()
    Image.effect_noise((2000, 1500), 64).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def measure(app: Flask, data: bytes, name: str, rounds: int) -> float:
    client = app.test_client()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.post(
            "/up",
            data={"file": (io.BytesIO(data), name)},
            base_url="https://localhost",
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    text = b"quarterly figures, all fine\n" * 37_450  # about 1 MiB
    cases = [("text 1 MiB", text, "a.txt"), ("jpeg 3 MP", photo(), "a.jpg")]
    with tempfile.TemporaryDirectory() as folder:
        apps = [("no scanner", make_app(folder))]
        daemon = start_private_clamd() if clamd_available() else None
        if daemon is not None:
            clamd = next(daemon)
            apps.append(("clamd", make_app(folder, BASTION_UPLOADS_CLAMD_URL=clamd.unix_url)))
        try:
            for label, app in apps:
                for case, data, name in cases:
                    seconds = measure(app, data, name, rounds)
                    rate = len(data) / seconds / 1e6
                    print(
                        f"{case:<11} {label:<10} {seconds * 1000:8.2f} ms per upload "
                        f"({rate:.1f} MB/s)"
                    )
        finally:
            if daemon is not None:
                daemon.close()


if __name__ == "__main__":
    main()
