from flask import render_template_string, request


def preview() -> str:
    return render_template_string(request.form["template"])
