from flask import render_template_string, request

PAGE = "<p>{{ name|safe }}</p>"


def page() -> str:
    return render_template_string(PAGE, name=request.args["name"])
