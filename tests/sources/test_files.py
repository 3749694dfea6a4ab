"""Resolving user paths into sources and opening them."""

from __future__ import annotations

import gzip
import io
import os

import pytest
import zstandard

from monitor.sources import files
from monitor.sources.files import Source, SourceError, expand_paths, is_plain_file, open_source


def names(sources: list[Source], root: object) -> list[str]:
    return [os.path.relpath(s.name, str(root)) for s in sources]


def test_directory_is_walked_recursively_in_natural_order(tmp_path) -> None:
    for name in ("rank_10.log", "rank_2.log", "sub/rank_1.log", ".hidden.log", "model.safetensors"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    sources, errors = expand_paths([str(tmp_path)])
    assert errors == []
    assert names(sources, tmp_path) == ["rank_2.log", "rank_10.log", "sub/rank_1.log"]


def test_directory_walk_skips_binary_files_but_not_compressed_ones(tmp_path) -> None:
    (tmp_path / "core.dump").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "old.log.gz").write_bytes(gzip.compress(b"iteration 1\n"))
    sources, _ = expand_paths([str(tmp_path)])
    assert names(sources, tmp_path) == ["old.log.gz"]


def test_missing_path_and_empty_glob_and_empty_directory_are_errors(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    sources, errors = expand_paths(
        [str(tmp_path / "nope.log"), str(tmp_path / "*.out"), str(tmp_path / "empty")]
    )
    assert sources == []
    assert [e.reason for e in errors] == [
        "no such file or directory",
        "no files match this pattern",
        "directory holds no log files",
    ]


def test_glob_matches_files_and_the_same_file_is_read_once(tmp_path) -> None:
    (tmp_path / "a-rank0.log").write_text("x\n")
    (tmp_path / "a-rank1.log").write_text("x\n")
    sources, errors = expand_paths([str(tmp_path / "a-*.log"), str(tmp_path / "a-rank0.log")])
    assert names(sources, tmp_path) == ["a-rank0.log", "a-rank1.log"] and errors == []


def test_dash_is_standard_input() -> None:
    sources, _ = expand_paths(["-"])
    assert sources == [Source("<stdin>", None)] and sources[0].is_stdin


def test_gzip_and_zstd_are_decompressed_by_magic_not_suffix(tmp_path) -> None:
    (tmp_path / "a.log").write_bytes(gzip.compress(b"hello gz\n"))
    (tmp_path / "b.zst").write_bytes(zstandard.ZstdCompressor().compress(b"hello zst\n"))
    for name, text in (("a.log", b"hello gz\n"), ("b.zst", b"hello zst\n")):
        path = str(tmp_path / name)
        with open_source(Source(path, path)) as stream:
            assert stream.read() == text
        assert not is_plain_file(Source(path, path))


def test_permission_denied_is_a_source_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "locked.log"
    path.write_text("x\n")

    def refuse(*args: object, **kwargs: object) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "open", refuse, raising=False)
    with pytest.raises(SourceError) as caught:
        open_source(Source(str(path), str(path)))
    assert caught.value.reason == "Permission denied" and caught.value.name == str(path)


def test_a_directory_named_as_a_file_is_a_source_error(tmp_path) -> None:
    with pytest.raises(SourceError, match="is a directory"):
        open_source(Source(str(tmp_path), str(tmp_path)))
