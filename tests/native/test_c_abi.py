"""Builds the C test program against the shipped header and shared library, and runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import vaf

ROOT = Path(__file__).resolve().parents[2]
NATIVE = Path(vaf.__file__).resolve().parent


def _installed_native_dir() -> Path:
    # Editable installs keep .py files in the source tree and the built files in site-packages.
    import vaf._native as module

    return Path(module.__file__).resolve().parent / "native"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")
def test_c_program_links_through_header_alone(tmp_path):
    native = _installed_native_dir()
    lib_dir = native / "lib"
    assert (native / "include" / "vaf" / "vaf.h").is_file()
    assert any(lib_dir.glob("libvaf.so*"))
    exe = tmp_path / "c_abi_test"
    subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", str(ROOT / "bindings" / "tests" / "c_abi_test.c"),
         "-I", str(native / "include"), "-L", str(lib_dir), f"-Wl,-rpath,{lib_dir}", "-lvaf", "-lm", "-o", str(exe)],
        check=True,
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("0 failed")
