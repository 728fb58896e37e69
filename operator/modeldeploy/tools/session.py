"""The plugin's connection to a cluster: the kubeconfig and context chosen as kubectl chooses
them, the namespace (the flag's, else the context's, else `default`), and the few reads and
writes the verbs make."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from modeldeploy.api.names import LABEL_NAME
from modeldeploy.api.policy import POLICY_PLURAL
from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.tools.failures import CommandError
from modeldeploy.tools.watching import CONNECT_TIMEOUT_S, ListCall, Obj

REQUEST_TIMEOUT = (CONNECT_TIMEOUT_S, 60.0)


@dataclass
class Session:
    api: Any
    """A kubernetes.client.ApiClient."""
    namespace: str
    server: str

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def model_deployment(self, name: str) -> Obj:
        found: Any = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
        )
        return dict(found)

    def model_deployments(self, name: str) -> ListCall:
        """The list call that finds the ModelDeployment `name`, for a watch."""
        return functools.partial(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            field_selector=f"metadata.name={name}",
        )

    def deployments_of(self, name: str) -> ListCall:
        """The list call that finds the Deployments of the ModelDeployment `name`."""
        return functools.partial(
            client.AppsV1Api(self.api).list_namespaced_deployment,
            self.namespace,
            label_selector=f"{LABEL_NAME}={name}",
        )

    def policy(self, name: str) -> Obj | None:
        """A ClusterRolloutPolicy, or None when it is gone or not readable."""
        try:
            found: Any = self.custom.get_cluster_custom_object(
                GROUP, VERSION, POLICY_PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException:
            return None
        return dict(found)

    def annotate(self, name: str, annotations: dict[str, str | None]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            {"metadata": {"annotations": annotations}},
            _content_type="application/merge-patch+json",
            _request_timeout=REQUEST_TIMEOUT,
        )


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """A session as kubectl would open it with these flags."""
    if kubeconfig is not None and not os.path.exists(kubeconfig):
        raise CommandError(f"kubeconfig {kubeconfig} does not exist")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except ConfigException as error:
        if "No configuration found" in str(error):
            raise CommandError(
                "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or write ~/.kube/config"
            ) from None
        raise
    chosen = active
    if context is not None:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            known = ", ".join(sorted(str(c.get("name")) for c in contexts or [])) or "none"
            raise CommandError(f"context {context} not found in the kubeconfig (it has: {known})")
    if namespace is None:
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    api = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
    return Session(api=api, namespace=str(namespace), server=str(api.configuration.host))
