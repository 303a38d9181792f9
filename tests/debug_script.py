"""An application script that starts the debugger when run directly (read by the W009
check, never run by the tests)."""

from flask import Flask

app = Flask(__name__)

if __name__ == "__main__":
    app.run(debug=True)  # noqa: S201  (what the check must find)
