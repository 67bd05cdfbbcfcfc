#!/usr/bin/env python3
"""Module dependency graph of src/ from `crate::` / `super::` paths, and its cycles.

Usage: python3 tools/deps.py [--edges] [--depth N]
Prints every cycle between modules (at depth N path segments, default: files) and exits 1
if there is one. Run from the repository root.
"""
import collections, os, re, sys

ROOT = "src"
BIN_ONLY = {"main", "cli", "app"}  # modules declared by main.rs (the binary), not the library


def module_of(path):
    m = path[len(ROOT) + 1 : -3]
    if m.endswith("/mod"):
        m = m[:-4]
    return "" if m in ("lib", "main") else m.replace("/", "::")


def known_modules():
    mods = set()
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if f.endswith(".rs"):
                mods.add(module_of(os.path.join(d, f)))
    return mods


def resolve(path, mods):
    """Longest prefix of a `crate::a::b::Item` path that names a module."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in mods:
            return cand
    return None


def expand_use(text):
    """Paths named by `crate::...` and `super::...`, including `use crate::{a::X, b}` groups."""
    out = []
    for m in re.finditer(r"\b(crate|super)::((?:\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*)(?:::(?:\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*))*)", text):
        head, rest = m.group(1), m.group(2)
        out.extend((head, p) for p in flatten(rest))
    return out


def flatten(path):
    i = path.find("{")
    if i < 0:
        return [path]
    prefix, inner = path[:i], path[i + 1 : path.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    res = []
    for p in parts:
        p = p.strip()
        if p in ("", "self"):
            res.append(prefix.rstrip(":"))
        elif p:
            res.extend(prefix + q for q in flatten(p))
    return res


def graph(depth):
    mods = known_modules()
    edges = collections.defaultdict(set)
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(d, f)
            me = module_of(p)
            # `super` of a file module `a/b.rs` is `a`; of `a/b/mod.rs` also `a`.
            parent = me.rsplit("::", 1)[0] if "::" in me else ""
            text = re.sub(r"//[^\n]*", "", open(p, encoding="utf-8").read())
            for head, path in expand_use(text):
                full = path if head == "crate" else (parent + "::" + path if parent else path)
                tgt = resolve(full, mods)
                if tgt is None or tgt == me:
                    continue
                a, b = cut(me, depth), cut(tgt, depth)
                if a != b and a and b:
                    edges[a].add(b)
    return edges


def cut(m, depth):
    return "::".join(m.split("::")[:depth]) if depth else m


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    depth = int(sys.argv[sys.argv.index("--depth") + 1]) if "--depth" in sys.argv else 0
    e = graph(depth)
    if "--edges" in sys.argv:
        for m in sorted(e):
            print(f"{m} -> {' '.join(sorted(e[m]))}")
    cyc = cycles(e)
    for c in cyc:
        print("cycle:", " <-> ".join(c))
    lib_to_bin = [(a, b) for a in e for b in e[a] if b.split("::")[0] in BIN_ONLY and a.split("::")[0] not in BIN_ONLY]
    for a, b in lib_to_bin:
        print(f"library module {a} uses binary module {b}")
    sys.exit(1 if cyc or lib_to_bin else 0)
