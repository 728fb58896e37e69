"""`kubectl-modeldeploy completion bash|zsh`: the script lists the parser's verbs and flags, and
bash completes with it."""

from __future__ import annotations

import subprocess

import pytest

from modeldeploy.tools.cli import GLOBAL_DESTS, build_parser, main
from modeldeploy.tools.completion import completion_script, grammar_of

VERBS = ["status", "get", "pause", "resume", "promote", "abort", "retry", "undo", "completion"]


def script(shell: str) -> str:
    return completion_script(shell, grammar_of(build_parser(), GLOBAL_DESTS))


def complete(*words: str) -> list[str]:
    """What bash offers for the last of `words`, with the script loaded (no kubectl called:
    these positions do not ask the cluster)."""
    line = " ".join(f"'{w}'" for w in ("kubectl-modeldeploy", *words))
    program = (
        f"{script('bash')}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words)}\n"
        '_kubectl_modeldeploy; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=True
    )
    return sorted(filter(None, out.stdout.splitlines()))


def test_the_grammar_is_the_parser_s() -> None:
    grammar = grammar_of(build_parser(), GLOBAL_DESTS)
    assert [verb.name for verb in grammar.verbs] == VERBS
    assert [o.flags for o in grammar.global_options] == [
        ("-h", "--help"),
        ("-n", "--namespace"),
        ("--kubeconfig",),
        ("--context",),
        ("-o", "--output"),
    ]
    status = next(verb for verb in grammar.verbs if verb.name == "status")
    assert [o.flags for o in status.options] == [("-w", "--watch"), ("--wait",), ("--timeout",)]
    completion = next(verb for verb in grammar.verbs if verb.name == "completion")
    assert completion.positional_choices == ("bash", "zsh")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_script_lists_every_verb(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    printed = capsys.readouterr().out
    assert printed == script(shell)
    assert f"'{' '.join(VERBS)}'" in printed
    assert "complete -F _kubectl_modeldeploy kubectl-modeldeploy" in printed


def test_zsh_runs_the_bash_function_through_bashcompinit() -> None:
    zsh = script("zsh")
    assert "bashcompinit" in zsh.splitlines()[2]
    assert zsh.endswith(script("bash"))


def test_bash_reads_the_script() -> None:
    subprocess.run(["bash", "-n"], input=script("bash"), text=True, check=True)


def test_bash_completes_verbs_flags_and_values() -> None:
    assert complete("") == sorted(VERBS)
    assert complete("st") == ["status"]
    assert complete("-n", "ml", "pro") == ["promote"]
    assert complete("--") == ["--context", "--help", "--kubeconfig", "--namespace", "--output"]
    assert complete("status", "iris", "--w") == ["--wait", "--watch"]
    assert complete("promote", "--f") == ["--full"]
    assert complete("get", "-o", "") == ["json", "text"]
    assert complete("completion", "") == ["bash", "zsh"]
    assert complete("status", "iris", "--timeout", "") == []
