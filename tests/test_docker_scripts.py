"""docker/entrypoint.sh, docker/run.sh and docker/build.sh, executed directly (no Docker daemon
here). The Xilinx install is a fake tree in tmp_path with the same layout as a real one
(Vivado/<v>/settings64.sh, bin/vivado printing its version, Vitis_HLS/<v> or Vitis/<v>): a
stand-in for software that cannot exist on this machine; the scripts run unmodified on it."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
SUPPORTED = ("2022.2", "2024.2")


def make_xilinx(
    root: Path,
    version: str,
    hls: str = "Vitis_HLS",
    reports: str | None = None,
    vivado_env: str | None = None,
    with_hls: bool = True,
) -> Path:
    """A Xilinx install tree: settings64.sh files that set XILINX_* and PATH like AMD's, and
    tool executables that answer `-version` like the real ones (``reports`` overrides it)."""
    viv = root / "Vivado" / version
    (viv / "bin").mkdir(parents=True)
    (viv / "settings64.sh").write_text(
        f'export XILINX_VIVADO="{vivado_env or viv}"\nexport PATH="{viv}/bin:$PATH"\n'
    )
    tool = viv / "bin" / "vivado"
    tool.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = -version ] && echo "vivado v{reports or version} (64-bit)" '
        '&& echo "SW Build 3671981 on Fri Oct 14 04:59:54 MDT 2022" && exit 0\n'
        "exit 1\n"
    )
    tool.chmod(0o755)
    if with_hls:
        hd = root / hls / version
        (hd / "bin").mkdir(parents=True)
        (hd / "settings64.sh").write_text(
            f'export XILINX_HLS="{hd}"\nexport PATH="{hd}/bin:$PATH"\n'
        )
        (hd / "bin" / "vitis_hls").write_text("#!/bin/sh\necho vitis_hls\n")
        (hd / "bin" / "vitis_hls").chmod(0o755)
    return root


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FINN_", "XILINX", "FEWERBITS_")) and k != "LM_LICENSE_FILE"
    }
    env.update(extra)
    return env


def as_user(user: int, cmd: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, user: int | None = None):
    if user is not None:
        cmd = as_user(user, cmd)
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def one_error_line(res: subprocess.CompletedProcess, *fragments: str) -> str:
    """The scripts' failure contract: exit 2 and exactly one line on stderr."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("fewerbits-docker: error: "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# --- entrypoint ---------------------------------------------------------------------------

ENTRY = str(DOCKER / "entrypoint.sh")
PROBE = 'echo "$XILINX_VIVADO|$XILINX_HLS|$(command -v vivado)|$(command -v vitis_hls)|$HOME"'


@pytest.mark.parametrize("version,hls", [("2022.2", "Vitis_HLS"), ("2024.2", "Vitis")])
def test_entrypoint_sets_up_supported_versions(tmp_path, version, hls):
    x = make_xilinx(tmp_path / "Xilinx", version, hls=hls)
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION=version, HOME=str(tmp_path / "h"))
    res = run([ENTRY, "bash", "-c", PROBE + "; exit 7"], env)
    assert res.returncode == 7, res.stderr  # the command's own exit code comes through
    assert res.stderr == ""
    viv, xhls, vivado, vitis_hls, home = res.stdout.strip().split("|")
    assert viv == str(x / "Vivado" / version)
    assert xhls == str(x / hls / version)
    assert vivado == str(x / "Vivado" / version / "bin" / "vivado")
    assert vitis_hls == str(x / hls / version / "bin" / "vitis_hls")
    assert Path(home).is_dir()


def test_entrypoint_rejects_unsupported_version(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2023.1")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2023.1", HOME=str(tmp_path))
    res = run([ENTRY, "echo", "ran"], env)
    one_error_line(res, "FINN_XILINX_VERSION=2023.1 is not supported", "2022.2 2024.2", "2023.1")
    assert "ran" not in res.stdout


def test_entrypoint_names_missing_version_and_what_is_installed(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2024.2", HOME=str(tmp_path))
    one_error_line(
        run([ENTRY, "true"], env),
        "Vivado 2024.2 not found",
        str(x / "Vivado" / "2024.2" / "settings64.sh"),
        "under " + str(x) + ": 2022.2",
    )


def test_entrypoint_needs_vitis_hls(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2", with_hls=False)
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2", HOME=str(tmp_path))
    one_error_line(run([ENTRY, "true"], env), "Vitis HLS 2022.2 not found", "Vitis_HLS/2022.2")


def test_entrypoint_checks_the_version_vivado_reports(tmp_path):
    """A tree whose folder says 2022.2 but whose vivado is another release (copied/renamed)."""
    x = make_xilinx(tmp_path / "Xilinx", "2022.2", reports="2022.1")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2", HOME=str(tmp_path))
    one_error_line(run([ENTRY, "true"], env), "reports version 'v2022.1'", "=2022.2")


def test_entrypoint_checks_what_settings64_sets(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2", vivado_env="/opt/elsewhere/Vivado/2022.2")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2", HOME=str(tmp_path))
    one_error_line(
        run([ENTRY, "true"], env), "XILINX_VIVADO=/opt/elsewhere/Vivado/2022.2", "another install"
    )


def test_entrypoint_path_and_version_variables(tmp_path):
    env = clean_env(FINN_XILINX_PATH=str(tmp_path / "nope"), FINN_XILINX_VERSION="2022.2")
    one_error_line(run([ENTRY, "true"], env), "is not a directory")
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(FINN_XILINX_PATH=str(x), HOME=str(tmp_path))
    one_error_line(run([ENTRY, "true"], env), "FINN_XILINX_VERSION is not set", ": 2022.2)")


def test_entrypoint_without_xilinx_warns_and_runs(tmp_path):
    res = run([ENTRY, "bash", "-c", "echo ran; echo $XILINX_VIVADO"], clean_env(HOME=str(tmp_path)))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["ran"]
    assert res.stderr.startswith("fewerbits-docker: warning: FINN_XILINX_PATH is not set")


@pytest.fixture
def open_tmp():
    """A temporary folder other uids can reach (pytest's tmp_path lies under a 0700 folder)."""
    d = Path(tempfile.mkdtemp(prefix="fewerbits-docker-test-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to run the script as another uid (setpriv)"
)


def private_tmp(tmp_path: Path, cmd: list[str]) -> list[str]:
    """``cmd`` in a mount namespace whose /tmp is an overlay of the real one: it reads the real
    /tmp, and everything it writes there lands in ``tmp_path/upper`` (the real /tmp is untouched,
    so concurrent runs never share a fixed /tmp path)."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    upper.chmod(0o1777)  # the merged /tmp's own mode, as the real one
    script = 'mount -t overlay overlay -o "lowerdir=/tmp,upperdir=$0,workdir=$1" /tmp && shift &&'
    script += ' exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(upper),
            str(work), *cmd]  # fmt: skip


def written_in_private_tmp(tmp_path: Path, path: str | Path) -> Path:
    """Where a write of :func:`private_tmp`'s command to ``path`` landed."""
    path = Path(path)
    return tmp_path / "upper" / path.relative_to("/tmp") if path.is_relative_to("/tmp") else path


@needs_root
def test_entrypoint_as_unmapped_uid_gets_home_and_passwd_entry(open_tmp, tmp_path):
    """`docker run --user 4321:4321`: no passwd entry, HOME=/ by default."""
    passwd = open_tmp / "passwd"
    shutil.copy("/etc/passwd", passwd)
    passwd.chmod(0o666)
    x = make_xilinx(open_tmp / "Xilinx", "2022.2")
    env = clean_env(
        FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2022.2",
        HOME="/",
        FEWERBITS_PASSWD_FILE=str(passwd),
    )
    probe = [ENTRY, "bash", "-c", 'echo "$HOME"; touch "$HOME/w"; id -u']
    res = run(private_tmp(tmp_path, as_user(4321, probe)), env)
    assert res.returncode == 0, res.stderr
    home, uid = res.stdout.split()
    assert (home, uid) == ("/tmp/fewerbits-home-4321", "4321")
    assert written_in_private_tmp(tmp_path, f"{home}/w").stat().st_uid == 4321
    entry = f"fewerbits:x:4321:4321:fewerbits:{home}:/bin/bash"
    assert entry in written_in_private_tmp(tmp_path, passwd).read_text()


# --- run.sh ------------------------------------------------------------------------------

RUN_SH = str(DOCKER / "run.sh")


def image_tag(root: Path) -> str:
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    digest = hashlib.sha256((root / "requirements.lock").read_bytes()).hexdigest()
    return f"fewerbits:{version}-{digest[:12]}"


def dry_run(tmp_path: Path, *cmd: str, cwd: Path | None = None, user=None, **env: str):
    res = run([RUN_SH, "--dry-run", *cmd], clean_env(**env), cwd=cwd or tmp_path, user=user)
    assert res.returncode == 0, res.stderr
    argv = shlex.split(res.stdout)
    assert argv[:2] == ["docker", "run"]
    return argv


def mounts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]


def envs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]


def test_run_dry_run_command(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    work = tmp_path / "proj"
    work.mkdir()
    cmd = ["fewerbits", "build", "runs/d/export", "--out", "runs/d/b", "--until", "bitstream"]
    argv = dry_run(tmp_path, *cmd, cwd=work, FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2")
    assert argv[-len(cmd) :] == cmd
    assert argv[-len(cmd) - 1] == image_tag(ROOT)
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert mounts(argv) == [f"{work}:{work}", f"{x}:{x}:ro"]
    assert argv[argv.index("-w") + 1] == str(work)
    assert set(envs(argv)) == {
        "HOME=/tmp/fewerbits-home",
        f"FINN_XILINX_PATH={x}",
        "FINN_XILINX_VERSION=2022.2",
    }
    assert "--rm" in argv


@needs_root
def test_entrypoint_xilinx_tree_unreadable_for_uid(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")  # under pytest's 0700 folder
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2", HOME="/tmp")
    one_error_line(run([ENTRY, "true"], env, user=4321), "cannot be accessed by uid 4321")


@needs_root
def test_entrypoint_unwritable_home(open_tmp):
    home = open_tmp / "home"
    home.mkdir(mode=0o755)  # root's, not writable for uid 4321
    env = clean_env(HOME=str(home))
    one_error_line(run([ENTRY, "true"], env, user=4321), f"HOME={home} is not writable by uid 4321")


@needs_root
def test_run_maps_the_invoking_uid(open_tmp):
    tmp_path = open_tmp
    x = make_xilinx(tmp_path / "Xilinx", "2024.2", hls="Vitis")
    argv = dry_run(
        tmp_path, "fewerbits", "doctor", user=1234, FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2024.2", FEWERBITS_WORKDIR=str(tmp_path),
    )  # fmt: skip
    assert argv[argv.index("--user") + 1] == "1234:1234"


def test_run_licences_pass_by_name_and_mount_files(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    lic_dir = tmp_path / "licences"
    lic_dir.mkdir()
    lic = lic_dir / "Xilinx.lic"
    lic.write_text("INCREMENT ...\n")
    inside = x / "site.lic"  # already visible through the Xilinx mount
    inside.write_text("x\n")
    work = tmp_path / "work"
    work.mkdir()
    argv = dry_run(
        tmp_path, "fewerbits", "doctor", cwd=work, FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2022.2", XILINXD_LICENSE_FILE=f"2100@licsrv:{lic}:{inside}", LM_LICENSE_FILE=f"{lic}:1717@other",
    )  # fmt: skip
    assert "XILINXD_LICENSE_FILE" in envs(argv) and "LM_LICENSE_FILE" in envs(argv)
    assert "licsrv" not in " ".join(argv)  # values travel by name, not on the command line
    assert mounts(argv)[2:] == [f"{lic}:{lic}:ro"]


def test_run_rejects_missing_licence_file(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(
        FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2022.2",
        XILINXD_LICENSE_FILE=str(tmp_path / "gone.lic"),
    )
    one_error_line(run([RUN_SH, "--dry-run", "true"], env), "XILINXD_LICENSE_FILE", "gone.lic")


def test_run_env_dryrun_relative_path_and_extra_args(tmp_path):
    make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(
        FINN_XILINX_PATH="Xilinx/",
        FINN_XILINX_VERSION="2022.2",
        FEWERBITS_DOCKER_DRYRUN="1",
        FEWERBITS_IMAGE="me/fb:dev",
        FEWERBITS_DOCKER_ARGS="--network host",
    )
    res = run([RUN_SH, "bash"], env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    argv = shlex.split(res.stdout)
    x = tmp_path / "Xilinx"
    assert f"{x}:{x}:ro" in mounts(argv)
    assert argv[-4:] == ["--network", "host", "me/fb:dev", "bash"]


def test_run_fails_early_on_host(tmp_path):
    """The same checks as the entrypoint run on the host before any container starts."""
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    one_error_line(run([RUN_SH, "fewerbits"], clean_env()), "FINN_XILINX_PATH is not set")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2024.1")
    one_error_line(run([RUN_SH, "--dry-run", "fewerbits"], env), "2024.1 is not supported")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2")
    one_error_line(run([RUN_SH, "--dry-run"], env), "no command given")


@pytest.mark.parametrize("script", ["run.sh", "build.sh"])
def test_help_needs_no_environment_and_no_docker(script):
    """--help with an empty environment (no FINN_*, no PATH: bash's default): usage, exit 0."""
    res = subprocess.run(
        ["/bin/bash", str(DOCKER / script), "--help"],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert f"docker/{script}" in res.stdout and "--dry-run" in res.stdout
    assert "built " not in res.stdout and "Usage:  docker" not in res.stdout


def test_run_dry_run_without_a_xilinx_tree_says_what_it_would_mount():
    res = run([RUN_SH, "--dry-run", "fewerbits", "doctor"], clean_env())
    assert res.returncode == 0, res.stderr
    assert mounts(shlex.split(res.stdout))[1] == "/path/to/Xilinx:/path/to/Xilinx:ro"
    assert "FINN_XILINX_PATH is not set" in res.stderr


@pytest.mark.parametrize("script", ["run.sh", "build.sh"])
def test_no_daemon_says_so(tmp_path, script):
    """The real docker client with DOCKER_HOST at a socket nobody listens on."""
    if not shutil.which("docker"):
        pytest.skip("no docker client on this machine")
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(
        FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2022.2",
        DOCKER_HOST=f"unix://{tmp_path}/nobody.sock",
    )
    one_error_line(run([str(DOCKER / script), "fewerbits"], env), "cannot reach a Docker daemon")


def test_run_without_docker_says_so(tmp_path):
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    env = clean_env(FINN_XILINX_PATH=str(x), FINN_XILINX_VERSION="2022.2", PATH="/usr/bin:/bin")
    if shutil.which("docker", path=env["PATH"]):
        pytest.skip("a docker binary is in /usr/bin or /bin; cannot test its absence")
    one_error_line(run([RUN_SH, "fewerbits"], env), "docker not found on PATH")


# --- build.sh ----------------------------------------------------------------------------


def test_build_tag_follows_lock_and_version(tmp_path):
    res = run([str(DOCKER / "build.sh"), "--dry-run", "--pull"], clean_env())
    assert res.returncode == 0, res.stderr
    argv = shlex.split(res.stdout)
    assert argv[:2] == ["docker", "build"]
    assert argv[argv.index("-t") + 1] == image_tag(ROOT)
    assert argv[argv.index("-f") + 1] == str(ROOT / "Dockerfile")
    assert argv[-2:] == ["--pull", str(ROOT)]

    # another lock (or version) is another image, and run.sh picks the same tag
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(ROOT / "pyproject.toml", proj)
    (proj / "requirements.lock").write_text((ROOT / "requirements.lock").read_text() + "x==1\n")
    env = clean_env(FEWERBITS_PROJECT_ROOT=str(proj))
    res = run([str(DOCKER / "build.sh"), "--dry-run"], env)
    tag = shlex.split(res.stdout)[shlex.split(res.stdout).index("-t") + 1]
    assert tag == image_tag(proj) != image_tag(ROOT)
    x = make_xilinx(tmp_path / "Xilinx", "2022.2")
    argv = dry_run(
        tmp_path, "true", FEWERBITS_PROJECT_ROOT=str(proj), FINN_XILINX_PATH=str(x),
        FINN_XILINX_VERSION="2022.2",
    )  # fmt: skip
    assert argv[-2] == tag
