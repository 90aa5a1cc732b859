"""Maps the top-level layer folders onto the `candlecast.*` package namespace.

pyproject.toml holds all metadata; this file only exists because setuptools' declarative
package discovery cannot prefix discovered packages with a parent name.
"""

from setuptools import find_packages, setup

LAYERS = ("core", "plugins", "flows", "deploy", "cli", "sandbox")

packages = [
    f"candlecast.{name}" for name in find_packages(include=[f"{layer}*" for layer in LAYERS])
]
setup(
    packages=packages,
    package_dir={f"candlecast.{layer}": layer for layer in LAYERS},
)
