pytest_plugins = ["e2e.localcluster.pytest_plugin", "e2e.fixtures", "e2e.strict_skips"]
