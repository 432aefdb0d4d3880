"""Fixtures for the deploy tests: real ansible-playbook runs of deploy/ansible/site.yml.

The roles run for real, with a local connection, into temporary root folders: every path they write
is prefixed with ``vertelpaal_root``, and ``vertelpaal_test_mode: true`` skips the few tasks that need
a real system (apt, creating users, PostgreSQL, migrations, systemctl, raspi-config, reboots).
Everything else runs as on a Pi or a server: the virtualenvs are made and the package is installed
into them from a wheel built from this checkout (``--no-deps --no-index``: the tests install nothing
from the network), the question set is packed and unpacked, and every file is templated.

One session fixture (``deployment``) runs the whole life of a fleet once and records what it saw:
a first run, the same run again (nothing may change), an update to a newer version and a rollback.
The kiosk and admin playbooks run side by side to keep the suite fast on two cores. Under
pytest-xdist the first worker that needs it builds it into a folder all workers share and writes what
it saw as JSON; the others wait for it and read that. So tests only read the deployed roots: a test
that changes files renders or copies its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ANSIBLE = DEPLOY / "ansible"
BIN = Path(sys.executable).parent
VERSION_OLD = "0.1.0"
VERSION_NEW = "0.1.1"
RECAP = re.compile(
    r"^(?P<host>\S+)\s*: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploy: runs the real deploy tools (ansible, systemd-analyze, nginx)")


def tool(name: str, package: str) -> str:
    """The path of a command the deploy tests need; a clear failure when it is not installed."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
    if not found:
        pytest.fail(f"{name} is not installed: {package} (the Makefile installs it)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ansible_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "remote-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_PIPELINING="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_DEPRECATION_WARNINGS="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("ANSIBLE_CONFIG", None)
    return env


LOCK_PROBE = "vertelpaal-lock-probe"


def lock_probe(folder: Path) -> str:
    """A tiny real wheel and a lock that pins it by sha256: the roles' locked install must put it in
    every virtualenv (the tests install nothing from the network, so the real locks stay for Pis)."""
    name = LOCK_PROBE.replace("-", "_")
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {LOCK_PROBE}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(path, text)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    for part in ("kiosk", "admin"):
        (folder / f"{part}.lock").write_text(f"{LOCK_PROBE}==1.0 \\\n    --hash=sha256:{digest}\n")
    return digest


def build_wheel(version: str, into: Path, work: Path) -> Path:
    """A wheel of this checkout with the given version (the code is the same; only the number differs)."""
    source = work / f"src-{version}"
    source.mkdir(parents=True)
    for name in ("admin", "kiosk"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "README.md", source / "README.md")
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    pyproject, count = re.subn(r'(?m)^version = "[^"]+"$', f'version = "{version}"', pyproject)
    assert count == 1, "pyproject.toml has no version line"
    (source / "pyproject.toml").write_text(pyproject, "utf-8")
    return source


@dataclass
class Run:
    """One ansible-playbook run over the whole test fleet."""

    name: str
    logs: dict[str, str]  # "admin" / "kiosks" → output
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for log in self.logs.values():
            for match in RECAP.finditer(log):
                counts = match.groupdict()
                host = counts.pop("host")
                self.recap[host] = {key: int(value) for key, value in counts.items()}

    def handlers(self, group: str) -> list[str]:
        return re.findall(r"^RUNNING HANDLER \[(.+?)\]", self.logs[group], re.MULTILINE)


@dataclass
class Deployment:
    base: Path
    roots: dict[str, Path]  # host → its root folder
    hosts: dict[str, dict[str, object]]  # host → its inventory variables
    runs: dict[str, Run] = field(default_factory=dict)
    seen: dict[str, object] = field(default_factory=dict)  # what the fixture observed between runs

    def root(self, host: str) -> Path:
        return self.roots[host]

    @property
    def env(self) -> dict[str, str]:
        """The environment ansible runs with, made in each worker (not the one the builder had)."""
        return ansible_env(self.base / "ansible-home")

    def to_json(self) -> str:
        return json.dumps(
            {
                "base": str(self.base),
                "roots": {host: str(root) for host, root in self.roots.items()},
                "hosts": self.hosts,
                "runs": {name: run.logs for name, run in self.runs.items()},
                "seen": self.seen,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        facts = json.loads(text)
        return cls(
            base=Path(facts["base"]),
            roots={host: Path(root) for host, root in facts["roots"].items()},
            hosts=facts["hosts"],
            runs={name: Run(name, logs) for name, logs in facts["runs"].items()},
            seen=facts["seen"],
        )


def live_site_folders(live: Path) -> dict[str, str]:
    """The host admin-live's real folders outside its root: certificate, media and ACME webroot."""
    return {
        "admin_tls_certificate": str(live / "tls" / "fullchain.pem"),
        "admin_tls_certificate_key": str(live / "tls" / "privkey.pem"),
        "admin_media_root": str(live / "media"),
        "admin_acme_webroot": str(live / "acme"),
    }


def playbook_command(deployment: Deployment, version: str) -> list[str]:
    wheel = deployment.base / "dist" / f"vertelpaal-{version}-py3-none-any.whl"
    return [
        tool("ansible-playbook", "PyPI ansible-core (dev extra)"),
        "-i",
        str(deployment.base / "inventory.yml"),
        str(ANSIBLE / "site.yml"),
        "-e",
        f"vertelpaal_version={version}",
        "-e",
        f"vertelpaal_package_source={wheel}",
        # All test kiosks in one batch (a real fleet goes one canary first, then a quarter at a time).
        "-e",
        '{"vertelpaal_kiosk_batches": ["100%"]}',
    ]


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under folder: "sha256 mode" (to prove a folder was not touched), as JSON keeps it."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return {
        str(path.relative_to(folder)): (
            f"{hashlib.sha256(path.read_bytes()).hexdigest()} {path.stat().st_mode:o}"
        )
        for path in files
    }


def installed_version(venv: Path) -> str:
    found = list((venv / "lib").glob("python*/site-packages/vertelpaal-*.dist-info/METADATA"))
    assert len(found) == 1, f"{venv}: expected one vertelpaal installed, found {found}"
    match = re.search(r"(?m)^Version: (\S+)$", found[0].read_text("utf-8"))
    assert match
    return match.group(1)


def built_once(folder: Path, build: Callable[[Path], Deployment]) -> Deployment:
    """The deployment in folder, built by whichever process asks first; the others wait on a lock and
    read what it recorded. A failed build is recorded too, so a waiting worker fails at once with its
    reason instead of building it all again. Everyone, the builder too, gets the deployment read back
    from the JSON, so a fact that does not survive the trip fails in every run."""
    facts, failure = folder.with_suffix(".json"), folder.with_suffix(".failed")
    with folder.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not facts.exists():
            if failure.exists():
                pytest.fail(f"the deployment failed in another worker:\n{failure.read_text()}")
            try:
                built = build(folder)
            except BaseException as error:
                failure.write_text(f"{type(error).__name__}: {error}")
                raise
            facts.write_text(built.to_json(), "utf-8")
    return Deployment.from_json(facts.read_text("utf-8"))


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    tool("ansible-playbook", "PyPI ansible-core (dev extra)")
    # pytest-xdist gives each worker its own base folder inside one folder of this run; without
    # xdist the run's base folder is used (its parent is shared with other pytest runs).
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    # pytest keeps the folders of the last runs and removes older ones, so nothing is removed here.
    return built_once(shared / "deployment", _deploy)


def _deploy(base: Path) -> Deployment:
    base.mkdir()
    dist = base / "dist"
    lock_probe(base / "locks")
    builds = [build_wheel(version, dist, base / "build") for version in (VERSION_OLD, VERSION_NEW)]
    # With this virtualenv's locked setuptools: an isolated build would install one for each wheel.
    pip_wheel = [str(BIN / "pip"), "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    procs = [
        subprocess.Popen(
            [*pip_wheel, "--wheel-dir", str(dist), str(source)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for source in builds
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output

    example = yaml.safe_load((DEPLOY / "render-plain-files.vars.yml").read_text("utf-8"))
    hosts: dict[str, dict[str, object]] = {
        # Rendered with the same values as deploy/systemd and deploy/nginx (the plain files).
        "kiosk-example": {**example},
        # (RQ itself is not installed here: the tests install nothing from the network.)
        "admin-example": {**example, "admin_rq_requirement": ""},
        # The roles' defaults with a few settings of a real branch.
        "kiosk-roden": {
            "kiosk_branch": "Roden",
            "vertelpaal_server_url": "https://vertelpaal.bibliotheek.example",
            "kiosk_languages": ["nl", "en", "de"],
            "kiosk_camera_source": "picamera2",
            "kiosk_microphone_device": "USB Audio",
            "kiosk_max_answer_seconds": 90,
            "kiosk_sync_upload_chunk_kb": 512,  # a slow library link: smaller chunks to resend
        },
        # A site whose certificate and media folder are real folders of a test (not run by this
        # fixture: the nginx tests render its files into their own folders, see live_site_folders).
        "admin-live": {
            "admin_server_name": "vertelpaal.test",
            "vertelpaal_secret_key": "live-test-0123456789abcdef0123456789abcdef",
            **live_site_folders(base / "live"),
        },
    }
    for key in ("vertelpaal_version", "vertelpaal_package_source"):
        for values in hosts.values():
            values.pop(key, None)
    roots = {host: base / "roots" / host for host in hosts}

    def group(prefix: str) -> dict[str, dict[str, object]]:
        return {h: {**v, "vertelpaal_root": str(roots[h])} for h, v in hosts.items() if h.startswith(prefix)}

    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "ansible_become": False,
                "vertelpaal_test_mode": True,
                "vertelpaal_pip_extra_args": f"--no-deps --no-index --find-links {base / 'locks'}",
                "vertelpaal_lock_dir": str(base / "locks"),
            },
            "children": {
                "admin": {"hosts": group("admin")},
                "kiosks": {"children": {"branch_roden": {"hosts": group("kiosk")}}},
            },
        }
    }
    inventory_file = base / "inventory.yml"
    inventory_file.write_text(yaml.safe_dump(inventory), "utf-8")
    # A Pi's kernel command line, to see console blanking turned off (once).
    cmdline = roots["kiosk-roden"] / "boot/firmware/cmdline.txt"
    cmdline.parent.mkdir(parents=True)
    cmdline.write_text("console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootwait quiet\n")

    deployment = Deployment(base=base, roots=roots, hosts=hosts)
    env = deployment.env

    def run(name: str, version: str, limits: dict[str, str], *extra: str) -> Run:
        procs = {
            group: subprocess.Popen(
                [*playbook_command(deployment, version), "--limit", limit, *extra],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=base,
            )
            for group, limit in limits.items()
        }
        logs = {group: proc.communicate(timeout=600)[0] for group, proc in procs.items()}
        for group, proc in procs.items():
            (base / f"{name}-{group}.log").write_text(logs[group])
            assert proc.returncode == 0, f"{name} ({group}) failed:\n{logs[group][-6000:]}"
        result = Run(name, logs)
        deployment.runs[name] = result
        return result

    everything = {"admin": "admin-example", "kiosks": "kiosks"}
    run("first", VERSION_OLD, everything)
    deployment.seen["first_cmdline"] = cmdline.read_text()
    run("again", VERSION_OLD, everything)

    # The kiosks have been in use: an outbox with answers, recordings and a sync token.
    outboxes = {}
    for host in ("kiosk-roden", "kiosk-example"):
        data = roots[host] / "var/lib/vertelpaal"
        (data / "recordings").mkdir()
        (data / "sync").mkdir()
        (data / "outbox.sqlite3").write_bytes(os.urandom(8192))
        (data / "recordings" / "4b1c.mp4").write_bytes(os.urandom(50_000))
        (data / "sync" / "token").write_text("kiosk-token\n")
        (data / "sync" / "token").chmod(0o600)
        outboxes[host] = tree_digest(data)
    deployment.seen["outboxes"] = outboxes
    # An old version left from long ago, which an update with kiosk_keep_versions=2 removes.
    old = roots["kiosk-roden"] / "opt/vertelpaal/venvs/0.0.9"
    (old / "bin").mkdir(parents=True)
    os.utime(old, (1_000_000_000, 1_000_000_000))

    # Update one kiosk and the server (the other kiosk keeps its version), then roll the kiosk back
    # (the server's role does the same steps: it is not run again, to keep the suite fast).
    some = {"admin": "admin-example", "kiosks": "kiosk-roden"}
    keep_two = ("-e", "kiosk_keep_versions=2", "-e", "admin_keep_versions=2")
    run("update", VERSION_NEW, some, *keep_two)
    deployment.seen["after_update"] = {
        host: {
            "current": os.readlink(roots[host] / "opt/vertelpaal/current"),
            "venvs": sorted(p.name for p in (roots[host] / "opt/vertelpaal/venvs").iterdir() if p.is_dir()),
            "locks": sorted(p.name for p in (roots[host] / "opt/vertelpaal/venvs").glob("*.lock")),
            "version": installed_version(roots[host] / "opt/vertelpaal/current"),
            "wheels": sorted(p.name for p in (roots[host] / "opt/vertelpaal/wheels").iterdir()),
        }
        for host in some.values()
    }
    run("rollback", VERSION_OLD, {"kiosks": "kiosk-roden"}, *keep_two)
    return deployment
