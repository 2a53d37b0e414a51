"""Plug-ins: third-party brokers, bar sources, strategies and notifiers.

A plug-in is a module named by an entry point in the `etrade_cli` group of its package's
metadata, e.g. in its `pyproject.toml`::

    [project.entry-points.etrade_cli]
    sma_cross = "sma_cross_plugin"

and implements any of the hooks below with `@etrade_cli.plugins.hookimpl`. We use `pluggy`
(the plug-in manager of pytest, `llm` and `datasette`) rather than bare entry points because
it validates hook names and signatures when a plug-in loads, so a typo in a plug-in fails with
its name instead of being silently ignored, and it records which distribution each plug-in came
from (shown by `etrade plugins`).

Plug-ins load once per process, when first needed (`registry._ensure_loaded`): at the lookup of
a name that is not a built-in one, or when a registry is listed (`etrade plugins`, the notifiers
of a run, shell completion). Commands that only use built-in parts (`etrade quote`, `scan` with
the default strategy) skip the scan of every installed distribution.

Set `ETRADE_CLI_NO_PLUGINS=1` to load the built-ins only (the test suite does).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pluggy

from . import registry as reg

GROUP = "etrade_cli"
hookspec = pluggy.HookspecMarker(GROUP)
hookimpl = pluggy.HookimplMarker(GROUP)


class Hooks:
    """The hooks a plug-in may implement; each receives a `register(spec)` callable."""

    @hookspec
    def register_brokers(self, register: Callable[[reg.BrokerSpec], None]) -> None:
        """Register `registry.BrokerSpec` entries."""

    @hookspec
    def register_bar_sources(self, register: Callable[[reg.BarSourceSpec], None]) -> None:
        """Register `registry.BarSourceSpec` entries."""

    @hookspec
    def register_strategies(self, register: Callable[[reg.StrategySpec], None]) -> None:
        """Register `registry.StrategySpec` entries."""

    @hookspec
    def register_notifiers(self, register: Callable[[reg.NotifierSpec], None]) -> None:
        """Register `registry.NotifierSpec` entries."""


def manager() -> pluggy.PluginManager:
    """A plug-in manager with our hook specifications and no plug-in loaded."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(Hooks)
    return pm


def load_entry_points() -> list[str]:
    """Load every installed plug-in and register what it provides; returns their origins.

    Raises:
        ConfigError: a plug-in that fails to import or to register (named).
    """
    if os.environ.get("ETRADE_CLI_NO_PLUGINS"):
        return []
    from .errors import ConfigError

    pm = manager()
    try:
        pm.load_setuptools_entrypoints(GROUP)
    except Exception as exc:  # a broken third-party package must not look like our bug
        raise ConfigError(f"a plug-in failed to load: {type(exc).__name__}: {exc}") from None
    origins = {id(p): f"{d.project_name} {d.version}" for p, d in pm.list_plugin_distinfo()}
    for plugin in pm.get_plugins():
        origin = origins.get(id(plugin), getattr(plugin, "__name__", "plug-in"))
        register_plugin(pm, plugin, origin)
    return sorted(set(origins.values()))


def register_plugin(pm: pluggy.PluginManager, plugin: Any, origin: str) -> None:
    """Call `plugin`'s hooks, registering each spec with `origin` stamped on it.

    Raises:
        ConfigError: the plug-in raised, or registered a name already taken.
    """
    import dataclasses

    from .errors import ConfigError

    kinds: list[tuple[str, reg.Registry[Any]]] = [
        ("register_brokers", reg.brokers),
        ("register_bar_sources", reg.bar_sources),
        ("register_strategies", reg.strategies),
        ("register_notifiers", reg.notifiers),
    ]
    for hook_name, registry in kinds:
        caller = pm.subset_hook_caller(
            hook_name, remove_plugins=[p for p in pm.get_plugins() if p is not plugin]
        )

        def add(spec: Any, registry: reg.Registry[Any] = registry) -> None:
            registry.register(dataclasses.replace(spec, origin=origin))

        try:
            caller(register=add)
        except Exception as exc:
            raise ConfigError(f"plug-in {origin}: {hook_name} failed: {exc}") from None
