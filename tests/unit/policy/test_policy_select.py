"""Which policy applies: Kubernetes' label selector semantics, then priority, then name."""

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.policy import LabelSelector
from modeldeploy.policy.select import Policy, read_policy, select_policy, selector_matches


def policy(name: str, priority: int = 0, selector: dict[str, object] | None = None) -> Policy:
    raw: dict[str, object] = {"priority": priority}
    if selector is not None:
        raw["namespaceSelector"] = selector
    return read_policy({"metadata": {"name": name, "generation": 1}, "spec": raw})


def selector(**raw: object) -> LabelSelector:
    return LabelSelector.model_validate(raw)


def test_no_selector_and_an_empty_one_match_every_namespace() -> None:
    assert selector_matches(None, {})
    assert selector_matches(selector(), {"tier": "dev"})


def test_match_labels_need_every_pair() -> None:
    prod = selector(matchLabels={"tier": "production", "team": "ml"})
    assert selector_matches(prod, {"tier": "production", "team": "ml", "other": "x"})
    assert not selector_matches(prod, {"tier": "production"})
    assert not selector_matches(prod, {"tier": "staging", "team": "ml"})


def test_match_expressions() -> None:
    def match(operator: str, values: list[str] | None, labels: dict[str, str]) -> bool:
        requirement: dict[str, object] = {"key": "tier", "operator": operator}
        if values is not None:
            requirement["values"] = values
        return selector_matches(selector(matchExpressions=[requirement]), labels)

    assert match("In", ["a", "b"], {"tier": "b"})
    assert not match("In", ["a"], {"tier": "b"})
    assert not match("In", ["a"], {})
    assert match("NotIn", ["a"], {"tier": "b"})
    assert match("NotIn", ["a"], {})
    assert not match("NotIn", ["a"], {"tier": "a"})
    assert match("Exists", None, {"tier": ""})
    assert not match("Exists", None, {})
    assert match("DoesNotExist", None, {})
    assert not match("DoesNotExist", None, {"tier": "a"})


def test_the_highest_priority_wins_then_the_first_name() -> None:
    prod = {"matchLabels": {"tier": "production"}}
    policies = [
        policy("baseline", 0),
        policy("production", 100, prod),
        policy("production-b", 100, prod),
        policy("zz-low", -5),
    ]
    assert select_policy(policies, {"tier": "production"}) == policies[1]
    assert select_policy(policies, {"tier": "dev"}) == policies[0]
    assert select_policy(policies[1:3], {"tier": "dev"}) is None
    assert select_policy([], {}) is None


names = st.text(alphabet="abcdef-", min_size=1, max_size=6).filter(
    lambda n: n[0] != "-" and n[-1] != "-"
)


@given(st.lists(st.tuples(names, st.integers(-3, 3)), min_size=1, unique_by=lambda t: t[0]))
def test_selection_is_independent_of_listing_order(entries: list[tuple[str, int]]) -> None:
    policies = [policy(n, p) for n, p in entries]
    chosen = select_policy(policies, {})
    assert chosen == select_policy(list(reversed(policies)), {})
    assert chosen is not None
    top = max(p for _, p in entries)
    assert chosen.priority == top
    assert chosen.name == min(n for n, p in entries if p == top)


def test_an_unusable_policy_keeps_its_claim_and_says_why() -> None:
    body = {
        "metadata": {"name": "prod", "generation": 3},
        "spec": {
            "namespaceSelector": {"matchLabels": {"tier": "production"}},
            "priority": 7,
            "rules": {"maxStepWeight": 25},
            "defaults": {"rollout": {"stepWeights": [50]}},
        },
    }
    read = read_policy(body)
    assert read.spec is None and read.priority == 7
    assert read.problem == (
        "policy prod is invalid: spec.defaults.rollout: step weight 50 breaks the policy's own "
        "maxStepWeight 25"
    )
    assert select_policy([read], {"tier": "production"}) == read
    assert select_policy([read], {"tier": "dev"}) is None


def test_an_unreadable_selector_claims_every_namespace() -> None:
    read = read_policy(
        {"metadata": {"name": "p"}, "spec": {"namespaceSelector": {"matchLabels": 5}}}
    )
    assert read.problem is not None and "spec.namespaceSelector.matchLabels" in read.problem
    assert select_policy([read], {"any": "thing"}) == read
