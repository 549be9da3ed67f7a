"""Reading the landing zone: complete partitions only, every record kept, unknown fields carried.

A landing partition (a folder of data files) is ready once it holds its completion marker
(``_SUCCESS`` by default, written by Spark's batch writers and by the landing job after each
committed micro-batch). Files of incomplete partitions are left for a later run.

:func:`read_landed` returns the *landed* frame :func:`lakejobs.batch.conform.conform` expects:
the contract's columns as landed, ``_extra_columns`` (map of fields the contract does not know,
as text), ``_raw_record`` (the record as it arrived, for quarantine: the text of a JSON line, or
a struct of the landed columns that :func:`~lakejobs.batch.validate.bad_rows` renders as JSON
for bad rows only), ``_malformed`` and
``_source_file``. Nothing is dropped: a line that is not JSON is kept, flagged malformed.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from functools import reduce

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.batch.contracts import Contract
from lakejobs.columns import JSON_NUMBER_TEXT, wide_decimal
from lakejobs.hadoop_files import file_system, read_lines

log = logging.getLogger(__name__)

DEFAULT_MARKER = "_SUCCESS"
# to_json writes timestamps to the millisecond by default: a quarantined record must keep the
# microseconds it landed with, or its replay stages another value than the one that arrived
RAW_JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
                    "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"}


def raw_record_json(raw: Column) -> Column:
    """The JSON text of a landed row kept as a struct (``_raw_record`` of Parquet files)."""
    return F.to_json(raw, RAW_JSON_OPTIONS)


def complete_files(
    spark: SparkSession, path: str, marker: str | None = DEFAULT_MARKER
) -> list[str]:
    """Data files below ``path`` whose folder holds ``marker`` (all data files if it is None).

    Hidden and metadata files (``_*``, ``.*``) are never returned. Uses Hadoop's file system API,
    so local folders and S3 prefixes list the same way.
    """
    fs, hadoop_path = file_system(spark, path)
    if not fs.exists(hadoop_path):
        return []
    by_folder: dict[str, list[str]] = defaultdict(list)
    marked: set[str] = set()
    # hidden folders are looked for below the table only: a lake under a folder named "_shared"
    # holds ordinary files
    root = fs.makeQualified(hadoop_path).toUri().getPath().rstrip("/")
    iterator = fs.listFiles(hadoop_path, True)
    while iterator.hasNext():
        file_path = iterator.next().getPath()
        folder, name = file_path.getParent().toString(), file_path.getName()
        below = file_path.toUri().getPath().removeprefix(root)
        if marker is not None and name == marker:
            marked.add(folder)
        elif not name.startswith(("_", ".")) and "/_" not in below:
            by_folder[folder].append(file_path.toString())
    ready = by_folder if marker is None else {f: v for f, v in by_folder.items() if f in marked}
    return sorted(file for files in ready.values() for file in files)


def read_landed(spark: SparkSession, files: list[str], contract: Contract) -> DataFrame:
    """The landed records of ``files`` in the shape :func:`conform` expects.

    Files are read in the contract's format, except ``.parquet`` files, which are always read as
    Parquet: the streaming job lands Parquet next to whatever batch drops arrive in (JSON lines,
    CSV), and one table can hold both.
    """
    parquet = [f for f in files if f.endswith(".parquet")]
    others = [f for f in files if not f.endswith(".parquet")]
    source_file = _source_file(spark, files)
    frames = []
    if parquet:
        frames.extend(_parquet_frames(spark, parquet, contract, source_file))
    if others and contract.format == "json":
        # blank lines (a trailing newline doubled, a separator) hold no record: Spark's JSON
        # reader skips them too
        lines = spark.read.text(others).where(F.trim(F.col("value")) != "")
        frames.append(landed_json(lines.withColumn("_source_file", source_file), contract))
    elif others and contract.format == "csv":
        frames.extend(_csv_frames(spark, others, contract, source_file))
    elif others:
        frames.extend(_parquet_frames(spark, others, contract, source_file))
    if len(frames) == 1:
        return frames[0]
    # mixed formats or CSV headers: one column type per column (text for the data, JSON for
    # the raw record)
    aligned = [f.select(*[F.col(f"`{n}`").cast("string").alias(n) for n in contract.names
                          if n in f.columns],
                        "_extra_columns",
                        F.col("_raw_record") if isinstance(f.schema["_raw_record"].dataType,
                                                           T.StringType)
                        else raw_record_json(F.col("_raw_record")).alias("_raw_record"),
                        "_malformed", "_source_file") for f in frames]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), aligned)


def _parquet_frames(spark: SparkSession, files: list[str], contract: Contract,
                    source_file: Column) -> list[DataFrame]:
    """Parquet files as landed columns: one frame, their schemas merged; one frame per schema
    where Spark cannot merge them (a column written as ``bigint`` in one file and ``double`` in
    another, as pandas writes an integer column once a batch holds a null), the frames then
    aligned as text like mixed formats, each value judged by the contract as its text.

    Files of one table may differ in columns (the landing job adds a field when its route's
    contract gains one): without merging, Spark would take one file's schema for all and read
    the others' extra columns as missing.
    """
    reader = spark.read.option("mergeSchema", "true")
    try:
        groups = [reader.parquet(*files)]
    except (Py4JJavaError, PySparkException) as e:
        if "CANNOT_MERGE_SCHEMAS" not in str(e):
            raise
        by_schema: dict[str, list[str]] = defaultdict(list)
        for file in files:  # a footer read per file, on this path only
            by_schema[spark.read.parquet(file).schema.json()].append(file)
        log.info("Parquet files of %d schemas that Spark cannot merge: read one schema at a time",
                 len(by_schema))
        groups = [reader.parquet(*group) for group in by_schema.values()]
    return [landed_columns(g.withColumn("_source_file", source_file), contract) for g in groups]


# The column holding a CSV line whose fields do not match its file's header, as Spark read it.
CSV_CORRUPT = "_corrupt_record"


def _csv_frames(spark: SparkSession, files: list[str], contract: Contract,
                source_file: Column) -> list[DataFrame]:
    """CSV files as landed columns, one frame per header: Spark takes one file's header for all
    the files it reads at once and matches the others' fields by position, so a file listing
    the same columns in another order would land each value under another column. Every field
    is read as text (the contract decides the types); a line with more or fewer fields than its
    header is malformed (an unquoted comma), not read by position either."""
    by_header: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for file in files:
        by_header[_csv_header(spark, file)].append(file)
    frames = []
    for header, group in by_header.items():
        names = header or tuple(contract.names)  # an empty file: no rows, any columns
        reader = spark.read.option("header", "true").option("mode", "PERMISSIVE")
        if len(set(names)) == len(names) and CSV_CORRUPT not in names:
            schema = T.StructType([T.StructField(n, T.StringType()) for n in names]
                                  + [T.StructField(CSV_CORRUPT, T.StringType())])
            reader = reader.schema(schema).option("columnNameOfCorruptRecord", CSV_CORRUPT)
        else:  # a header naming a column twice: Spark's own names for them
            reader = reader.option("inferSchema", "false")
        raw = reader.csv(group).withColumn("_source_file", source_file)
        malformed = (F.col(CSV_CORRUPT).isNotNull() if CSV_CORRUPT in raw.columns
                     and CSV_CORRUPT not in names else F.lit(False))
        frames.append(landed_columns(raw, contract, malformed=malformed))
    return frames


def _csv_header(spark: SparkSession, file: str) -> tuple[str, ...]:
    """The column names of a CSV file's first line (empty for an empty file)."""
    lines = read_lines(spark, file, 1)
    if not lines:
        return ()
    return tuple(next(csv.reader([lines[0].removeprefix("\ufeff")]), []))


def landed_json(lines: DataFrame, contract: Contract) -> DataFrame:
    """JSON lines (column ``value``) as landed columns: every top-level field parsed as text.

    A line from a ``.parquet`` file is a quarantined Parquet row being replayed (its raw record
    is the JSON of all its columns): as in :func:`landed_columns`, its ``_``-prefixed fields are
    the landing job's metadata, not drift.
    """
    fields = F.from_json(F.col("value"), T.MapType(T.StringType(), T.StringType()))
    known = F.array(*[F.lit(name) for name in contract.names])
    landing_metadata = F.col("_source_file").endswith(".parquet")
    # a JSON number's text is Spark's rewrite of it through a double (17 significant digits):
    # decimal columns read as decimals keep every digit a JSON number was sent with, also those
    # past the column's scale (read as its own type, Spark would round them away unseen)
    decimals = T.StructType([T.StructField(c.name, wide_decimal(c.data_type))
                             for c in contract.columns if isinstance(c.data_type, T.DecimalType)])
    exact = F.from_json(F.col("value"), decimals) if decimals.fields else None

    def value(name: str) -> Column:
        text = fields.getItem(name)
        if exact is None or name not in decimals.names:
            return text
        return F.when(text.rlike(JSON_NUMBER_TEXT),
                      F.coalesce(exact[name].cast("string"), text)).otherwise(text)

    return lines.select(
        *[value(name).alias(name) for name in contract.names],
        F.map_filter(fields, lambda k, _v: ~F.array_contains(known, k)
                     & ~(landing_metadata & k.startswith("_"))).alias("_extra_columns"),
        F.col("value").alias("_raw_record"),
        # a key named twice: the parsed map holds both values and the first would be read
        (fields.isNull() | (F.size(F.array_distinct(F.map_keys(fields))) != F.size(fields)))
        .alias("_malformed"),
        F.col("_source_file"),
    )


def landed_columns(raw: DataFrame, contract: Contract, *,
                   malformed: Column | None = None) -> DataFrame:
    """Typed landed data (Parquet, CSV) as landed columns; columns the contract does not know go
    to ``_extra_columns`` as text, except, in Parquet files, the landing job's own metadata
    (names starting with ``_``: Kafka topic, partition, offset, ingestion time …), which is not
    drift; every column is kept in ``_raw_record``; ``malformed`` (CSV): which rows did not
    parse, their line in :data:`CSV_CORRUPT` (none by default)."""
    data_columns = [c for c in raw.columns if c != "_source_file"]
    # a CSV column named "_note" is the source's own: drift like any other (as a replay, which
    # reads the raw record as JSON, finds it)
    metadata = (lambda c: c == CSV_CORRUPT) if malformed is not None else (
        lambda c: c.startswith("_"))
    extra = [c for c in data_columns if c not in contract.names and not metadata(c)]
    extra_map = (
        F.map_filter(
            F.create_map(*[x for c in extra for x in (F.lit(c), F.col(f"`{c}`").cast("string"))]),
            lambda _k, v: v.isNotNull(),
        )
        if extra
        else F.create_map().cast(T.MapType(T.StringType(), T.StringType()))
    )
    return raw.select(
        *[F.col(f"`{name}`") for name in contract.names if name in raw.columns],
        extra_map.alias("_extra_columns"),
        # kept as a struct and turned into JSON only for the rows that go to quarantine
        F.struct(*[F.col(f"`{c}`") for c in data_columns]).alias("_raw_record"),
        (F.lit(False) if malformed is None else malformed).alias("_malformed"),
        F.col("_source_file"),
    )


def _source_file(spark: SparkSession, files: list[str]) -> Column:
    """Each row's file, named as ``files`` name it (as :func:`complete_files` lists them).
    Spark's ``_metadata.file_path`` is the file's URI, whose name is percent-encoded
    (``export%202.jsonl``): the run's bookmark, its ``replaceWhere`` and its quarantine cleanup
    name files as listed, and would never match such a file's rows."""
    path = F.col("_metadata.file_path")
    uri = spark.sparkContext._jvm.org.apache.hadoop.fs.Path  # type: ignore[union-attr]
    renamed = {encoded: f for f in files if (encoded := uri(f).toUri().toString()) != f}
    if not renamed:
        return path
    listed = F.create_map(*[F.lit(x) for pair in renamed.items() for x in pair])
    return F.coalesce(F.element_at(listed, path), path)
