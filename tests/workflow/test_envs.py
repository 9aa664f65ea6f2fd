"""Static check of the per-rule conda envs (no conda needed).

Every rule in ``workflow/rules/*.smk`` names one of ``envs/*.yaml``; each env parses, pins the
same versions as ``pyproject.toml``, and provides every third-party module that the rule's
code imports: its ``script:``, or the ``python -m iceafm...`` module its ``shell:`` runs, and
every ``iceafm`` module those import, followed transitively.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "workflow" / "rules"
SRC = REPO / "src"

# conda-forge names that differ from the PyPI distribution of the same code.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "pytorch": "torch"}
# Provided by Snakemake's script runner, not by the env.
PROVIDED_BY_RUNNER = {"snakemake"}
# Pinned-free infrastructure an env may list without a pyproject pin.
UNPINNED_OK = {"pip", "openmpi", "mpich", "pocl", "ocl-icd-system"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def pyproject_pins() -> dict[str, str]:
    """PyPI name -> pinned version, from dependencies and optional-dependencies."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    pins = {}
    for spec in specs:
        name, version = spec.split("==")
        pins[_norm(name)] = version.strip()
    return pins


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """Rule name -> (rule file, text of the rule's block)."""
    blocks = {}
    for smk in sorted(RULES_DIR.glob("*.smk")):
        text = smk.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule (\w+):", text, re.M)]
        for i, (start, name) in enumerate(starts):
            rest = text[start : starts[i + 1][0] if i + 1 < len(starts) else len(text)]
            # The block ends at the next unindented line (def, include, comment...).
            end = re.search(r"^\S", rest[len(f"rule {name}:") :], re.M)
            blocks[name] = (
                smk,
                rest if end is None else rest[: len(f"rule {name}:") + end.start()],
            )
    return blocks


def _directive(block: str, name: str) -> str | None:
    match = re.search(rf"^\s+{name}:\s*\n?\s*\"([^\"]+)\"", block, re.M)
    return match.group(1) if match else None


def rule_code(smk: Path, block: str) -> list[Path]:
    """Python files a rule runs: its script, or the iceafm module its shell runs with -m."""
    files = []
    script = _directive(block, "script")
    if script:
        files.append((smk.parent / script).resolve())
    for module in re.findall(r"python -m (iceafm[\w.]*)", block):
        files.append(_module_file(module) or SRC / (module.replace(".", "/") + "/__main__.py"))
    return files


def _module_file(module: str) -> Path | None:
    base = SRC / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in the file, except optional ones (imports
    inside ``try`` blocks that catch ImportError)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            # `from iceafm.x import y` may import the submodule iceafm.x.y
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def third_party_modules(files: list[Path]) -> set[str]:
    """Top-level third-party modules imported by ``files`` and the iceafm code they reach."""
    seen: set[Path] = set()
    todo = list(files)
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "iceafm":
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):
                    module_file = _module_file(".".join(parts[:depth]))
                    if module_file is not None:
                        todo.append(module_file)
            elif top not in sys.stdlib_module_names and top not in PROVIDED_BY_RUNNER:
                found.add(top)
    return found


def env_packages(env: dict) -> dict[str, str | None]:
    """PyPI name (normalised) -> pinned version (None if unpinned), conda and pip entries."""
    packages: dict[str, str | None] = {}
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            for spec in dep.get("pip", []):
                name, _, version = spec.partition("==")
                packages[_norm(name)] = version or None
        else:
            name, _, version = str(dep).partition("=")
            name = CONDA_TO_PYPI.get(name, name)
            packages[_norm(name)] = version.lstrip("=") or None
    return packages


def distributions_of(module: str) -> set[str]:
    """Distributions (normalised) that provide a top-level import name, from the venv."""
    return {_norm(d) for d in importlib.metadata.packages_distributions().get(module, [])}


# Rules that run something (target rules such as all_structures only collect inputs).
RULES = {
    name: (smk, block)
    for name, (smk, block) in rule_blocks().items()
    if re.search(r"^\s+(script|shell|run):", block, re.M)
}
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def test_the_workflow_has_rules() -> None:
    assert RULES, f"no `rule NAME:` found in {RULES_DIR}"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_names_an_existing_env(rule: str) -> None:
    smk, block = RULES[rule]
    conda = _directive(block, "conda")
    assert conda, f"{smk.name}: rule {rule} has no conda: directive"
    env_path = (smk.parent / conda).resolve()
    assert env_path.parent == REPO / "envs", f"rule {rule}: {conda} is not in envs/"
    assert env_path.exists(), f"rule {rule}: {conda} does not exist"


@pytest.mark.parametrize("env_path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_pyproject(env_path: Path) -> None:
    env = yaml.safe_load(env_path.read_text())
    assert isinstance(env, dict) and env.get("dependencies"), f"{env_path.name}: no dependencies"
    packages = env_packages(env)
    assert packages.get("python") == "3.11", f"{env_path.name}: python must be pinned to 3.11"
    pins = pyproject_pins()
    for name, version in packages.items():
        if name == "python" or name in UNPINNED_OK:
            continue
        assert name in pins, f"{env_path.name}: {name} is not pinned in pyproject.toml"
        assert version == pins[name], (
            f"{env_path.name}: {name}={version}, pyproject.toml pins {pins[name]}"
        )


@pytest.mark.parametrize("rule", sorted(RULES))
def test_env_provides_every_module_the_rule_imports(rule: str) -> None:
    smk, block = RULES[rule]
    conda = _directive(block, "conda")
    env_path = (smk.parent / conda).resolve() if conda else None
    if env_path is None or not env_path.exists():
        pytest.fail(f"rule {rule}: no usable conda env ({conda})")
    packages = env_packages(yaml.safe_load(env_path.read_text()))
    code = rule_code(smk, block)
    assert code or _directive(block, "shell") is not None, f"rule {rule}: no script or shell"
    for path in code:
        assert path.exists(), f"rule {rule}: runs {path.relative_to(REPO)}, which does not exist"
    for module in sorted(third_party_modules(code)):
        providers = distributions_of(module)
        assert providers, f"rule {rule}: imports {module}, which no installed package provides"
        assert providers & set(packages), (
            f"rule {rule}: imports {module} ({'/'.join(sorted(providers))}), "
            f"missing from {env_path.name}"
        )


def test_import_scanner_follows_iceafm_modules(tmp_path: Path) -> None:
    """The scanner reaches third-party imports through iceafm modules, skips optional ones."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os\nfrom iceafm.io.atomic import atomic_path\nimport numpy as np\n"
        "try:\n    import pyopencl\nexcept ImportError:\n    pyopencl = None\n"
    )
    modules = third_party_modules([script])
    assert "numpy" in modules
    assert "os" not in modules and "pyopencl" not in modules and "iceafm" not in modules
