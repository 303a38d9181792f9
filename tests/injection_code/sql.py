import sqlalchemy as sa
from flask import request


def find(connection: sa.Connection) -> object:
    name = request.args["name"]
    first = connection.execute(sa.text(f"SELECT * FROM users WHERE name = '{name}'"))
    second = connection.exec_driver_sql("SELECT * FROM users WHERE name = '%s'" % name)
    return first, second
