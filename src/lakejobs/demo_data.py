"""The demo's retail data set: generated with a fixed seed, landed as JSON lines in two rounds.

Round 1 is the initial load. Round 2 brings what makes a lakehouse hard: customer moves (SCD2)
with phone changes (SCD1), a change that arrives after orders it predates, a customer and a
product that facts referenced before their records arrived (inferred members), order lines whose
header arrives later, duplicated analytics events, events without identifiers, and deliberately
bad records of every kind the contracts and rules catch. People records (sign-ups, CRM, support;
``lakejobs.people_data``) bring duplicates for the master-data dedupe.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lakejobs.paths import LakePaths
from lakejobs.people_data import generate_people

TABLES = ("customers", "products", "orders", "order_items", "events", "people")
COUNTRIES = ("GB", "IE", "FR", "DE", "NL", "US")
CATEGORIES = ("toys", "garden", "kitchen", "books", "sport")
DAY = {1: datetime(2026, 11, 1), 2: datetime(2026, 11, 2)}


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # how the demo's records write a UTC time


def _ts(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


def _customer(i: int, at: datetime, rng: random.Random, country: str | None = None) -> dict:
    return {"customer_id": i, "email": f"Customer{i}@Example.com", "phone": f"07700 9{i:05d}",
            "full_name": f"Customer {i}", "country": country or rng.choice(COUNTRIES),
            "birth_date": f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "updated_at": _ts(at)}


def _order(i: int, customer: int | None, at: datetime, status: str = "placed",
           currency: str = "EUR") -> dict:
    return {"order_id": i, "customer_id": customer, "order_status": status,
            "order_total": f"{10 + i % 90}.50", "currency": currency, "ordered_at": _ts(at),
            "updated_at": _ts(at)}


def rounds(customers: int, seed: int = 7) -> dict[int, dict[str, list[Any]]]:
    """Records per round and table (dicts, or raw strings for unparseable lines)."""
    rng = random.Random(seed)
    n, products = customers, 20
    day1, day2 = DAY[1], DAY[2]
    first: dict[str, list[Any]] = {t: [] for t in TABLES}
    second: dict[str, list[Any]] = {t: [] for t in TABLES}
    first["customers"] = [_customer(i, day1 + timedelta(minutes=i), rng) for i in range(1, n + 1)]
    first["products"] = [
        {"product_id": p, "product_name": f"Product {p}", "description": f"the {p}th product",
         "category": rng.choice(CATEGORIES), "list_price": f"{p * 3}.99",
         "updated_at": _ts(day1)} for p in range(1, products + 1)]
    orders, items, order_id, item_id = [], [], 0, 0
    for _ in range(3 * n):
        order_id += 1
        customer = rng.randint(1, n + 1)  # customer n + 1 arrives in round 2: inferred member
        at = day1 + timedelta(hours=12, minutes=order_id)
        orders.append(_order(order_id, customer, at))
        for _ in range(rng.randint(1, 2)):
            item_id += 1
            product = rng.randint(1, products + 1)  # product 21 arrives in round 2
            items.append({"order_item_id": item_id, "order_id": order_id, "product_id": product,
                          "quantity": rng.randint(1, 4), "unit_price": f"{product * 3}.99",
                          "updated_at": _ts(at)})
    first["orders"], first["order_items"] = orders, items
    first["events"] = _events(rng, n, day1, 5 * n)
    # master data: people records from sign-ups, CRM and support, with duplicates
    first["people"] = generate_people(max(8, n // 2), seed=seed, start=day1 - timedelta(days=365)
                                      ).records

    moved = rng.sample(range(1, n + 1), max(1, n // 10))
    second["customers"] = [  # moved (a new SCD2 version) with a new phone (SCD1, every version)
        {**_customer(i, day2 + timedelta(minutes=i), random.Random(i), country="NL"),
         "phone": f"07700 8{i:05d}"} for i in moved]
    late = next(i for i in range(1, n + 1) if i not in moved)
    second["customers"].append(  # a move dated before the customer's round-1 orders: late
        _customer(late, day1 + timedelta(hours=6), random.Random(late), country="IE"))
    second["customers"].append(_customer(n + 1, day1, rng))  # the inferred customer arrives
    second["customers"] += [
        {"customer_id": "x12", "full_name": "Not A Key", "updated_at": _ts(day2)},  # bad key
        {"customer_id": n + 50, "email": "no-at-sign", "full_name": "Bad Mail",
         "updated_at": _ts(day2)},                                           # fails email rule
        "{not json",                                                          # malformed
    ]
    second["products"] = [
        {"product_id": products + 1, "product_name": "Late product", "description": "arrived late",
         "category": "books", "list_price": "9.99", "updated_at": _ts(day1)},
        {"product_id": 3, "product_name": "Product 3", "description": "recategorised",
         "category": "garden", "list_price": "9.99", "updated_at": _ts(day2)},
    ]
    header_late = order_id + 1  # its line lands in round 1, its header in round 2
    items.append({"order_item_id": item_id + 1, "order_id": header_late, "product_id": 1,
                  "quantity": 1, "unit_price": "3.99", "updated_at": _ts(day1)})
    second["orders"] = [
        _order(header_late, 1, day1 + timedelta(hours=20)),
        _order(order_id + 2, 2, day2 + timedelta(hours=9), status="paid"),
        _order(order_id + 3, 3, day2, currency="EURO"),                 # fails currency rule
        _order(order_id + 4, 4, day2, status="lost"),                   # fails status rule
        _order(order_id + 5, None, day2),                               # no customer: rejected
    ]
    second["events"] = _events(rng, n, day2, 2 * n)
    second["people"] = [
        {**first["people"][0], "record_id": None},                        # no record id
        {**first["people"][1], "record_id": "crm-late", "birth_date": "31/02/1990"},  # bad date
    ]
    return {1: first, 2: second}


def _events(rng: random.Random, n: int, day: datetime, count: int) -> list[Any]:
    events = []
    for e in range(count):
        customer = rng.randint(1, n)
        identified = rng.random()
        events.append({
            "event_id": f"{day:%m%d}-{e}", "event_name": rng.choice(("page_view", "click")),
            "occurred_at": _ts(day + timedelta(seconds=rng.randint(0, 86_000))),
            "user_id": f"u{customer}" if identified < 0.6 else None,
            "anon_id": f"a{customer}" if identified < 0.95 else None,
            "session_id": f"s{customer}-{day:%d}"})
    events += events[:3]  # delivered twice: counted once
    return events


def land_round(paths: LakePaths, round_no: int, records: dict[str, list[Any]]) -> dict[str, int]:
    """Write one round's files (JSON lines + ``_SUCCESS``); files that exist are left alone, so
    landing the same round again changes nothing. Returns records written per table."""
    written = {}
    for table, rows in records.items():
        folder = Path(paths.table("landing", table)) / f"dt={DAY[round_no]:%Y-%m-%d}"
        data = folder / "part-0000.jsonl"
        if data.exists() or not rows:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / "_SUCCESS").write_text("", encoding="utf-8")
        written[table] = len(rows)
    return written
