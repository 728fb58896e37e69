"""`kubectl-modeldeploy completion bash|zsh`: a completion script made from the plugin's own
argument parser, so that it lists exactly the verbs and flags the parser takes. Names of
ModelDeployments, namespaces and contexts are asked of kubectl as one completes."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

SHELLS = ("bash", "zsh")
PROGRAM = "kubectl-modeldeploy"
# Flags whose value kubectl understands too: passed on when completing names.
_KUBE_FLAGS = ("-n", "--namespace", "--kubeconfig", "--context")


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verb:
    name: str
    options: tuple[Option, ...]
    positional_choices: tuple[str, ...]
    """What its positional argument may be; empty: the name of a ModelDeployment."""


@dataclass(frozen=True)
class Grammar:
    global_options: tuple[Option, ...]
    verbs: tuple[Verb, ...]


def grammar_of(parser: argparse.ArgumentParser, global_dests: set[str]) -> Grammar:
    """The verbs and options of `parser`; options whose `dest` is in `global_dests` are taken
    before or after the verb and listed once, as global."""
    globals_: list[Option] = []
    verbs: list[Verb] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                options = tuple(
                    _option(a)
                    for a in sub._actions
                    if a.option_strings and a.dest not in global_dests and a.dest != "help"
                )
                positional = next((a for a in sub._actions if not a.option_strings), None)
                choices = tuple(str(c) for c in (positional.choices or ())) if positional else ()
                verbs.append(Verb(name, options, choices))
        elif action.option_strings:
            globals_.append(_option(action))
    return Grammar(tuple(globals_), tuple(verbs))


def completion_script(shell: str, grammar: Grammar) -> str:
    if shell not in SHELLS:
        raise ValueError(f"no completion for {shell}: choose one of {', '.join(SHELLS)}")
    script = _bash(grammar)
    if shell == "zsh":
        # zsh runs the bash function through its bash completion emulation.
        script = (
            f"# zsh completion for {PROGRAM}: source <({PROGRAM} completion zsh)\n"
            "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit; }\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + script
        )
    return script


def _option(action: argparse.Action) -> Option:
    takes_value = action.nargs != 0
    choices = tuple(str(c) for c in action.choices) if action.choices else ()
    return Option(tuple(action.option_strings), takes_value, choices)


def _words(items: list[str] | tuple[str, ...]) -> str:
    return shlex.quote(" ".join(items))


def _bash(grammar: Grammar) -> str:
    every = list(grammar.global_options) + [o for verb in grammar.verbs for o in verb.options]
    valued = sorted({flag for o in every if o.takes_value for flag in o.flags})
    global_flags = [flag for o in grammar.global_options for flag in o.flags]
    value_cases = []
    for option in {o.flags: o for o in every if o.takes_value}.values():
        pattern = "|".join(option.flags)
        if option.choices:
            value_cases.append(f"        {pattern}) _md_reply {_words(option.choices)}; return ;;")
        elif "--kubeconfig" in option.flags:
            value_cases.append(f'        {pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;')
        elif "--context" in option.flags:
            value_cases.append(
                f'        {pattern}) _md_reply "$(kubectl config get-contexts -o name '
                '2>/dev/null)"; return ;;'
            )
        elif "--namespace" in option.flags:
            value_cases.append(
                f'        {pattern}) _md_reply "$(kubectl get namespaces "${{kube[@]}}" '
                "-o 'jsonpath={.items[*].metadata.name}' 2>/dev/null)\"; return ;;"
            )
        else:
            value_cases.append(f"        {pattern}) return ;;")
    verb_flags = "\n".join(
        f"        {verb.name}) flags={_words([f for o in verb.options for f in o.flags])} ;;"
        for verb in grammar.verbs
    )
    verb_positionals = "\n".join(
        f"        {verb.name}) _md_reply {_words(verb.positional_choices)} ;;"
        for verb in grammar.verbs
        if verb.positional_choices
    )
    kube_pattern = "|".join(_KUBE_FLAGS)
    valued_pattern = "|".join(valued)
    return f"""# bash completion for {PROGRAM}: source <({PROGRAM} completion bash)
_md_reply() {{
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}}

_kubectl_modeldeploy() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local verb="" word flags="" i positionals=0
    local -a kube=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in
            {kube_pattern}) kube+=("$word" "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
            {valued_pattern}) ((i++)) ;;
            -*) ;;
            *) if [[ -z "$verb" ]]; then verb="$word"; else ((positionals++)); fi ;;
        esac
    done
    case "$prev" in
{chr(10).join(value_cases)}
    esac
    if [[ -z "$verb" ]]; then
        if [[ "$cur" == -* ]]; then _md_reply {_words(global_flags)}
        else _md_reply {_words([verb.name for verb in grammar.verbs])}; fi
        return
    fi
    case "$verb" in
{verb_flags}
    esac
    if [[ "$cur" == -* ]]; then
        _md_reply "$flags "{_words(global_flags)}
        return
    fi
    ((positionals > 0)) && return
    case "$verb" in
{verb_positionals}
        *) _md_reply "$(kubectl get modeldeployments.modeldeploy.io "${{kube[@]}}" \\
               -o 'jsonpath={{.items[*].metadata.name}}' 2>/dev/null)" ;;
    esac
}}
complete -F _kubectl_modeldeploy {PROGRAM}
"""
