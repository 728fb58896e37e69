"""A kubelet stand-in that runs each pod's containers as local processes.

Run as `python -m e2e.localcluster.node_agent`. The decisions (what to run, when to probe,
restart or give up, what status to report) live in pure modules: image_map, container_spec,
probes, backoff, pod_lifecycle and pod_status; the rest carries them out.
"""
