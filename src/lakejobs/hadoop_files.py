"""Small files through Hadoop's file system API, so that the same code reaches local folders and
S3 prefixes: what a job reads of a streaming checkpoint, the markers it writes beside its data."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def file_system(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Hadoop's ``FileSystem`` for ``path`` and the ``Path`` itself (JVM objects)."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def exists(spark: SparkSession, path: str) -> bool:
    fs, hadoop_path = file_system(spark, path)
    return bool(fs.exists(hadoop_path))


def read_lines(spark: SparkSession, path: str, count: int) -> list[str] | None:
    """The first ``count`` lines of a text file (fewer when it is shorter); None when it does
    not exist."""
    fs, hadoop_path = file_system(spark, path)
    if not fs.exists(hadoop_path):
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(hadoop_path)
    try:
        # a compressed file (.gz, .bz2, … by its name) read as Spark reads it: decompressed
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
            spark.sparkContext._jsc.hadoopConfiguration()).getCodec(hadoop_path)
        text = stream if codec is None else codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(text, "UTF-8"))
        lines = []
        for _ in range(count):
            line = reader.readLine()
            if line is None:
                break
            lines.append(str(line))
        return lines
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, replacing the file if it exists."""
    fs, hadoop_path = file_system(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def delete_tree(spark: SparkSession, path: str) -> None:
    """Remove ``path`` and everything below it (nothing when it does not exist)."""
    fs, hadoop_path = file_system(spark, path)
    fs.delete(hadoop_path, True)


def glob(spark: SparkSession, pattern: str) -> list[str]:
    """The paths matching a Hadoop glob pattern (``*`` within one path segment)."""
    fs, hadoop_path = file_system(spark, pattern)
    return [s.getPath().toString() for s in fs.globStatus(hadoop_path) or []]
