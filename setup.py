"""Package layout only (everything else is in pyproject.toml).

The Dash app lives at ``dashboard/`` in the repository and is installed as
``aquaembed.dashboard``; every sub-package is found here so that new ones need no list.
"""

from setuptools import find_packages, setup

_dash = ["aquaembed.dashboard"] + [f"aquaembed.dashboard.{p}" for p in find_packages("dashboard")]

setup(
    packages=find_packages(include=["aquaembed", "aquaembed.*"]) + _dash,
    package_dir={"aquaembed.dashboard": "dashboard"},
    package_data={"aquaembed": ["py.typed"], "aquaembed.dashboard": ["assets/*", "vendor/*"]},
    include_package_data=False,
)
