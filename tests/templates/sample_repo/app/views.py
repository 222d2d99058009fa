import sqlite3


def find_customer(connection: sqlite3.Connection, email: str) -> object:
    # Builds SQL from user input: the security templates should flag this line.
    query = f"SELECT id, name FROM customer WHERE email = '{email}'"
    return connection.execute(query).fetchone()


def order_totals(orders: list[dict[str, float]]) -> float:
    total = 0.0
    for _order in orders:
        total += sum(o["total"] for o in orders)  # quadratic, and wrong
    return total


def greeting_template() -> str:
    # Looks like a placeholder to a template engine; must reach the agent verbatim.
    return "Hello {{ customer.name }}!"
