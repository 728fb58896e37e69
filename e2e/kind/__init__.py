"""The end-to-end scenarios on kind, where Docker exists: the same images, add-ons and chart as
on the local cluster.

    python -m e2e.kind up|down [--name NAME] [--state-dir DIR]
"""
