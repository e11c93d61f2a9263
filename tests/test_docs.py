"""Every code block of README.md, docs/*.md and benchmarks/RESULTS.md is checked, so the
documentation cannot drift.

- ```python blocks run as written, each in a fresh interpreter (``sys.executable``), in an empty
  temporary folder, with the repository on ``PYTHONPATH`` (as after ``pip install -e .``): they
  must exit 0 within the timeout. They are written with tiny sizes (a few epochs, T = 100, a few
  hundred points), so the whole file takes well under a minute.
- ```bash blocks: every command of the repository's scripts (``train_bicycle.py``,
  ``train_sprites.py``, ``train_score_gmm.py``, ``sample.py``, also through ``make bicycle
  ARGS="..."`` / ``make sprites ARGS="..."``) must be accepted by that script's own argument
  parser, and so must every ``python -m keras_ddpm...`` / ``python -m benchmarks...`` (its
  ``parse_args``, or else each ``--flag`` must be an ``add_argument`` of the module). Nothing is
  trained. Other shell lines (make, pip, pytest, lint-imports) are not checked.
- Code blocks are marked ```python or ```bash (or left plain for text), every relative link
  names an existing file and heading, and every flag in the flag tables of docs/bicycle.md,
  docs/sprites.md and docs/score-gmm.md is one that the application's script has.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import importlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile

import tensorflow as tf
from helpers import ROOT

PYTHON_TIMEOUT_S = 120
PARALLEL_BLOCKS = 2
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SCRIPTS = ("train_bicycle.py", "train_sprites.py", "train_score_gmm.py", "sample.py")
MAKE_TARGETS = {"bicycle": "train_bicycle.py", "sprites": "train_sprites.py"}
PAGE_SCRIPTS = {"docs/bicycle.md": "train_bicycle.py", "docs/sprites.md": "train_sprites.py",
                "docs/score-gmm.md": "train_score_gmm.py"}


LINK = re.compile(r"\]\(([^)\s#]*)(#[^)\s]*)?\)")


def heading_anchors(text):
    """GitHub's anchors of the Markdown headings in ``text``."""
    headings = re.findall(r"^#+\s+(.*?)\s*$", FENCE.sub("", text), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def doc_files():
    return ([os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
            + [os.path.join(ROOT, "benchmarks", "RESULTS.md")])


def code_blocks(language):
    """``(file name, line number, code)`` of every fenced block in ``language``."""
    blocks = []
    for path in doc_files():
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                blocks.append((os.path.relpath(path, ROOT), line, match.group(2)))
    return blocks


def run_python_block(code):
    """Run ``code`` as a fresh ``python -c`` in an empty temporary folder, with only the repository
    on ``PYTHONPATH`` (as after ``pip install -e .``) and TFDS's cache inside that folder."""
    with tempfile.TemporaryDirectory() as cwd:
        env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg",
                   TFDS_DATA_DIR=os.path.join(cwd, "tensorflow_datasets"))
        env.pop("KERAS_DDPM_DEBUG", None)
        try:
            return subprocess.run([sys.executable, "-c", code], check=False, cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=PYTHON_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, returncode=-1, stdout=str(err.stdout or ""),
                                               stderr=f"timed out after {PYTHON_TIMEOUT_S} s")


def shell_commands(code):
    """The block's commands as word lists: backslash continuations joined, comments dropped, lines
    split at ``&&``, ``||``, ``;`` and ``|``."""
    commands = []
    for line in re.sub(r"\\\n", " ", code).splitlines():
        words = []
        for word in shlex.split(line, comments=True) + [";"]:
            if word in ("&&", "||", ";", "|"):
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(word)
    return commands


def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"_docs_{name[:-3]}", os.path.join(ROOT, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parser_of(module):
    if hasattr(module, "parse_args"):
        return module.parse_args
    return lambda argv: module.build_parser().parse_args(argv)


class DocsTest(tf.test.TestCase):
    def test_docs_have_code_blocks(self):
        self.assertNotEmpty(code_blocks("python"))
        self.assertNotEmpty(code_blocks("bash"))

    def test_code_blocks_are_python_or_bash(self):
        for path in doc_files():
            with open(path, encoding="utf-8") as handle:
                languages = {match.group(1) for match in FENCE.finditer(handle.read())}
            self.assertEqual(languages - {"python", "bash", "text", ""}, set(),
                             f"{os.path.relpath(path, ROOT)}: mark code blocks ```python or ```bash")

    def test_links_resolve(self):
        """Every relative link names an existing file and, with ``#anchor``, one of its headings."""
        for path in doc_files():
            with open(path, encoding="utf-8") as handle:
                text = FENCE.sub("", handle.read())
            for target, anchor in LINK.findall(text):
                if re.match(r"[a-z]+:", target):
                    continue  # http(s), mailto
                linked = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
                where = f"{os.path.relpath(path, ROOT)}: ({target}{anchor})"
                self.assertTrue(os.path.exists(linked), f"{where}: no such file")
                if anchor and linked.endswith(".md"):
                    with open(linked, encoding="utf-8") as handle:
                        self.assertIn(anchor[1:], heading_anchors(handle.read()), f"{where}: no such heading")

    def test_readme_is_short(self):
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
            self.assertLessEqual(len(handle.read().splitlines()), 200)

    def test_python_blocks_run(self):
        blocks = code_blocks("python")
        # Two at a time: each block spends most of its few seconds importing TensorFlow on one core.
        with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_BLOCKS) as pool:
            results = list(pool.map(run_python_block, [code for _, _, code in blocks]))
        for (name, line, _), result in zip(blocks, results):
            with self.subTest(block=f"{name}:{line}"):
                self.assertEqual(result.returncode, 0,
                                 f"the python block at {name}:{line} failed:\n{result.stdout[-2000:]}\n"
                                 f"{result.stderr[-4000:]}")

    def test_bash_commands_parse(self):
        parsers = {}
        checked = 0
        for name, line, code in code_blocks("bash"):
            for words in shell_commands(code):
                where = f"{name}:{line}: {' '.join(words)}"
                script, argv = self._script_call(words)
                if script is not None:
                    if script not in parsers:
                        parsers[script] = _parser_of(_load_script(script))
                    with self.subTest(command=where):
                        self._check_parse(parsers[script], argv, where)
                    checked += 1
                    continue
                module = self._our_module(words)
                if module is not None:
                    with self.subTest(command=where):
                        self._check_module(module, words[words.index("-m") + 2:], where)
                    checked += 1
        self.assertGreater(checked, 0)

    def test_flag_tables_name_real_flags(self):
        """Every flag in the first column of an application page's table is one of its script's flags."""
        for page, script in PAGE_SCRIPTS.items():
            parse = _parser_of(_load_script(script))
            output = io.StringIO()
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                with self.assertRaises(SystemExit):
                    parse(["--help"])
            known = set(re.findall(r"--[a-z0-9][a-z0-9-]*", output.getvalue()))
            with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
                rows = [line for line in handle if line.startswith("| `--")]
            self.assertNotEmpty(rows, f"{page} has no table of {script}'s flags")
            for row in rows:
                for flag in re.findall(r"`(--[a-z0-9][a-z0-9-]*)", row.split("|")[1]):
                    self.assertIn(flag, known, f"{page}: {script} has no flag {flag}")

    def _check_parse(self, parse, argv, where):
        output = io.StringIO()
        with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
            try:
                parse(argv)
            except SystemExit as stop:
                if stop.code not in (0, None):  # 0: --help
                    self.fail(f"the flags of {where} are rejected: {output.getvalue().strip()[-1000:]}")

    @staticmethod
    def _script_call(words):
        """``(script, argv)`` for a call of one of our scripts (directly or through make), else ``(None, None)``."""
        for i, word in enumerate(words):
            if os.path.basename(word) in SCRIPTS:
                return os.path.basename(word), words[i + 1:]
        if words[0] == "make" and len(words) > 1 and words[1] in MAKE_TARGETS:
            args = [w[len("ARGS="):] for w in words[2:] if w.startswith("ARGS=")]
            return MAKE_TARGETS[words[1]], shlex.split(args[0]) if args else []
        return None, None

    @staticmethod
    def _our_module(words):
        """The module of ``python -m keras_ddpm...`` / ``python -m benchmarks...``, else None (pytest, venv)."""
        if "-m" not in words or words.index("-m") + 1 >= len(words):
            return None
        module = words[words.index("-m") + 1]
        return module if module.split(".")[0] in ("keras_ddpm", "benchmarks") else None

    def _check_module(self, module, argv, where):
        spec = importlib.util.find_spec(module)
        self.assertIsNotNone(spec, f"{where}: no module {module}")
        self.assertTrue(spec.origin.startswith(ROOT), f"{module} is not a module of this checkout ({spec.origin})")
        with open(spec.origin, encoding="utf-8") as handle:
            source = handle.read()
        self.assertIn('if __name__ == "__main__":', source, f"{where}: {module} cannot be run with python -m")
        imported = importlib.import_module(module)
        if hasattr(imported, "parse_args"):
            self._check_parse(imported.parse_args, argv, where)
        else:  # the parser is built inside main(): every flag used must be defined there
            for flag in (w.split("=")[0] for w in argv if w.startswith("--")):
                self.assertRegex(source, rf"add_argument\(\s*[\"']{re.escape(flag)}[\"']",
                                 f"{where}: {module} has no flag {flag}")


if __name__ == "__main__":
    tf.test.main()
