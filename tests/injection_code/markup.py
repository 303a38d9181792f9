from flask import request
from markupsafe import Markup


def greeting() -> Markup:
    return Markup(f"<p>Hello {request.args['name']}</p>")
