"""The import graph of ``bot/`` and ``actions/``, read from the source (nothing is imported).

``tests/unit/test_architecture.py`` checks it; ``python -m tests.support.imports`` prints it:
the layers, the cycles (none), the function-level imports and the module sizes.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "actions")

# The layers, lowest first: a module may import its own layer or a lower one, never a higher
# one. The first matching prefix gives a module's layer (the most specific come first).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", (
        "bot.__main__", "bot.runtime", "bot.schema", "bot.launcher", "bot.chat",
        "bot.evaluation", "bot.training", "bot.validate", "bot.standins",
        "bot.channels.bench", "bot.channels.sandbox", "bot.channels.phone",
        "bot.channels.polling", "bot.channels.report", "bot.handoff.bench", "bot.safety.bench",
        "bot.dashboard.bench", "bot.dashboard.cli", "bot.server", "actions",
    )),
    ("features", ("bot.handoff", "bot.booking", "bot.privacy", "bot.dashboard")),
    ("services", ("bot.channels", "bot.safety", "bot.content", "bot.nlu.components")),
    ("language", ("bot.nlu", "bot.i18n", "bot.countries", "bot.menu")),
    ("storage", (
        "bot.db", "bot.migrations", "bot.settings", "bot.datafiles", "bot.gsm7",
        "bot.rasa_fixes", "bot.logs", "bot.metrics", "bot",
    )),
)  # fmt: skip
ORDER = ("storage", "language", "services", "features", "entry")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool
    reason: str  # the ``# lazy: ...`` comment of a function-level import, else ""


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)

    def edges(self, *, functions: bool = True) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {name: set() for name in self.modules}
        for imp in self.imports:
            if imp.imported and (functions or not imp.in_function):
                found[imp.importer].add(imp.imported)
        return found

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one module (Tarjan), every import
        counted, function-level ones too: a lazy import hides a cycle, it does not undo it."""
        edges, index, low, stack, on = self.edges(), {}, {}, [], set()
        found: list[list[str]] = []
        counter = [0]

        def visit(node: str) -> None:
            index[node] = low[node] = counter[0]
            counter[0] += 1
            stack.append(node)
            on.add(node)
            for nxt in sorted(edges[node]):
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        for name in sorted(self.modules):
            if name not in index:
                visit(name)
        return found

    def upward(self) -> list[Import]:
        """Imports from a lower layer to a higher one."""
        return [
            imp for imp in self.imports
            if imp.imported and ORDER.index(layer(imp.imported)) > ORDER.index(layer(imp.importer))
        ]  # fmt: skip

    def function_level(self) -> list[Import]:
        """One per import statement inside a function."""
        unique = {(i.importer, i.line): i for i in self.imports if i.in_function}
        return [unique[key] for key in sorted(unique)]

    def sizes(self) -> dict[str, int]:
        return {
            name: len(path.read_text(encoding="utf-8").splitlines())
            for name, path in self.modules.items()
        }


def layer(module: str) -> str:
    for name, prefixes in LAYERS:
        # "bot" itself is the package's __init__ only, not a catch-all for new modules.
        if any(module == p or (p != "bot" and module.startswith(p + ".")) for p in prefixes):
            return name
    raise LookupError(f"{module} is in no layer: add it to tests/support/imports.py LAYERS")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name lives in (``bot.x.Y`` -> ``bot.x``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if package else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            continue  # never executed: types only
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        else:
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from _walk(child, inner)


def build(root: Path = ROOT) -> Graph:
    graph = Graph()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            graph.modules[_module_name(path, root)] = path
    for name, path in graph.modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        package = path.name == "__init__.py"
        for node, in_function in _walk(ast.parse(source), False):
            line = lines[node.lineno - 1]
            reason = line.partition("# lazy:")[2].strip() if "# lazy:" in line else ""
            seen: set[str] = set()
            for imported in _imported_names(node, name, package):
                target = _resolve(imported, graph.modules)
                if target and target != name and target not in seen:
                    seen.add(target)
                    graph.imports.append(Import(name, target, node.lineno, in_function, reason))
            if in_function and not seen:  # a third-party lazy import
                graph.imports.append(Import(name, "", node.lineno, True, reason))
    graph.imports = [i for i in graph.imports if i.imported or i.in_function]
    return graph


def main() -> int:
    graph = build()
    print("Layers (lowest first):", " < ".join(ORDER))
    print("Import cycles:", graph.cycles() or "none")
    print("Upward imports:", [f"{i.importer} -> {i.imported}" for i in graph.upward()] or "none")
    lazy = graph.function_level()
    print(f"Function-level imports: {len(lazy)}")
    for imp in lazy:
        print(f"  {imp.importer}:{imp.line}  {imp.reason or '(no reason)'}")
    print("Largest modules:")
    for name, size in sorted(graph.sizes().items(), key=lambda item: -item[1])[:10]:
        print(f"  {size:5d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
