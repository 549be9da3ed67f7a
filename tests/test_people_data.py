"""The synthetic people data set: deterministic, well-formed, with households (no Spark)."""

from __future__ import annotations

import re

from lakejobs.people_data import RECORD_KEYS, generate_people

PERSONS = 400


def test_same_seed_gives_the_same_data() -> None:
    assert generate_people(PERSONS, seed=3) == generate_people(PERSONS, seed=3)


def test_different_seeds_give_different_data() -> None:
    assert generate_people(PERSONS, seed=3).records != generate_people(PERSONS, seed=4).records


def test_records_have_exactly_the_staging_keys() -> None:
    data = generate_people(PERSONS)
    for record in data.records:
        assert tuple(record) == RECORD_KEYS
        assert all(value is None or isinstance(value, str) for value in record.values())
        assert record["source_system"] in ("signup", "crm", "support")
        assert record["record_id"].startswith(record["source_system"] + "-")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["updated_at"])


def test_ids_are_unique_and_truth_covers_every_record_and_person() -> None:
    data = generate_people(PERSONS)
    ids = [record["record_id"] for record in data.records]
    assert len(set(ids)) == len(ids)
    assert set(data.truth) == set(ids)
    assert len(set(data.truth.values())) == PERSONS
    assert PERSONS <= len(ids) <= 4 * PERSONS


def test_a_persons_phones_and_government_ids_normalise_to_one_value() -> None:
    data = generate_people(PERSONS)
    phones: dict[str, set[str]] = {}
    gov_ids: dict[str, set[str]] = {}
    for record in data.records:
        person = data.truth[record["record_id"]]
        if record["phone"]:
            digits = re.sub(r"\D", "", record["phone"])
            digits = digits[2:] if digits.startswith("44") else digits.removeprefix("0")
            phones.setdefault(person, set()).add(digits)
        if record["government_id"]:
            nino = record["government_id"].replace(" ", "").upper()
            gov_ids.setdefault(person, set()).add(nino)
    assert all(len(numbers) == 1 for numbers in phones.values())
    assert all(len(ids) == 1 for ids in gov_ids.values())


def test_households_put_distinct_people_at_one_address() -> None:
    data = generate_people(PERSONS)
    residents: dict[tuple[str, str], set[str]] = {}
    for record in data.records:
        if record["address_line"] and record["last_name"]:
            key = (record["address_line"], record["last_name"])
            residents.setdefault(key, set()).add(data.truth[record["record_id"]])
    assert any(len(people) > 1 for people in residents.values())


def test_no_people_gives_an_empty_data_set() -> None:
    data = generate_people(0)
    assert data.records == [] and data.truth == {}
