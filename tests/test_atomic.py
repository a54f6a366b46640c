"""Atomic writes: whole files only, and the permissions of a plainly created file."""
import os

import pytest

from vqnat.atomic import atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_written_files_are_readable_like_plainly_created_ones(tmp_path, umask_022):
    atomic_write_text(tmp_path / "out" / "table.md", "| a |\n")
    atomic_write_bytes(tmp_path / "plot.png", b"\x89PNG")
    (tmp_path / "plain.txt").write_text("x")
    for path in (tmp_path / "out" / "table.md", tmp_path / "plot.png"):
        assert oct(path.stat().st_mode & 0o777) == oct((tmp_path / "plain.txt").stat().st_mode & 0o777) == "0o644"
    assert (tmp_path / "out" / "table.md").read_text(encoding="utf-8") == "| a |\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "hyp.txt"
    target.write_text("old\n")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails inside the write, after the temporary exists
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hyp.txt"]
