"""The container images' rules, read from their Containerfiles (no podman, no server).

Every service image is deploy/containers/services/Containerfile built with a row of
deploy/containers/services.list as its build arguments (package, source directory, port, console
script, runtime). Checked: multi-stage for the Python images (a builder with uv, a final stage
without it), a non-root final user, a HEALTHCHECK (on /healthz for the services), no `latest`
tag, the console script as the command (run by `exec`) and the port exposed, both from the
build arguments; each row names a real package, its directory and its script. Each rule is also
shown failing on a broken Containerfile or a broken row."""

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
    """${ARG} replaced by its default, repeatedly (a default may name another ARG)."""
    for _ in range(5):
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
    return image


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


@dataclass(frozen=True)
class Row:
    name: str
    package: str
    source: str
    port: int
    command: str
    runtime: str

    def build_args(self) -> dict[str, str]:
        return {
            "PACKAGE": self.package,
            "SOURCE_DIR": self.source,
            "PORT": str(self.port),
            "COMMAND": self.command,
        }


def parse_row(line: str) -> Row:
    name, package, source, port, command, runtime = line.split()
    return Row(name, package, source, int(port), command, runtime)


def service_rows() -> list[Row]:
    return [
        parse_row(line)
        for line in (CONTAINERS / "services.list").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def undeclared_args(cf: Containerfile) -> list[str]:
    """${X} used in a stage without `ARG X` in that stage (it would expand to nothing)."""
    found = []
    for stage in cf.stages:
        declared = {args.partition("=")[0] for args in stage.all("ARG")}
        for kw, args in stage.instructions:
            for used in re.findall(r"\$\{(\w+)\}", args):
                if kw != "ARG" and used not in declared:
                    found.append(f"{kw} {args}: ${{{used}}} is not an ARG of its stage")
    return found


def service_problems(cf: Containerfile) -> list[str]:
    """The folded service Containerfile: every per-service value comes from a build argument."""
    found = problems(cf, python=True) + undeclared_args(cf)
    if len(cf.stages) < 2:
        return found
    build, final = cf.stages[0].instructions, cf.final
    syncs = [args for kw, args in build if kw == "RUN" and "uv sync" in args]
    if len(syncs) != 2:
        return [*found, f"{len(syncs)} uv sync in the builder, not 2 (dependencies, then the package)"]
    deps, full = syncs
    for flag in ("--frozen", "--no-dev", "--no-install-workspace", "--package ${PACKAGE}"):
        if flag not in deps:
            found.append(f"the dependencies' sync lacks {flag}")
    for flag in ("--frozen", "--no-dev", "--no-editable", "--package ${PACKAGE}"):
        if flag not in full:
            found.append(f"the package's sync lacks {flag}")
    first = next(i for i, (kw, args) in enumerate(build) if kw == "RUN" and "uv sync" in args)
    last = max(i for i, (kw, args) in enumerate(build) if kw == "RUN" and "uv sync" in args)
    copied = {args.split()[0] for kw, args in build[:first] if kw == "COPY"}
    for source in copied:
        if not source.endswith(("pyproject.toml", "uv.lock")):
            found.append(f"source copied before the dependencies' sync: {source}")
    for member in workspace_members():
        if f"{member}/pyproject.toml" not in copied:
            found.append(f"{member}/pyproject.toml not copied before the dependencies' sync")
    between = [args for kw, args in build[first:last] if kw == "COPY"]
    for needed in ("shared/src shared/src", "${SOURCE_DIR}/src ${SOURCE_DIR}/src"):
        if needed not in between:
            found.append(f"no COPY {needed} between the two syncs")
    if final.all("CMD") != ['["/bin/sh", "-c", "exec \\"$DINAMIS_SERVICE_COMMAND\\""]']:
        found.append(f"CMD {final.all('CMD')}: not the exec of $DINAMIS_SERVICE_COMMAND")
    if final.all("EXPOSE") != ["${PORT}"]:
        found.append(f"EXPOSE {final.all('EXPOSE')}: not ${{PORT}}")
    env = " ".join(final.all("ENV"))
    for needed in (
        "DINAMIS_HEALTH_PORT=${PORT}",
        "DINAMIS_SERVICE_COMMAND=${COMMAND}",
        "DINAMIS_HTTP_HOST=0.0.0.0",
    ):
        if needed not in env.split():
            found.append(f"ENV lacks {needed}")
    health = (final.all("HEALTHCHECK") or [""])[0]
    if "/healthz" not in health or "DINAMIS_HEALTH_PORT" not in health:
        found.append("the HEALTHCHECK does not GET /healthz on DINAMIS_HEALTH_PORT")
    if final_user(final) != "10001":
        found.append(f"the final user is {final_user(final)}, not 10001")
    return found


def row_problems(row: Row) -> list[str]:
    """A row of services.list: a real package in its directory, with that console script."""
    found = []
    if EXPECTED_PORTS.get(row.name) != row.port:
        found.append(f"{row.name}: port {row.port}, documented {EXPECTED_PORTS.get(row.name)}")
    packages = package_dirs()
    if row.package not in packages:
        return [*found, f"{row.package} is not a workspace package"]
    if packages[row.package] != ROOT / row.source:
        found.append(f"{row.package} is in {packages[row.package].relative_to(ROOT)}, not {row.source}")
    scripts = tomllib.loads((packages[row.package] / "pyproject.toml").read_text())["project"]["scripts"]
    if row.command not in scripts:
        found.append(f"{row.command} is not a console script of {row.package}")
    if row.runtime != "-":
        path = CONTAINERS / "services" / "runtimes" / row.runtime / "Containerfile"
        if not path.is_file():
            found.append(f"no runtime {row.runtime} ({path.relative_to(ROOT)})")
    return found


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


SERVICES_FILE = CONTAINERS / "services" / "Containerfile"


def test_every_service_is_listed_once_and_no_service_has_its_own_containerfile():
    listed = [row.name for row in service_rows()]
    assert sorted(listed) == sorted(EXPECTED_PORTS)
    assert len(set(listed)) == len(listed)
    # The one folded file, and the runtimes it can start from; nothing per service.
    on_disk = sorted(
        str(p.relative_to(CONTAINERS / "services")) for p in (CONTAINERS / "services").rglob("Containerfile")
    )
    assert on_disk == ["Containerfile", "runtimes/portal/Containerfile", "runtimes/reporting/Containerfile"]


def test_the_service_containerfile():
    assert service_problems(parse(SERVICES_FILE.read_text())) == []


@pytest.mark.parametrize("row", service_rows(), ids=lambda r: r.name)
def test_service_row(row: Row):
    assert row_problems(row) == []
    # What the image gets once the row is substituted (the values by hand: EXPECTED_PORTS).
    final = parse(SERVICES_FILE.read_text()).final
    args = row.build_args()
    assert [resolve(e, args) for e in final.all("EXPOSE")] == [str(EXPECTED_PORTS[row.name])]
    env = resolve(" ".join(final.all("ENV")), args).split()
    assert f"DINAMIS_HEALTH_PORT={EXPECTED_PORTS[row.name]}" in env
    assert f"DINAMIS_SERVICE_COMMAND={row.command}" in env


def test_the_rows_by_hand():
    rows = {row.name: row for row in service_rows()}
    assert rows["supplier-sim"] == Row(
        "supplier-sim", "dinamis-sim", "sim", 8109, "dinamis-supplier-sim", "-"
    )
    assert rows["orders"] == Row("orders", "dinamis-orders", "services/orders", 8103, "dinamis-orders", "-")
    assert rows["portal"].runtime == "portal" and rows["reporting"].runtime == "reporting"
    assert {r.runtime for r in rows.values() if r.name not in {"portal", "reporting"}} == {"-"}


@pytest.mark.parametrize("name", ["portal", "reporting"])
def test_service_runtime(name: str):
    cf = parse((CONTAINERS / "services" / "runtimes" / name / "Containerfile").read_text())
    assert len(cf.stages) == 1
    assert resolve(cf.final.image, cf.args) == "localhost/dinamis/python:3.11"
    assert final_user(cf.final) == "10001"
    for kw, args in cf.final.instructions:
        assert not (kw == "RUN" and BUILD_TOOLS.search(args.replace("--no-install-recommends", ""))), args


def test_portal_runtime_holds_the_front_end_and_reporting_the_font():
    portal = parse((CONTAINERS / "services/runtimes/portal/Containerfile").read_text()).final
    assert "DINAMIS_PORTAL_FRONTEND_DIR=/app/frontend" in portal.all("ENV")
    assert any(args.startswith("services/portal/frontend/build ") for args in portal.all("COPY"))
    reporting = parse((CONTAINERS / "services/runtimes/reporting/Containerfile").read_text()).final
    assert any("fonts-dejavu-core" in args for args in reporting.all("RUN"))


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

GOOD = SERVICES_FILE.read_text()


def test_the_rules_accept_a_good_file():
    assert problems(parse(GOOD), python=True) == []
    assert service_problems(parse(GOOD)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("USER 10001:10001", "USER root"), "the final stage runs as root"),
        (lambda t: re.sub(r"USER 10001:10001\n", "", t), "the final stage runs as root (no USER)"),
        (lambda t: re.sub(r"HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", t), "no HEALTHCHECK in the final stage"),
        (lambda t: t.replace("python:3.11\n", "python:latest\n", 1), "an explicit tag other than latest"),
        (
            lambda t: t.replace("FROM ${RUNTIME_IMAGE}\n", "FROM ${PYBUILD_IMAGE}\n"),
            "final stage from localhost/dinamis/python-build:3.11",
        ),
        (
            lambda t: t.split("FROM ${RUNTIME_IMAGE}")[0],
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
        # The folded file's own rules.
        (lambda t: t.replace("ARG PORT\n", ""), "${PORT} is not an ARG of its stage"),
        (lambda t: t.replace("EXPOSE ${PORT}", "EXPOSE 8103"), "not ${PORT}"),
        (
            lambda t: t.replace("DINAMIS_HEALTH_PORT=${PORT}", "DINAMIS_HEALTH_PORT=8103"),
            "ENV lacks DINAMIS_HEALTH_PORT",
        ),
        (lambda t: re.sub(r'CMD \["/bin/sh".*', 'CMD ["dinamis-orders"]', t), "not the exec of"),
        (lambda t: t.replace("--package ${PACKAGE}\n", "\n", 1), "the dependencies' sync lacks --package"),
        (lambda t: t.replace("COPY ${SOURCE_DIR}/src ${SOURCE_DIR}/src\n", ""), "no COPY ${SOURCE_DIR}/src"),
        (
            lambda t: t.replace(
                "COPY pyproject.toml uv.lock ./", "COPY pyproject.toml uv.lock ./\nCOPY shared/src shared/src"
            ),
            "source copied before the dependencies' sync",
        ),
        (lambda t: t.replace("COPY sim/pyproject.toml sim/\n", ""), "sim/pyproject.toml not copied"),
    ],
)
def test_the_rules_refuse_a_broken_file(change, expected):
    broken = change(GOOD)
    assert broken != GOOD
    found = service_problems(parse(broken))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("orders dinamis-orders services/orders 8104 dinamis-orders -", "port 8104, documented 8103"),
        (
            "orders dinamis-order services/orders 8103 dinamis-orders -",
            "dinamis-order is not a workspace package",
        ),
        ("orders dinamis-orders services/order 8103 dinamis-orders -", "not services/order"),
        (
            "orders dinamis-orders services/orders 8103 dinamis-order -",
            "dinamis-order is not a console script",
        ),
        ("orders dinamis-orders services/orders 8103 dinamis-orders gis", "no runtime gis"),
        ("supplier-sim dinamis-sim services/sim 8109 dinamis-supplier-sim -", "not services/sim"),
    ],
)
def test_the_rules_refuse_a_broken_row(line: str, expected: str):
    assert row_problems(parse_row("orders dinamis-orders services/orders 8103 dinamis-orders -")) == []
    found = row_problems(parse_row(line))
    assert any(expected in p for p in found), found
