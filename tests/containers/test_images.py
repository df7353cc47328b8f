"""The container images' rules, read from their Containerfiles (no podman, no server).

deploy/containers/services.list names one image per service; every Containerfile under
deploy/containers/ is checked: multi-stage for the Python images (a builder with uv, a final
stage without it), a non-root final user, a HEALTHCHECK (on /healthz for the services), no
`latest` tag, the service's console script as its command and its port exposed. Each rule is
also shown failing on a broken Containerfile."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "deploy" / "containers"

# The services and their ports, as the platform documents them (docs/containers.md).
EXPECTED_PORTS = {
    "ingest": 8101,
    "catalog": 8102,
    "orders": 8103,
    "delivery": 8104,
    "notify": 8105,
    "portal": 8107,
    "reporting": 8108,
    "supplier-sim": 8109,
}
SERVER_IMAGES = ["postgres", "ferretdb", "seaweedfs", "kafka", "keycloak", "smtp"]
BUILD_TOOLS = re.compile(r"\b(uv|pip|gcc|g\+\+|cc|clang|make|build-essential|python3-dev|npm|node)\b")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Containerfile:
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(text: str) -> Containerfile:
    """Instructions (continuation lines joined, comments dropped), split into stages."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return Containerfile(args, stages)


def resolve(image: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)


def final_user(stage: Stage) -> str | None:
    users = stage.all("USER")
    return users[-1].split(":")[0] if users else None


def problems(cf: Containerfile, *, python: bool) -> list[str]:
    """The rules every runnable image follows; `python`: the multi-stage Python images."""
    found: list[str] = []
    if not cf.stages:
        return ["no FROM"]
    for stage in cf.stages:
        image = resolve(stage.image, cf.args)
        if "$" in image:
            found.append(f"FROM {stage.image}: no default for its ARG")
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            found.append(f"FROM {image}: an explicit tag other than latest is required")
    user = final_user(cf.final)
    if user is None or user in {"0", "root"}:
        found.append(f"the final stage runs as {user or 'root (no USER)'}")
    if not cf.final.all("HEALTHCHECK"):
        found.append("no HEALTHCHECK in the final stage")
    if python:
        if len(cf.stages) < 2:
            found.append("not multi-stage")
        builder = resolve(cf.stages[0].image, cf.args)
        runtime = resolve(cf.final.image, cf.args)
        if builder != "localhost/dinamis/python-build:3.11":
            found.append(f"builder stage from {builder}, not the python-build image")
        if runtime != "localhost/dinamis/python:3.11":
            found.append(f"final stage from {runtime}, not the python runtime image")
        for kw, args in cf.final.instructions:
            if kw == "RUN" and BUILD_TOOLS.search(args.replace("--no-install-recommends", "")):
                found.append(f"build tool in the final stage: RUN {args}")
            if kw == "COPY" and "--from=" not in args and re.search(r"\buv\b", args):
                found.append(f"uv copied into the final stage: COPY {args}")
        for args in cf.final.all("COPY"):
            source = re.search(r"--from=(\S+)", args)
            if source and not args.split()[1].startswith("/app/.venv"):
                found.append(f"the final stage copies more than the virtualenv from the builder: {args}")
    return found


def service_rows() -> list[tuple[str, str, str, int]]:
    rows = []
    for line in (CONTAINERS / "services.list").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, package, script, port = line.split()
            rows.append((name, package, script, int(port)))
    return rows


def workspace_members() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = []
    for pattern in pyproject["tool"]["uv"]["workspace"]["members"]:
        members += [str(p.parent.relative_to(ROOT)) for p in sorted(ROOT.glob(f"{pattern}/pyproject.toml"))]
    return members


def package_dirs() -> dict[str, Path]:
    return {
        tomllib.loads((ROOT / m / "pyproject.toml").read_text())["project"]["name"]: ROOT / m
        for m in workspace_members()
    }


def all_containerfiles() -> list[Path]:
    return sorted(CONTAINERS.rglob("Containerfile"))


# --- the repository's images ---------------------------------------------------------------


def test_every_service_of_the_list_has_an_image_and_no_image_is_unlisted():
    listed = [row[0] for row in service_rows()]
    assert sorted(listed) == sorted(EXPECTED_PORTS)
    on_disk = sorted(p.parent.name for p in (CONTAINERS / "services").glob("*/Containerfile"))
    assert on_disk == sorted(listed)


@pytest.mark.parametrize("row", service_rows(), ids=lambda r: r[0])
def test_service_image(row: tuple[str, str, str, int]):
    name, package, script, port = row
    assert port == EXPECTED_PORTS[name]
    packages = package_dirs()
    assert package in packages, f"{package} is not a workspace package"
    scripts = tomllib.loads((packages[package] / "pyproject.toml").read_text())["project"]["scripts"]
    assert script in scripts, f"{script} is not a console script of {package}"

    cf = parse((CONTAINERS / "services" / name / "Containerfile").read_text())
    assert problems(cf, python=True) == []
    final = cf.final
    assert final.all("CMD") == [f'["{script}"]']
    assert final.all("EXPOSE") == [str(port)]
    env = " ".join(final.all("ENV"))
    assert f"DINAMIS_HEALTH_PORT={port}" in env
    assert "DINAMIS_HTTP_HOST=0.0.0.0" in env
    assert final_user(final) == "10001"
    health = final.all("HEALTHCHECK")[0]
    assert "/healthz" in health and "DINAMIS_HEALTH_PORT" in health

    build = cf.stages[0].instructions
    syncs = [i for i, (kw, args) in enumerate(build) if kw == "RUN" and "uv sync" in args]
    assert len(syncs) == 2
    deps, full = (build[i][1] for i in syncs)
    assert "--frozen" in deps and "--no-dev" in deps and "--no-install-workspace" in deps
    assert f"--package {package}" in deps
    assert "--frozen" in full and "--no-dev" in full and "--no-editable" in full
    assert f"--package {package}" in full
    # Dependencies before the source: no source is copied before the first sync.
    copies_before = [args for kw, args in build[: syncs[0]] if kw == "COPY"]
    assert all(args.split()[0] in {"pyproject.toml"} or "pyproject.toml" in args for args in copies_before)
    # Every workspace member's pyproject.toml is there (uv sync --frozen reads the workspace).
    copied = {args.split()[0] for args in copies_before}
    for member in workspace_members():
        assert f"{member}/pyproject.toml" in copied, f"{member}/pyproject.toml not copied"
    # Its own source (and the shared library's) after the dependencies.
    src = packages[package].relative_to(ROOT)
    copies_after = [args for kw, args in build[syncs[0] : syncs[1]] if kw == "COPY"]
    assert f"{src}/src {src}/src" in copies_after and "shared/src shared/src" in copies_after


def test_catalog_image_serves_both_catalog_commands():
    scripts = tomllib.loads((ROOT / "services/catalog/pyproject.toml").read_text())["project"]["scripts"]
    assert {"dinamis-catalog", "dinamis-catalog-tiles"} <= set(scripts)


@pytest.mark.parametrize("name", SERVER_IMAGES)
def test_server_image(name: str):
    cf = parse((CONTAINERS / "servers" / name / "Containerfile").read_text())
    assert problems(cf, python=name == "smtp") == []
    assert cf.final.all("EXPOSE"), "no port exposed"


def test_no_image_is_tagged_latest_and_every_name_has_a_tag():
    text = (CONTAINERS / "images.env").read_text()
    names = dict(re.findall(r'^: "\$\{(DINAMIS_\w+_IMAGE):=(.+)\}"$', text, re.M))
    assert len(names) == 10
    for variable, image in names.items():
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"{variable}={image}"
    for path in all_containerfiles():
        assert ":latest" not in path.read_text(), path


def test_runtime_images_run_as_the_dinamis_user():
    for name in ("python", "java"):
        cf = parse((CONTAINERS / "base-images" / name / "Containerfile").read_text())
        assert final_user(cf.final) == "10001", name


# --- the rules fail on broken Containerfiles -----------------------------------------------

GOOD = (CONTAINERS / "services" / "orders" / "Containerfile").read_text()


def test_the_rules_accept_a_good_file():
    assert problems(parse(GOOD), python=True) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("USER 10001:10001", "USER root"), "the final stage runs as root"),
        (lambda t: re.sub(r"USER 10001:10001\n", "", t), "the final stage runs as root (no USER)"),
        (lambda t: re.sub(r"HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", t), "no HEALTHCHECK in the final stage"),
        (lambda t: t.replace("python:3.11\n", "python:latest\n", 1), "an explicit tag other than latest"),
        (
            lambda t: t.replace("FROM ${PYTHON_IMAGE}\n", "FROM ${PYBUILD_IMAGE}\n"),
            "final stage from localhost/dinamis/python-build:3.11",
        ),
        (
            lambda t: t.split("FROM ${PYTHON_IMAGE}")[0],
            "not multi-stage",
        ),
        (
            lambda t: t.replace("USER 10001:10001", "RUN apt-get install -y gcc\nUSER 10001:10001"),
            "build tool in the final stage",
        ),
        (
            lambda t: t.replace("COPY --from=build /app/.venv /app/.venv", "COPY --from=build /app /app"),
            "copies more than the virtualenv",
        ),
    ],
)
def test_the_rules_refuse_a_broken_file(change, expected):
    broken = change(GOOD)
    assert broken != GOOD
    found = problems(parse(broken), python=True)
    assert any(expected in p for p in found), found
