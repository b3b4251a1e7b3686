"""The package layering of pyproject.toml's `[tool.importlinter]`, checked by pytest too.

`make test` runs `lint-imports` as a step of its own; these tests run the same
contracts so that `pytest` alone catches a broken layer, and show that a contract
does fail when the code breaks it (a check that cannot fail proves nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    """The `lint-imports` of this interpreter's environment (the venv's, under make test)."""
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if not found:
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    return found


def run_lint_imports(*args: str, cwd: Path = ROOT, pythonpath: Path | None = None):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    # --no-cache: no .import_linter_cache left in the tree.
    return subprocess.run(
        [_lint_imports(), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_keeps_its_import_contracts() -> None:
    result = run_lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout, result.stdout


def test_a_contract_the_code_breaks_fails(tmp_path: Path) -> None:
    # extract/pipelines.py imports common.settings, so forbidding it must fail.
    config = tmp_path / "broken.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["common", "extract"]

            [[tool.importlinter.contracts]]
            name = "extract may not import common"
            type = "forbidden"
            source_modules = ["extract"]
            forbidden_modules = ["common"]
            """
        )
    )
    result = run_lint_imports(str(config))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "BROKEN" in result.stdout, result.stdout
    assert "extract.pipelines -> common.settings" in result.stdout, result.stdout


def test_imports_inside_functions_and_type_checking_blocks_count(tmp_path: Path) -> None:
    """A simulator that imported its client lazily would still break the contract."""
    for package in ("toy_client", "toy_simulator"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "toy_client" / "checksum.py").write_text("def checksum(value):\n    return 0\n")
    lazy = """
        def check(value):
            from toy_client.checksum import checksum
            return checksum(value)
        """
    typed = """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import toy_client
        """
    (tmp_path / "toy_simulator" / "lazy.py").write_text(textwrap.dedent(lazy))
    (tmp_path / "toy_simulator" / "typed.py").write_text(textwrap.dedent(typed))
    config = tmp_path / "toy.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["toy_client", "toy_simulator"]

            [[tool.importlinter.contracts]]
            name = "the simulator shares no code with its client"
            type = "forbidden"
            source_modules = ["toy_simulator"]
            forbidden_modules = ["toy_client"]
            """
        )
    )
    result = run_lint_imports(str(config), cwd=tmp_path, pythonpath=tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "toy_simulator.lazy -> toy_client.checksum" in result.stdout, result.stdout
    assert "toy_simulator.typed -> toy_client" in result.stdout, result.stdout
