"""``source_identities``: people records from every configured source, in one normalised shape.

One row per source record (``identity_key`` = ``<source_system>:<record_id>``) with the values
as the source holds them (``raw``, JSON) and normalised for matching:

* names: lower case, accents folded, only letters kept (``O'Brien`` → ``obrien``,
  ``Smith-Jones`` → ``smithjones``); a source with only a full name is split into first and
  last token; ``first_name_canonical`` maps a nickname to its name (``bob`` → ``robert``) from
  the packaged ``nicknames.csv``; Soundex codes and the first initial for blocking;
* email: trimmed, lower case, null without an ``@``;
* phone: digits only, the configured country code or a trunk ``0`` stripped (``+44 7700
  900123``, ``07700 900123`` → ``7700900123``), null below 7 digits;
* address: lower case, punctuation dropped, street types abbreviated (``road`` → ``rd``);
  postcode upper case without spaces and its district (the part before the last three
  characters); government id upper case, letters and digits only;
* ``*_display``: names and address as shown in canonical profiles (trimmed, capitalised);
* ``record_hash``: sha256 of the normalised values, so a formatting-only change is no change.

Rows without a record id cannot be matched or traced: they are returned separately with the
reason ``missing_record_id`` (the job quarantines them).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from functools import cache
from importlib import resources

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import DedupeSource
from lakejobs.local_rows import rows_frame

ACCENTED = "áàâäãåāçćčďéèêëēęěíìîïīłñńňóòôöõøōŕřśšťúùûüūůýÿžźż"
PLAIN = "aaaaaaacccdeeeeeeeiiiiilnnnooooooorrsstuuuuuuyyzzz"
STREET_TYPES = {"street": "st", "road": "rd", "avenue": "ave", "lane": "ln", "drive": "dr",
                "court": "ct", "place": "pl", "crescent": "cres", "close": "cl",
                "gardens": "gdns", "terrace": "ter", "square": "sq", "apartment": "flat",
                "apt": "flat"}
COMPARED = ("first_name", "last_name", "birth_date", "email", "phone", "address", "postcode",
            "city", "government_id")
COLUMNS = ("identity_key", "source_system", "source_record_id", "updated_at", *COMPARED,
           "first_name_canonical", "first_name_soundex", "last_name_soundex", "first_initial",
           "birth_year", "postcode_district", "first_name_display", "last_name_display",
           "address_display", "record_hash", "raw")


@cache
def nicknames() -> tuple[tuple[str, str], ...]:
    """(nickname, name) pairs from the packaged ``nicknames.csv``."""
    text = resources.files("lakejobs.identity").joinpath("nicknames.csv").read_text("utf-8")
    return tuple((r["nickname"], r["name"]) for r in csv.DictReader(text.splitlines()))


def nickname_frame(spark: SparkSession) -> DataFrame:
    return rows_frame(spark, list(nicknames()), "nickname string, name string")


def name_text(value: Column) -> Column:
    """Lower case, accents folded, letters and single spaces only (for splitting full names)."""
    text = F.translate(F.lower(F.trim(value.cast("string"))), ACCENTED, PLAIN)
    text = F.regexp_replace(text, "ß", "ss")
    text = F.regexp_replace(text, "['’`.]", "")
    return F.trim(F.regexp_replace(F.regexp_replace(text, "[^a-z]+", " "), " +", " "))


def name_key(value: Column) -> Column:
    """A name as compared: letters only; null when nothing is left."""
    text = F.regexp_replace(name_text(value), " ", "")
    return F.when(text != "", text)


def email_key(value: Column) -> Column:
    text = F.lower(F.trim(value.cast("string")))
    return F.when(text.rlike("^[^@\\s]+@[^@\\s]+$"), text)


def phone_key(value: Column, country_code: str) -> Column:
    digits = F.regexp_replace(value.cast("string"), "[^0-9]", "")
    national = F.regexp_replace(digits, f"^(00)?{country_code}0?|^0", "")
    return F.when(F.length(national) >= 7, national)


def address_key(value: Column) -> Column:
    text = F.translate(F.lower(value.cast("string")), ACCENTED, PLAIN)
    text = F.regexp_replace(text, "[^a-z0-9]+", " ")
    for word, short in STREET_TYPES.items():
        text = F.regexp_replace(text, f"\\b{word}\\b", short)
    text = F.trim(F.regexp_replace(text, " +", " "))
    return F.when(text != "", text)


def code_key(value: Column) -> Column:
    """Postcodes and government ids: upper case, letters and digits only."""
    text = F.upper(F.regexp_replace(value.cast("string"), "[^A-Za-z0-9]", ""))
    return F.when(text != "", text)


def display(value: Column) -> Column:
    """A value as shown in canonical profiles: trimmed, single-spaced, names capitalised."""
    text = F.trim(F.regexp_replace(value.cast("string"), "\\s+", " "))
    return F.when(text != "", F.initcap(F.lower(text)))


def read_source(rows: DataFrame, source: DedupeSource, phone_country_code: str) -> DataFrame:
    """One source's rows as source identities (before nickname mapping and hashing): the
    standard attributes it maps, null for the others, plus ``raw`` (every source column)."""
    cols: Mapping[str, str] = source.columns

    def attr(name: str) -> Column:
        return F.col(cols[name]) if name in cols else F.lit(None).cast("string")

    system = (F.lit(source.source_system) if source.source_system is not None
              else F.lower(F.trim(F.col(source.system_column))))
    full = F.split(name_text(attr("full_name")), " ")
    first = attr("first_name") if "first_name" in cols else F.element_at(full, 1)
    last = attr("last_name") if "last_name" in cols else F.when(
        F.size(full) > 1, F.element_at(full, -1))
    record_id = F.trim(F.col(source.record_id).cast("string"))
    return rows.select(
        system.alias("source_system"),
        F.when(record_id != "", record_id).alias("source_record_id"),
        F.col(source.updated_column).cast("timestamp").alias("updated_at"),
        name_key(first).alias("first_name"),
        display(first).alias("first_name_display"),
        display(last).alias("last_name_display"),
        display(attr("address")).alias("address_display"),
        name_key(last).alias("last_name"),
        attr("birth_date").cast("date").alias("birth_date"),
        email_key(attr("email")).alias("email"),
        phone_key(attr("phone"), phone_country_code).alias("phone"),
        address_key(attr("address")).alias("address"),
        code_key(attr("postcode")).alias("postcode"),
        name_text(attr("city")).alias("city"),
        code_key(attr("government_id")).alias("government_id"),
        F.to_json(F.struct(*[F.col(c) for c in rows.columns])).alias("raw"),
    )


def with_match_keys(nicknames_df: DataFrame):
    """Add the blocking and comparison helpers and ``record_hash`` (see the module docstring)."""

    def transform(df: DataFrame) -> DataFrame:
        names = F.broadcast(nicknames_df.select(F.col("nickname").alias("first_name"),
                                                F.col("name").alias("_canonical")))
        return (
            df.join(names, on="first_name", how="left")
            .withColumn("first_name_canonical", F.coalesce("_canonical", "first_name"))
            .withColumn("first_name_soundex", F.soundex("first_name_canonical"))
            .withColumn("last_name_soundex", F.soundex("last_name"))
            .withColumn("first_initial", F.substring("first_name", 1, 1))
            .withColumn("birth_year", F.year("birth_date"))
            .withColumn("city", F.when(F.col("city") != "", F.col("city")))
            .withColumn("postcode_district", F.when(
                F.length("postcode") >= 5, F.expr("substring(postcode, 1, length(postcode) - 3)")))
            .withColumn("identity_key", F.concat_ws(":", "source_system", "source_record_id"))
            .withColumn("record_hash", F.sha2(F.to_json(F.struct(*COMPARED)), 256))
            .select(*COLUMNS)
        )

    return transform


def split_unusable(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows with a record id and source system; the others with a ``reason``)."""
    usable = F.col("source_record_id").isNotNull() & F.col("source_system").isNotNull()
    bad = df.where(~usable).withColumn(
        "reason", F.when(F.col("source_system").isNull(), F.lit("missing_source_system"))
        .otherwise(F.lit("missing_record_id")))
    return df.where(usable), bad
