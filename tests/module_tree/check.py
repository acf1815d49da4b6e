#!/usr/bin/env python3
"""Fails when the modules inside a crate do not form a tree: when some module reaches,
through `crate::…`, `super::…` or `self::…` paths, a module that reaches it back.

A module is a file under `crates/*/src` (`lib.rs`/`main.rs` is the crate root,
`a/b.rs` or `a/b/mod.rs` is `a::b`). A path is attributed to the deepest module file it
names (`crate::catalog::path_id` → `catalog`), through `pub use` re-exports
(`crate::AccountService` → `accounts`); a bare path through a child module
(`products::list` in `catalog`) counts as a use of it. `mod` declarations are ownership, not
use, and are not edges; a child using its parent is an edge like any other, so a parent
that uses its children must not be used by them. Test code (`#[cfg(test)]` blocks) is
skipped: tests may reach anywhere. Stdlib only; runs in well under a second.

Usage: tests/module_tree/check.py [crates-dir]   (default: crates/ next to tests/)
"""
import pathlib
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:\s*::\s*(?:[A-Za-z_][A-Za-z0-9_]*|\{))+)")
GROUP_ITEM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)*")


def module_of(src: pathlib.Path, file: pathlib.Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts in (["lib"], ["main"]):
        return ()
    return tuple(parts)


def without_tests(text: str) -> str:
    """The text with each `#[cfg(test)]` item (up to its matching brace) removed."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        j = text.find("{", m.end())
        semi = text.find(";", m.end())
        if j == -1 or (semi != -1 and semi < j):
            i = semi + 1
            continue
        depth = 0
        for k in range(j, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                i = k + 1
                break
    out.append(text[i:])
    return "".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def referenced_paths(text: str):
    """Every `crate::a::b`, `super::x` path, expanding `use crate::{a, b::c}` groups."""
    for m in PATH.finditer(text):
        head, rest = m.group(1), re.sub(r"\s+", "", m.group(2))
        segments = [s for s in rest.split("::") if s]
        if segments and segments[-1] == "{":
            start = m.end()
            depth, k = 1, start
            while k < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[k], 0)
                k += 1
            inner = text[start : k - 1]
            # Only the top level of the group: nested groups are rare and name deeper items.
            for item in GROUP_ITEM.findall(re.sub(r"\{[^{}]*\}", "", inner)):
                yield head, segments[:-1] + [s.strip() for s in item.split("::")]
        else:
            yield head, segments


PUB_USE = re.compile(r"\bpub(?:\([^)]*\))?\s+use\s+(?:crate\s*::\s*)?([^;]+);")


def reexports(module: tuple, text: str, modules: dict) -> dict:
    """Names a module re-exports (`pub use accounts::{AccountService, X as Y}`), each with
    the module it comes from, so that `crate::AccountService` is a use of `accounts`."""
    found = {}
    for m in PUB_USE.finditer(text):
        # `X as Y` keeps its spaces as ` as ` so that names containing "as" survive.
        body = re.sub(r"\s+as\s+", " as ", re.sub(r"\s*(::|,|\{|\})\s*", r"\1", m.group(1).strip()))
        prefix, _, group = body.partition("{")
        items = group.rstrip("}").split(",") if group else [body.rsplit("::", 1)[-1]]
        prefix = prefix.rstrip(":") if group else body.rsplit("::", 1)[0]
        path = tuple(s for s in prefix.split("::") if s)
        if path[:1] == ("super",):
            path = module[:-1] + path[1:]
        elif path[:1] == ("self",):
            path = module + path[1:]
        elif not m.group(0).replace(" ", "").startswith(("pubusecrate", "pub(crate)usecrate")):
            path = module + path
        target = max((mod for mod in modules if path[: len(mod)] == mod), key=len, default=())
        for item in items:
            alias = item.split(" as ")[-1] if " as " in item else item.rsplit("::", 1)[-1]
            if alias and target:
                found[alias] = target
    return found


def check_crate(src: pathlib.Path) -> list:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    edges = {m: set() for m in modules}
    exported = {m: reexports(m, strip_comments(f.read_text()), modules) for m, f in modules.items()}
    for module, file in modules.items():
        text = strip_comments(without_tests(file.read_text()))
        for head, segments in referenced_paths(text):
            if head == "crate":
                base = ()
            elif head == "super":
                base = module[:-1]
                while segments and segments[0] == "super":
                    segments, base = segments[1:], base[:-1]
            else:
                base = module
            full = base + tuple(segments)
            target = max((m for m in modules if full[: len(m)] == m), key=len, default=())
            # Through re-exports (`crate::ports::UserRepository` is `ports::users`'s).
            for _ in range(8):
                rest = full[len(target) :]
                via = exported[target].get(rest[0]) if rest else None
                if via is None or via == target:
                    break
                full, target = via + rest, via
            if target != module:
                edges[module].add(target)
        # A bare path through a child module (`products::list`, `use products::X`) is a use too.
        children = {m[-1] for m in modules if len(m) == len(module) + 1 and m[: len(module)] == module}
        for child in children:
            if re.search(rf"(?<![:\w]){child}\s*::", text):
                edges[module].add(module + (child,))
    return [(component, edges) for component in find_cycles(edges)]


def find_cycles(edges: dict) -> list:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def name(module: tuple) -> str:
    return "::".join(("crate",) + module)


def main() -> int:
    # The detector itself: a two-module loop must be found, a chain must not.
    assert find_cycles({("a",): {("b",)}, ("b",): {("a",)}}) == [[("a",), ("b",)]]
    assert find_cycles({("a",): {("b",)}, ("b",): set()}) == []
    crates = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2] / "crates"
    failed = False
    for src in sorted(crates.glob("*/src")):
        for component, edges in check_crate(src):
            failed = True
            print(f"{src.parent.name}: modules reach each other: {', '.join(name(m) for m in component)}")
            for m in component:
                inside = sorted(t for t in edges[m] if t in component)
                print(f"    {name(m)} uses {', '.join(name(t) for t in inside)}")
    if not failed:
        print("module tree: every crate's modules form a tree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
