"""What each verb on each URL does: request parsing and the answers, over the store.

Nothing here touches sockets; `http` turns a `Reply` into a response and a `Stream` into a
chunked watch stream.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import discovery, errors
from .errors import ApiError
from .listing import ListOptions
from .patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from .resources import ResourceType
from .routing import Discovery, Target, route
from .selectors import FieldSelector, LabelSelector, SelectorError
from .store import Store
from .watch import Watcher

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass
class Reply:
    code: int
    body: Obj | str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A watch to stream: the HTTP layer drains the watcher until it closes or times out."""

    watcher: Watcher
    timeout: float | None


class _Loader(yaml.SafeLoader):
    """YAML as the API server reads it: timestamps stay strings, as they are in JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _truthy(value: str | None) -> bool:
    return value in ("true", "1", "True")


def _parse(body: bytes, content_type: str) -> Any:
    if not body.strip():
        raise errors.bad_request("the body of the request is empty")
    try:
        if "yaml" in content_type:
            return yaml.load(body, Loader=_Loader)
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as error:
        raise errors.bad_request(f"the body of the request could not be decoded: {error}") from None


def _manager(query: Mapping[str, str], user_agent: str) -> str:
    # Without fieldManager the real server names the writer after its user agent's product.
    return query.get("fieldManager") or user_agent.split("/", 1)[0] or "unknown"


def _dry_run(query: Mapping[str, str]) -> bool:
    value = query.get("dryRun")
    if value in (None, ""):
        return False
    if value != "All":
        raise errors.bad_request(f'dryRun: Unsupported value: "{value}"')
    return True


def _list_options(rtype: ResourceType, query: Mapping[str, str]) -> ListOptions:
    try:
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"), rtype.field_labels)
    except SelectorError as error:
        raise errors.bad_request(str(error)) from None
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise errors.bad_request(f"limit: invalid value {query.get('limit')!r}") from None
    return ListOptions(
        labels=labels,
        fields=fields,
        limit=limit,
        token=query.get("continue") or "",
        resource_version=query.get("resourceVersion") or "",
        match=query.get("resourceVersionMatch") or "",
    )


def _label_string(selector: Any) -> str:
    labels = (selector or {}).get("matchLabels") or {} if isinstance(selector, Mapping) else {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def scale_of(obj: Mapping[str, Any]) -> Obj:
    """A scalable object's Scale (autoscaling/v1), as its /scale subresource shows it: a
    Deployment's, or a custom resource's at the conventional paths (spec.replicas,
    status.replicas, status.selector as a string)."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = status.get("selector")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector
            if isinstance(selector, str)
            else _label_string(spec.get("selector")),
        },
    }


class Api:
    def __init__(self, store: Store, address: Callable[[], str]) -> None:
        self.store = store
        self.address = address

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        content_type: str,
        body: bytes,
        user_agent: str,
    ) -> Reply | Stream:
        if path in ("/healthz", "/livez", "/readyz"):
            return Reply(200, "ok")
        if path == "/version":
            return Reply(200, copy.deepcopy(discovery.VERSION_INFO))
        target = route(self.store.registry, path)
        if isinstance(target, Discovery):
            if method != "GET":
                raise ApiError(405, f"the server does not allow this method on {path}")
            return Reply(200, self._discovery(target))
        media = content_type.split(";", 1)[0].strip().lower()
        manager = _manager(query, user_agent)
        if method == "GET":
            return self._get(target, query, path)
        if method == "POST":
            return self._post(target, query, media, body, manager)
        if method == "PUT":
            return self._put(target, query, media, body, manager)
        if method == "PATCH":
            return self._patch(target, query, media, body, manager)
        if method == "DELETE":
            return self._delete(target, query, media, body)
        raise ApiError(405, f"the server does not allow the method {method}")

    def _discovery(self, target: Discovery) -> Obj:
        registry = self.store.registry
        found: Obj | None
        if target.group is None:
            found = (
                discovery.api_versions(self.address())
                if target.legacy
                else discovery.group_list(registry)
            )
        elif target.version is None:
            found = discovery.group(registry, target.group)
        else:
            found = discovery.resource_list(registry, target.group, target.version)
        if found is None:
            raise errors.unknown_path()
        return found

    # --- verbs ------------------------------------------------------------------------------

    def _get(self, target: Target, query: Mapping[str, str], path: str) -> Reply | Stream:
        rtype = target.rtype
        if target.name is None:
            if _truthy(query.get("watch")):
                return self._watch(target, query, path)
            return Reply(
                200, self.store.list_objects(rtype, target.namespace, _list_options(rtype, query))
            )
        obj = self.store.get(rtype, target.namespace, target.name)
        if target.subresource == "scale":
            return Reply(200, scale_of(obj))
        return Reply(200, obj)

    def _watch(self, target: Target, query: Mapping[str, str], path: str) -> Stream:
        options = _list_options(target.rtype, query)
        timeout: float | None = None
        if query.get("timeoutSeconds"):
            try:
                timeout = float(query["timeoutSeconds"])
            except ValueError:
                raise errors.bad_request("timeoutSeconds: invalid value") from None
        watcher = Watcher(
            target.rtype,
            target.namespace,
            options.labels,
            options.fields,
            bookmarks=_truthy(query.get("allowWatchBookmarks")),
            path=path,
            query=dict(query),
        )
        self.store.watch(
            watcher,
            query.get("resourceVersion"),
            initial_events=_truthy(query.get("sendInitialEvents")),
        )
        return Stream(watcher, timeout)

    def _post(
        self, target: Target, query: Mapping[str, str], media: str, body: bytes, manager: str
    ) -> Reply:
        if target.name is not None:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if target.rtype.namespaced and target.namespace is None:
            raise errors.unknown_path()
        created = self.store.create(
            target.rtype,
            target.namespace,
            _parse(body, media),
            manager=manager,
            dry_run=_dry_run(query),
        )
        return Reply(201, created)

    def _put(
        self, target: Target, query: Mapping[str, str], media: str, body: bytes, manager: str
    ) -> Reply:
        if target.name is None:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        document = _parse(body, media)
        if target.subresource == "scale":
            return self._write_scale(target, query, manager, lambda _scale: document)
        replaced = self.store.replace(
            target.rtype,
            target.namespace,
            target.name,
            document,
            target=target.subresource,
            manager=manager,
            dry_run=_dry_run(query),
        )
        return Reply(200, replaced)

    def _patcher(self, rtype: ResourceType, media: str, patch: Any) -> Callable[[Any], Any]:
        def patched(document: Any) -> Any:
            try:
                if media == MERGE_PATCH:
                    return merge_patch(document, patch)
                if media == JSON_PATCH:
                    return json_patch(document, patch)
                return strategic_merge_patch(document, patch)
            except PatchError as error:
                raise ApiError(422, str(error), "Invalid") from None

        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if rtype.strategic_merge:
            accepted.insert(2, STRATEGIC_PATCH)
        if media not in accepted:
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
                "UnsupportedMediaType",
            )
        if media == JSON_PATCH and not isinstance(patch, list):
            raise errors.bad_request("a JSON patch must be a list of operations")
        if media != JSON_PATCH and not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be an object")
        return patched

    def _patch(
        self, target: Target, query: Mapping[str, str], media: str, body: bytes, manager: str
    ) -> Reply:
        if target.name is None:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        rtype = target.rtype
        document = _parse(body, media)
        if media == APPLY_PATCH:
            if not query.get("fieldManager"):
                raise errors.bad_request("fieldManager is required for apply requests")
            if target.subresource == "scale":
                raise ApiError(415, "apply is not supported on the scale subresource")
            obj, created = self.store.apply(
                rtype,
                target.namespace,
                target.name,
                document,
                target=target.subresource,
                manager=manager,
                force=_truthy(query.get("force")),
                dry_run=_dry_run(query),
            )
            return Reply(201 if created else 200, obj)
        patched = self._patcher(rtype, media, document)
        if target.subresource == "scale":
            return self._write_scale(target, query, manager, patched)
        obj = self.store.modify(
            rtype,
            target.namespace,
            target.name,
            patched,
            target=target.subresource,
            manager=manager,
            dry_run=_dry_run(query),
        )
        return Reply(200, obj)

    def _write_scale(
        self,
        target: Target,
        query: Mapping[str, str],
        manager: str,
        change: Callable[[Obj], Any],
    ) -> Reply:
        assert target.name is not None

        def rescale(obj: Obj) -> Obj:
            scale = change(scale_of(obj))
            if not isinstance(scale, dict):
                raise errors.bad_request("a Scale must be an object")
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid(
                    target.rtype,
                    obj["metadata"]["name"],
                    [("spec.replicas", f"Invalid value: {replicas!r}")],
                )
            obj.setdefault("spec", {})["replicas"] = replicas
            version = (scale.get("metadata") or {}).get("resourceVersion")
            if version:
                obj["metadata"]["resourceVersion"] = version
            return obj

        obj = self.store.modify(
            target.rtype,
            target.namespace,
            target.name,
            rescale,
            target="scale",
            manager=manager,
            dry_run=_dry_run(query),
        )
        return Reply(200, scale_of(obj))

    def _delete(self, target: Target, query: Mapping[str, str], media: str, body: bytes) -> Reply:
        options: Obj = _parse(body, media or "application/json") if body.strip() else {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        propagation = options.get("propagationPolicy") or query.get("propagationPolicy")
        if options.get("orphanDependents") or _truthy(query.get("orphanDependents")):
            propagation = propagation or "Orphan"
        dry_run = _dry_run(query) or options.get("dryRun") == ["All"]
        rtype = target.rtype
        if target.name is None:
            if rtype.namespaced and target.namespace is None:
                raise errors.unknown_path()
            listed = self.store.delete_collection(
                rtype,
                target.namespace,
                _list_options(rtype, query),
                propagation=propagation or "Background",
            )
            return Reply(200, listed)
        if target.subresource:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        obj, gone = self.store.delete(
            rtype,
            target.namespace,
            target.name,
            propagation=propagation or "Background",
            preconditions=options.get("preconditions"),
            dry_run=dry_run,
        )
        if gone and not rtype.custom and rtype.plural != "pods":
            # Most built-in types answer an immediate deletion with a Status, not the object.
            details: Obj = {"name": target.name, "kind": rtype.plural}
            if rtype.group:
                details["group"] = rtype.group
            details["uid"] = obj["metadata"]["uid"]
            return Reply(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                },
            )
        return Reply(200, obj)
