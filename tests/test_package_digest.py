"""The digest of lakejobs' files that tells builds apart (the dedupe job's skip fingerprint)."""

from __future__ import annotations

from pathlib import Path

from lakejobs import package_digest as digest_module
from lakejobs.package_digest import folder_digest, package_digest


def test_the_digest_follows_every_file_name_and_byte_and_skips_compiled_python(
        tmp_path: Path) -> None:
    (tmp_path / "identity").mkdir()
    (tmp_path / "identity" / "matching.py").write_text("THRESHOLD = 0.9\n")
    (tmp_path / "identity" / "nicknames.csv").write_text("bill,william\n")
    base = folder_digest(tmp_path)
    assert len(base) == 64 and base == folder_digest(tmp_path)

    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "matching.cpython-311.pyc").write_bytes(b"\x00compiled")
    (tmp_path / "identity" / "stale.pyc").write_bytes(b"\x00compiled")
    assert folder_digest(tmp_path) == base  # written by the interpreter, not part of the build

    (tmp_path / "identity" / "nicknames.csv").write_text("bill,william\nbob,robert\n")
    changed = folder_digest(tmp_path)
    assert changed != base
    (tmp_path / "identity" / "nicknames.csv").rename(tmp_path / "identity" / "names.csv")
    assert folder_digest(tmp_path) not in (base, changed)  # same bytes, another name
    # the boundary between a name and its bytes is part of the digest
    (tmp_path / "identity" / "names.csv").unlink()
    (tmp_path / "identity" / "matching.py").unlink()
    (tmp_path / "ab").write_text("c")
    one = folder_digest(tmp_path)
    (tmp_path / "ab").unlink()
    (tmp_path / "a").write_text("bc")
    assert folder_digest(tmp_path) != one


def test_the_package_digest_covers_the_installed_lakejobs_folder() -> None:
    import lakejobs

    assert digest_module.PACKAGE == Path(lakejobs.__file__).resolve().parent
    assert (digest_module.PACKAGE / "identity" / "nicknames.csv").is_file()
    assert len(package_digest()) == 64
