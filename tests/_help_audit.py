"""Run as ``python tests/_help_audit.py TARGET``: the argparse parser of a script (``benchmarks/x.py``) or
module (``procrop.training.scorer.saliency``), caught as it parses ``--help``, checked for raw Sphinx
markup and options without help; prints one JSON list of the problems (used by test_help.py)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import runpy
import sys

MARKUP = re.compile(r":(?:[A-Za-z]+:)?[A-Za-z]+:`|``")


class _Caught(Exception):
    pass


def audit(target: str) -> list[str]:
    caught: dict[str, argparse.ArgumentParser] = {}

    def catch(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        caught.setdefault("parser", self)
        raise _Caught

    argparse.ArgumentParser.parse_args = catch  # type: ignore[assignment]
    argparse.ArgumentParser.parse_known_args = catch  # type: ignore[assignment]
    sys.argv = [target, "--help"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if target.endswith(".py"):
                sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
                runpy.run_path(target, run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
    except _Caught:
        pass
    except SystemExit as e:
        return [f"exited ({e.code}) before parsing its options"]
    parser = caught.get("parser")
    if parser is None:
        return ["no argparse parser"]
    problems: list[str] = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for what, text in (("description", p.description), ("epilog", p.epilog)):
            if text and MARKUP.search(text):
                problems.append(f"{name}: markup {MARKUP.search(text).group(0)!r} in the {what}")
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    walk(subparser, f"{name} {sub}")
                continue
            label = "/".join(action.option_strings) or action.dest
            if not action.help:
                problems.append(f"{name} {label}: no help")
            elif action.help != argparse.SUPPRESS and MARKUP.search(action.help):
                problems.append(f"{name} {label}: markup in its help")

    walk(parser, target)
    return problems


if __name__ == "__main__":
    print(json.dumps(audit(sys.argv[1])))
