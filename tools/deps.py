#!/usr/bin/env python3
"""Checks the layering of src/ (docs/ARCHITECTURE.md, "Checking the layering").

Usage: python3 tools/deps.py [--edges] [--depth N]
From the `crate::` / `super::` paths of every file it builds the module graph (a path through a
`pub use` re-export, `crate::gpu::Scene` or `crate::Pipeline`, counts as a use of the module
that defines the item) and prints, exiting 1 if there is any:
- every cycle between modules (at depth N path segments, default: files; `--depth 1`: top-level
  modules only), and every library module that uses the binary's `cli`/`app`;
- every use of a lower layer's module by a higher one (LAYERS, top-level modules);
- every library file that uses a crate that belongs to the binary (clap, anyhow);
- every `--option` in a string or comment of src/ or examples/ that src/cli.rs does not define;
- every `assert_layout!` whose size or field offsets differ from the WGSL struct it mirrors.
`--edges` also prints the graph. Run from the repository root.
"""
import collections, os, re, sys

ROOT = "src"
BIN_ONLY = {"main", "cli", "app"}  # modules declared by main.rs (the binary), not the library

# The layers, bottom first: a top-level module may use modules of its own layer and of the
# layers below, never one above. A new top-level module must be placed here.
LAYERS = [
    ("domain", {"domain", "error", "frame"}),
    ("gpu", {"gpu", "atlas"}),
    ("classify", {"classify"}),
    ("pipeline", {"config", "pipeline"}),
    ("media", {"source", "sink", "media", "yuv", "safety"}),
    ("live", {"live"}),
    ("binary", {"cli", "app"}),
]
# Crates only the binary (src/main.rs, src/cli.rs, src/app/) may use.
BIN_CRATES = ("clap", "anyhow")
# Lines naming another program's options (`cargo test --release`, `v4l2-ctl --list-devices`).
OTHER_PROGRAMS = re.compile(r"\b(cargo|v4l2-ctl|ffmpeg|ffprobe|gst-launch-1\.0|python3|rustdoc)\b")
# `assert_layout!` structs that mirror no WGSL struct of the same name beside them: the Rust
# name and the WGSL struct it mirrors (None: WGSL reads it as vertex attributes or texels).
WGSL_NAMES = {"TileRecord": None, "RectInstance": None, "BlitParams": "Blit"}


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


def resolve(path, mods, reexp=None, hops=0):
    """The module a `crate::a::b::Item` path comes from: the longest prefix that names a module,
    or, where the next name is a `pub use` re-export of that module (`crate::gpu::Scene`), the
    module the re-export points at, followed to the end."""
    parts = path.split("::")
    for n in range(len(parts), -1, -1):
        cand = "::".join(parts[:n])
        if cand in mods or n == 0:
            break
    rest = parts[n:]
    if reexp and rest and (cand, rest[0]) in reexp and hops < 10:
        return resolve("::".join([reexp[(cand, rest[0])]] + rest[1:]), mods, reexp, hops + 1)
    return cand or None


def reexports(mods):
    """{(module, name): the absolute path it re-exports} for every `pub use` / `pub(crate) use`
    under src/ (the crate root's too); paths into other crates are left out."""
    out = {}
    for p in rust_files(ROOT):
        me = module_of(p)
        parent = me.rsplit("::", 1)[0] if "::" in me else ""
        text = re.sub(r"//[^\n]*", "", open(p, encoding="utf-8").read())
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for path in flatten(re.sub(r"\s*([{},:])\s*", r"\1", m.group(1).strip())):
                path, _, alias = path.partition(" as ")
                head, _, rest = path.partition("::")
                if head == "crate":
                    full = rest
                elif head == "super":
                    full = "::".join(x for x in (parent, rest) if x)
                elif head == "self":
                    full = "::".join(x for x in (me, rest) if x)
                else:
                    full = "::".join(x for x in (me, path) if x)
                    if resolve(full, mods) in (None, me or None):
                        continue  # another crate's item (`pub use wgpu::...`)
                name = (alias or path.rsplit("::", 1)[-1]).strip()
                if name != "*":
                    out[(me, name)] = full
    return out


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
    reexp = reexports(mods)
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
                tgt = resolve(full, mods, reexp)
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


def rust_files(*roots):
    for root in roots:
        for d, _, fs in os.walk(root):
            for f in sorted(fs):
                if f.endswith(".rs"):
                    yield os.path.join(d, f)


def layer_violations():
    """Uses of a higher layer's module, and top-level modules no layer holds."""
    rank = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}
    name = {i: n for i, (n, _) in enumerate(LAYERS)}
    out = []
    top = {m.split("::")[0] for m in known_modules()} - {"", "main", "lib"}
    out += [f"module {m} is in no layer: add it to LAYERS in tools/deps.py" for m in sorted(top - set(rank))]
    e = graph(1)
    for a in sorted(e):
        for b in sorted(e[a]):
            if a in rank and b in rank and rank[b] > rank[a]:
                out.append(f"{a} ({name[rank[a]]} layer) uses {b} ({name[rank[b]]} layer, above it)")
    return out


def binary_crates_in_library():
    out = []
    pattern = re.compile(r"\b(" + "|".join(BIN_CRATES) + r")(::|!)")
    for p in rust_files(ROOT):
        if module_of(p).split("::")[0] in BIN_ONLY or p == os.path.join(ROOT, "main.rs"):
            continue
        text = re.sub(r"//[^\n]*", "", open(p, encoding="utf-8").read())
        for m in sorted({m.group(1) for m in pattern.finditer(text)}):
            out.append(f"library file {p} uses {m}, a crate of the binary")
    return out


def cli_options():
    """The long options src/cli.rs defines (clap derive: `#[arg(long...)]` on a field)."""
    cli = open(os.path.join(ROOT, "cli.rs"), encoding="utf-8").read()
    opts = {"--help", "--version"}
    for m in re.finditer(r"#\[arg\(([^\]]*)\)\]\s*(?:(?:///[^\n]*|#\[[^\n]*)\n\s*)*pub (\w+):", cli):
        named = re.search(r'\blong\s*=\s*"([^"]+)"', m.group(1))
        if named:
            opts.add("--" + named.group(1))
        elif re.search(r"\blong\b", m.group(1)):
            opts.add("--" + m.group(2).replace("_", "-"))
    return opts


def unknown_options():
    """`--option`s in strings and comments that the command line does not have (whole lines are
    read, so a string continued over lines is too: Rust code itself never holds `--`)."""
    opts, out = cli_options(), []
    for p in rust_files(ROOT, "examples"):
        for i, line in enumerate(open(p, encoding="utf-8"), 1):
            if OTHER_PROGRAMS.search(line):
                continue
            for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line):
                if o not in opts:
                    out.append(f"{p}:{i}: {o} is not an option of emojicam (src/cli.rs)")
    return out


WGSL_SCALAR = {"u32": (4, 4), "i32": (4, 4), "f32": (4, 4)}


def wgsl_type(t, structs):
    """(size, align) of a WGSL type as a uniform or storage buffer lays it out."""
    t = t.strip()
    if t in WGSL_SCALAR:
        return WGSL_SCALAR[t]
    m = re.fullmatch(r"vec([234])<\w+>", t)
    if m:
        n = int(m.group(1))
        return (4 * n, 8 if n == 2 else 16)
    m = re.fullmatch(r"array<(.+),\s*(\d+)u?>", t)
    if m:
        size, align = wgsl_type(m.group(1), structs)
        return ((size + align - 1) // align * align * int(m.group(2)), align)
    if t in structs:
        return struct_layout(structs[t], structs)[:2]
    raise ValueError(f"WGSL type {t} not understood")


def struct_layout(body, structs):
    """(size, align, {field: offset}) of a WGSL struct's body."""
    offset, align, fields = 0, 1, {}
    for name, ty in re.findall(r"(\w+)\s*:\s*([^,]+?)\s*,", re.sub(r"//[^\n]*", "", body) + ","):
        size, a = wgsl_type(ty, structs)
        offset = (offset + a - 1) // a * a
        fields[name] = offset
        offset += size
        align = max(align, a)
    return ((offset + align - 1) // align * align, align, fields)


def layout_mismatches():
    """`assert_layout!(Rust, size S, field @ offset, ..)` against the WGSL struct beside it."""
    out = []
    for p in rust_files(ROOT):
        text = open(p, encoding="utf-8").read()
        wgsl_files = [os.path.join(os.path.dirname(p), f) for f in os.listdir(os.path.dirname(p)) if f.endswith(".wgsl")]
        structs = {}
        for w in wgsl_files:
            for m in re.finditer(r"^struct (\w+)\s*\{(.*?)^\}", open(w, encoding="utf-8").read(), re.S | re.M):
                structs[m.group(1)] = m.group(2)
        for m in re.finditer(r"assert_layout!\(\s*(\w+),\s*size\s+(\d+)((?:,\s*\w+\s*@\s*\d+)*)\s*,?\s*\)", text):
            rust, size = m.group(1), int(m.group(2))
            wgsl = WGSL_NAMES.get(rust, rust)
            if wgsl is None:
                continue
            if wgsl not in structs:
                out.append(f"{p}: {rust} mirrors no WGSL struct {wgsl} in {os.path.dirname(p)}/*.wgsl")
                continue
            wsize, _, offsets = struct_layout(structs[wgsl], structs)
            if wsize != size:
                out.append(f"{p}: {rust} is asserted {size} bytes, WGSL's {wgsl} is {wsize}")
            for field, off in re.findall(r"(\w+)\s*@\s*(\d+)", m.group(3)):
                if offsets.get(field) != int(off):
                    out.append(f"{p}: {rust}.{field} is asserted at {off}, WGSL's {wgsl}.{field} at {offsets.get(field)}")
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
    problems = layer_violations() + binary_crates_in_library() + unknown_options() + layout_mismatches()
    for line in problems:
        print(line)
    sys.exit(1 if cyc or lib_to_bin or problems else 0)
