"""An in-process fake Kubernetes API server for unit tests of code that talks to one.

`FakeApiServer` is a real HTTP server on 127.0.0.1 (plain HTTP, no authentication), started
in milliseconds, that any client can be pointed at: `kubernetes.client.Configuration(host=
server.url)`, a kubeconfig from `server.kubeconfig(path)`, or kopf's
`ConnectionInfo(server=server.url)`. Tests register extra types (`custom_resource(...)`, or
by creating a CustomResourceDefinition) and drive and inspect it through its control API
(`objects`, `get`, `put`, `delete`, `compact`, `fail_next`, `end_watches`, `send_bookmarks`,
`watches`, `requests`, `request_count`, `wait_for`). The pytest fixtures `fake_api` and
`fake_api_client` are in `tests.fakeapi.fixtures`.

Kept from the real server:

- discovery (`/api`, `/apis`, group and resource lists with subresources, `/version`);
- create, get, list, replace, patch, delete and deletecollection, on namespaced and
  cluster-scoped types, with the real answers for missing objects and namespaces, existing
  names, stale `resourceVersion`s (also as a precondition inside a patch), refused media
  types (no strategic merge patch for custom resources), invalid names, labels and times,
  each a `Status` with the real code, reason and message;
- server-set `uid`, `creationTimestamp`, `generation` (bumped by changes outside metadata,
  and outside status when status is a subresource) and `resourceVersion`, one counter for
  all types; a write that changes nothing is not stored and sends no event;
- the status subresource split, and the scale subresource (of Deployments, and of custom
  resources whose CRD declares one);
- JSON merge patch and JSON patch exactly; server-side apply with `managedFields`, conflicts
  naming the field and the other manager, `force`, and removal of fields a manager stops
  applying;
- finalizers (`deletionTimestamp`, removal once they are emptied, none may be added
  meanwhile), owner-reference garbage collection, namespace deletion emptying the namespace;
- paging with continue tokens that list the first page's snapshot, `remainingItemCount`,
  lists at an exact resourceVersion, label and field selectors with the real grammar;
- watches from a resourceVersion or from now (synthetic ADDED first), selector-aware
  (ADDED/DELETED when an object starts or stops matching), `timeoutSeconds`, bookmarks,
  `sendInitialEvents`, and 410 Expired (an ERROR event in the stream; an HTTP 410 for lists
  and continue tokens) once the bounded history no longer covers a version.

Simplified:

- no authentication, authorization, admission webhooks, defaulting, schema validation or
  pruning; objects are kept as the JSON sent (empty maps stay); no controllers (a
  Deployment makes no Pods), and pods are removed at once rather than gracefully;
- versions of a group share their objects with only apiVersion rewritten (no conversion);
- which lists merge by key, for strategic merge patch and apply, comes from a fixed table of
  field names (`schema.KEYED_LISTS`: containers, env and volumes by name, ports by their port,
  conditions by type, ...), not from OpenAPI schemas; other lists are atomic;
- strategic merge patch is merge patch plus those keyed lists, `finalizers` merged as a set,
  and the directives `$patch`, `$retainKeys` and `$deleteFromPrimitiveList`;
- apply ownership is per leaf field and keyed-list item; a null in an apply configuration
  means "not set"; conflicts are found between different manager names only;
- garbage collection runs synchronously once an owner is removed; Foreground propagation
  deletes the dependents first but does not wait for their finalizers;
- field selectors know metadata.name and metadata.namespace plus a few fields per type.
"""

from .apply import ManagedEntry
from .errors import ApiError
from .faults import Fault, RecordedRequest
from .resources import BUILTINS, ResourceType, custom_resource
from .server import FakeApiServer
from .watch import WatchInfo

__all__ = [
    "BUILTINS",
    "ApiError",
    "FakeApiServer",
    "Fault",
    "ManagedEntry",
    "RecordedRequest",
    "ResourceType",
    "WatchInfo",
    "custom_resource",
]
