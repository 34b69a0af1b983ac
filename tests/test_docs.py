"""The documentation site: it builds strictly, its command-line reference holds every command and
option, and the pages name no option that the command they name it for does not have.

The site is built by MkDocs itself (`python -m mkdocs build --strict`, as `make docs` serves it), in a
temporary folder; the reference is read from the built HTML.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from seqae.cli import cli

ROOT = Path(__file__).resolve().parent.parent

# The pages a user reads for how to run seqae: every option they name is checked. (The benchmark pages
# name the options of the benchmark scripts; the reference pages are generated.)
GUIDE_PAGES = sorted([ROOT / "README.md", *(p for p in (ROOT / "docs").rglob("*.md")
                                            if p.name != "benchmarks.md" and p.parent.name != "reference")])
# Programs other than seqae whose options a page may show (`mlflow server --serve-artifacts`).
OTHER_PROGRAMS = {"mlflow", "mkdocs", "curl", "pip", "python", "make", "export", "git", "pytest"}


def build_site(config_dir: Path, site_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                          cwd=config_dir, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build_site(ROOT, site_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


def page_text(site: Path, page: str) -> str:
    """The visible text of a built page's article, whitespace collapsed."""
    document = (site / page / "index.html").read_text(encoding="utf-8")
    article = document[document.index("<article"):document.index("</article>")]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", article)).split())


def commands() -> list[tuple[str, click.Command]]:
    """(`seqae CMD`, command) for the group and each of its commands."""
    return [("seqae", cli)] + [(f"seqae {name}", command) for name, command in sorted(cli.commands.items())]


def summary(command: click.Command) -> str:
    """A command's one-line help: the first paragraph of its docstring."""
    return inspect.cleandoc(command.help).split("\n\n")[0]


def cli_sections(site: Path) -> dict[str, str]:
    """The CLI reference page's text under each `seqae CMD` heading."""
    document = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    parts = re.split(r'<h[23] id="(seqae(?:-[a-z]+)?)"', document)
    sections = {}
    for anchor, body in zip(parts[1::2], parts[2::2]):
        sections[anchor.replace("-", " ")] = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return sections


def test_the_site_builds_strictly_with_every_page(site):
    for page in ("", "getting-started", "guides/csv-formats", "guides/models", "guides/thresholds-and-alerts",
                 "guides/live-monitoring", "guides/feedback", "guides/fleets-and-spark", "guides/mlflow-and-serving",
                 "guides/reproducibility", "examples/skab", "reference/cli", "reference/api", "benchmarks",
                 "speed", "development"):
        assert (site / page / "index.html").is_file(), page
    # the included pages carry their source's text, the API page the docstrings
    assert "make demo" in page_text(site, "")
    assert "measured against a textbook PyTorch LSTM-AE" in page_text(site, "speed")
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("seqae.detectors.LSTMAutoencoder", "seqae.thresholds.QuantileThreshold", "seqae.alerts.AlertRules",
                 "seqae.streaming.LiveScorer", "seqae.metrics.evaluate", "seqae.tracking.fit.fit_and_log",
                 "seqae.data.read_sensor_csv"):
        assert f'id="{name}"' in api, name


@pytest.mark.parametrize("page, mistake, named", [
    ("getting-started.md", "[a page](guides/no-such-page.md)", "no-such-page.md"),
    ("getting-started.md", "[a section](guides/models.md#no-such-section)", "no-such-section"),
    ("reference/api.md", "::: seqae.no_such_module", "seqae.no_such_module"),
], ids=["link", "anchor", "reference"])
def test_a_broken_link_anchor_or_reference_fails_the_build(tmp_path, page, mistake, named):
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "README.md", tmp_path / "benchmarks")
    (tmp_path / "seqae").symlink_to(ROOT / "seqae")
    with open(tmp_path / "docs" / page, "a", encoding="utf-8") as f:
        f.write(f"\n\n{mistake}\n")
    result = build_site(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr


def test_every_command_and_option_is_in_the_cli_reference(site):
    sections = cli_sections(site)
    for heading, command in commands():
        assert heading in sections, heading
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for name in param.opts + param.secondary_opts:
                    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sections[heading]), (heading, name)


def test_each_commands_one_line_help_is_in_the_cli_reference(site):
    sections = cli_sections(site)
    listing = sections["seqae"]
    for heading, command in commands():
        line = summary(command)
        assert "\n" not in line, f"{heading}: the docstring's first paragraph is its one-line help; keep it one line"
        assert line in sections[heading], heading
        if command is not cli:
            assert re.search(rf"{command.name} ?: {re.escape(line)}", listing), heading


def test_every_option_has_a_description():
    for heading, command in commands():
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help", "version"):
                assert param.help, f"{heading} {param.opts[0]} has no help text"


def test_the_threshold_help_names_every_kind_of_threshold():
    from seqae.threshold_registry import THRESHOLDS

    help_text = next(p.help for p in cli.commands["fit"].params if p.name == "threshold")
    for kind in THRESHOLDS:
        assert f"{kind}:" in help_text, kind


# ---- every option the pages name exists on the command they name it for ----------------------------------

COMMAND_NAMES = sorted(cli.commands, key=len, reverse=True)
TOKEN = re.compile(rf"\bseqae\s+(?P<command>{'|'.join(COMMAND_NAMES)})\b|(?<![\w-])(?P<option>--[a-z][a-z0-9-]*)")


def options_of(command: click.Command) -> set[str]:
    return {name for p in command.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}


def page_units(markdown: str):
    """("heading" | "code" | "prose", text) in reading order: a heading, a line of a fenced code block,
    an inline code span, or the prose between code spans (a paragraph's lines joined)."""
    fenced, paragraph = False, []

    def flush():
        text = " ".join(paragraph)
        paragraph.clear()
        for k, part in enumerate(re.split(r"(`[^`]+`)", text)):
            if part.strip():
                yield ("code", part.strip("`")) if k % 2 else ("prose", part)

    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            yield from flush()
            fenced = not fenced
        elif fenced:
            yield "code", line
        elif line.startswith("#") or not line.strip():
            yield from flush()
            if line.startswith("#"):
                yield "heading", line
        else:
            paragraph.append(line.strip())
    yield from flush()


def misattributed_options(markdown: str) -> list[str]:
    """Each `--option` that the command it is named for does not have.

    An option belongs to the command named before it in the same code span or code line
    (`seqae score --causal`); an option on its own, to the command in its section's heading, or, where
    the heading names none, to the command named last before it in that section. With no command
    to go by it must exist on some command. `seqae --threads` goes with any command."""
    everywhere = options_of(cli)
    anywhere = set().union(*(options_of(c) for c in cli.commands.values()))
    wrong, section_command, last_named = [], None, None
    for kind, text in page_units(markdown):
        words = text.lstrip("$( ").split()
        if kind == "code" and words and words[0] in OTHER_PROGRAMS:
            continue
        local = None
        if kind == "heading":
            section_command = last_named = None
        for match in TOKEN.finditer(text):
            if match["command"]:
                local = last_named = match["command"]
                if kind == "heading":
                    section_command = local
                continue
            option, owner = match["option"], local or section_command or last_named
            known = anywhere if owner is None else options_of(cli.commands[owner])
            if option not in known | everywhere:
                wrong.append(f"{option} (on {'any command' if owner is None else 'seqae ' + owner})")
    return wrong


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_option_a_page_names_exists_on_its_command(page):
    assert misattributed_options(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("markdown, wrong", [
    ("`seqae watch --columns A,B`", ["--columns (on seqae watch)"]),
    ("## `seqae watch`\n\nRestart with `--state FILE`; `seqae score --causal` scores the same, `--strict` stops.", []),
    ("## Scores\n\n`seqae score` writes rows.\n\n`--strict` stops it.", ["--strict (on seqae score)"]),
    ("```bash\nmlflow server --serve-artifacts\nseqae fit a.csv --serve-artifacts\n```", ["--serve-artifacts (on seqae fit)"]),
    ("`--no-such-option`", ["--no-such-option (on any command)"]),
    ("`seqae --threads 2 fit a.csv --seed 0`", []),
])
def test_options_are_attributed_to_the_command_they_are_named_for(markdown, wrong):
    assert misattributed_options(markdown) == wrong
