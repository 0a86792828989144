#!/usr/bin/env python3
"""Import graph and architecture checks for the trolley crate.

Reads every src/**/*.rs file, works out which crate module each file is and
finds the file-to-file imports: `use crate::...` / `use super::...` / `use
self::...` (grouped use trees included), inline paths such as
`crate::store::redis::parse_config(...)` or `super::view(...)`, paths through
names a file imported (`use crate::store; store::redis::x()`), and in main.rs
`trolley::...`. It then reports import loops, imports that go up the layer
stack, forbidden dependencies of domain/store code on the web stack, and
oversized files (function length is clippy's `too_many_lines`, in Cargo.toml's
[lints]). The rules are data at the top of this file.

    python3 scripts/import_graph.py            # summary of the working tree
    python3 scripts/import_graph.py --check    # exit 1 if any check fails (for CI)
    python3 scripts/import_graph.py --git REV  # analyse a git revision instead, e.g. HEAD~3
    python3 scripts/import_graph.py --dot      # Graphviz dot: ... --dot | dot -Tsvg > g.svg

It only reads text (comments and string literals stripped), so it works on a
tree that does not compile. Paths in the output are relative to src/.
"""
import argparse
import bisect
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATE = "trolley"  # how binaries (main.rs, bin/*.rs) name the library

# ---- rules (patterns are relative to src/; `*` stays within a path segment, `**` crosses) ----
# Layers, top to bottom; a file belongs to the first layer with a matching pattern.
LAYERS = [
    ("main", ["main.rs"]),
    ("app", ["app.rs", "lib.rs", "commands.rs"]),
    ("web", ["state.rs", "http/**", "service/**"]),
    ("domain", ["accounts/**", "accounts.rs", "cart/ops.rs", "cart/add.rs", "cart/checkout.rs", "cart/owner.rs", "cart/error.rs", "cart/mod.rs",
                "catalog*.rs"]),
    ("sessions", ["sessions/**"]),
    ("store", ["store/**"]),
    # The cart's vocabulary and its reference rules: pure, used by every layer above.
    ("vocabulary", ["cart/model.rs", "cart/rules.rs", "cart/change.rs", "cart/gate.rs", "cart/claim.rs"]),
]
# Leaves may be imported from any layer, but themselves import only other leaves ...
LEAVES = ["config.rs", "proto.rs", "metrics.rs", "logs.rs", "traces.rs", "shutdown.rs", "crypto.rs"]
# ... except for these layers (the settings parse into domain and store types).
LEAF_MAY_IMPORT = {"config.rs": ["domain", "store", "vocabulary"]}
# Files that must not depend on the web stack: no mention of these crates, no crate::<module> import.
FORBIDDEN_IN = ["cart/**", "accounts/**", "accounts.rs", "catalog*.rs", "store/**"]
FORBIDDEN_CRATES = ["axum", "tower_sessions", "tower_http"]
FORBIDDEN_MODULES = ["http", "app", "state"]
FORBIDDEN_ALLOWED = {("store/session.rs", "tower_sessions")}  # implements the session store
MAX_FILE_LINES = 400


def glob_match(path, patterns):
    def rx(p):
        return "".join(".*" if t == "**" else "[^/]*" if t == "*" else re.escape(t)
                       for t in re.split(r"(\*\*|\*)", p))
    return any(re.fullmatch(rx(p), path) for p in patterns)


def layer_of(f):
    return next((i for i, (_, pats) in enumerate(LAYERS) if glob_match(f, pats)), None)


def is_leaf(f):
    return glob_match(f, LEAVES)


def is_bin(f):
    return f == "main.rs" or f.startswith("bin/")


def module_of(f):
    """src/lib.rs -> (), src/a.rs and src/a/mod.rs -> ('a',), src/a/b.rs -> ('a', 'b')."""
    parts = f[:-3].split("/")
    if parts[-1] == "mod" or parts == ["lib"]:
        parts.pop()
    return tuple(parts)


# ---- lexing ----
def strip(text):
    """Blank out comments and string/char literals, keeping every newline (so line numbers hold)."""
    out, i, n = [], 0, len(text)
    blank = lambda s: re.sub(r"[^\n]", " ", s)
    while i < n:
        c, prev = text[i], text[i - 1] if i else " "
        raw = re.compile(r"[bc]?r(#*)\"").match(text, i) if not (prev.isalnum() or prev == "_") else None
        if text.startswith("//", i):
            j = text.find("\n", i) % (n + 1)  # -1 (no newline) -> n
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                depth += text.startswith("/*", j) - text.startswith("*/", j)
                j += 2 if text.startswith(("/*", "*/"), j) else 1
        elif raw:
            j = text.find('"' + raw.group(1), raw.end())
            j = n if j < 0 else j + 1 + len(raw.group(1))
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif c == "'" and i + 1 < n and text[i + 1] == "\\":  # '\n', '\'', '\u{..}'
            j = text.find("'", i + 3) + 1 or n
        elif c == "'" and i + 2 < n and text[i + 2] == "'":  # 'x' (not a lifetime 'a)
            j = i + 3
        else:
            out.append(c)
            i += 1
            continue
        out.append(blank(text[i:j]))
        i = j
    return "".join(out)


def brace_pairs(s):
    pairs, stack = {}, []
    for i, c in enumerate(s):
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def use_leaves(toks):
    """Expand a use tree's tokens into (path, bound name) pairs; the name is None for a glob."""
    out, i = [], 0

    def add(path, name):  # `a::{self}` is `a`
        if path and path[-1] == "self":
            path, name = path[:-1], (path[-2] if len(path) > 1 and name == "self" else name)
        out.append((path, name))

    def tree(prefix):
        nonlocal i
        path = list(prefix)
        while i < len(toks) and toks[i] not in (",", "}"):
            t = toks[i]
            i += 1
            if t == "{":
                while i < len(toks) and toks[i] != "}":
                    if toks[i] == ",":
                        i += 1
                    else:
                        tree(path)
                i += 1
                return
            if t == "*":
                return add(path, None)
            if t == "as":
                i += 1
                return add(path, toks[i - 1] if i <= len(toks) else None)
            if t != "::":
                path.append(t)
        add(path, path[-1] if path else None)

    tree([])
    return out


PATH_RE = re.compile(r"(?<![\w:])[A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)+")
USE_RE = re.compile(r"(?<![\w:])use\s+([^;]*);")


def analyse(f, text, modules):
    """One file: referenced absolute module paths, crate mentions, functions, line count."""
    s = strip(text)
    nl = [i for i, c in enumerate(s) if c == "\n"]
    line = lambda pos: bisect.bisect_left(nl, pos) + 1
    pairs, me, binary = brace_pairs(s), module_of(f), is_bin(f)
    inline = [(m.end() - 1, pairs.get(m.end() - 1, len(s)), m.group(1))
              for m in re.finditer(r"\bmod\s+([A-Za-z_]\w*)\s*\{", s)]
    ctx = lambda pos: me + tuple(name for a, b, name in inline if a < pos < b)
    # Names in scope without a `use`: the file's child modules (`mod x;`); for lib.rs all top modules.
    bindings = {} if binary else {m[-1]: m for m in modules if len(m) == len(me) + 1 and m[:-1] == me}

    def absolute(segs, here):
        head = segs[0]
        if head in ("crate", "self", "super"):
            if binary:  # the binary's own modules: not part of the library graph
                return None
            base, i = ([], 1) if head == "crate" else (list(here), 0)
            while i < len(segs) and segs[i] in ("self", "super"):
                base, i = (base[:-1] if segs[i] == "super" else base), i + 1
            return tuple(base + segs[i:])
        if head == CRATE and binary:
            return tuple(segs[1:])
        if head in bindings:
            return bindings[head] + tuple(segs[1:])
        return None  # an external crate (or a local we cannot see)

    leaves = [(m.start(), path, name) for m in USE_RE.finditer(s)
              for path, name in use_leaves(re.findall(r"::|[A-Za-z_]\w*|[{},*]", m.group(1))) if path]
    for _ in range(2):  # twice, so `use cart::x` can follow `use crate::cart` in any order
        for pos, path, name in leaves:
            a = absolute(path, ctx(pos))
            if a is not None and name and name != "_":
                bindings[name] = a
    refs = [(line(pos), absolute(path, ctx(pos))) for pos, path, _ in leaves]
    code = USE_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), s)  # uses are done
    refs += [(line(m.start()), absolute(re.split(r"\s*::\s*", m.group(0)), ctx(m.start())))
             for m in PATH_RE.finditer(code)]
    crates = [(line(m.start()), m.group(1)) for m in
              re.finditer(r"\b(%s)\b" % "|".join(map(re.escape, FORBIDDEN_CRATES)), s)]
    return [r for r in refs if r[1] is not None], crates, text.count("\n") + (not text.endswith("\n"))


def read_sources(rev):
    if rev is None:
        src = ROOT / "src"
        return {p.relative_to(src).as_posix(): p.read_text(encoding="utf-8") for p in sorted(src.rglob("*.rs"))}
    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], check=True,
                                    capture_output=True, text=True).stdout
    try:
        names = [n for n in git("ls-tree", "-r", "--name-only", rev, "src").splitlines() if n.endswith(".rs")]
        return {n[len("src/"):]: git("show", f"{rev}:{n}") for n in names}
    except subprocess.CalledProcessError as e:
        sys.exit(f"git failed: {e.stderr.strip()}")


def sccs(nodes, edges):
    """Tarjan: strongly connected components with more than one node, biggest first."""
    adj = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            out.append(sorted(comp))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return sorted((c for c in out if len(c) > 1), key=lambda c: (-len(c), c))


def upward(a, b):
    """True if a -> b goes up the layers, False if fine, None if it cannot be judged."""
    la, lb = layer_of(a), layer_of(b)
    if is_leaf(b):
        return False
    if is_leaf(a):
        return lb is None or LAYERS[lb][0] not in LEAF_MAY_IMPORT.get(a, [])
    return None if la is None or lb is None else lb < la


def section(header, lines):
    print(header)
    for ln in lines:
        print("  " + ln)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if any check fails")
    ap.add_argument("--dot", action="store_true", help="print the graph as Graphviz dot")
    ap.add_argument("--git", metavar="REV", help="analyse this git revision instead of the working tree")
    args = ap.parse_args()

    sources = read_sources(args.git)
    files = sorted(sources)
    by_module = {module_of(f): f for f in files if not is_bin(f)}
    edges, bad, big = set(), {}, []
    for f in files:
        refs, crates, nlines = analyse(f, sources[f], by_module)
        guarded = glob_match(f, FORBIDDEN_IN)
        for ln, path in refs:  # resolve to the longest prefix that is a module with a file
            target = next((by_module[path[:k]] for k in range(len(path), -1, -1) if path[:k] in by_module), None)
            if target and target != f:
                edges.add((f, target))
            if guarded and path and path[0] in FORBIDDEN_MODULES:
                bad.setdefault((f, f"crate::{path[0]}"), set()).add(ln)
        for ln, name in crates:
            if guarded and (f, name) not in FORBIDDEN_ALLOWED:
                bad.setdefault((f, name), set()).add(ln)
        big += [f"{f} ({nlines} lines)"] if nlines > MAX_FILE_LINES else []
    edges = sorted(edges)
    loops = sccs(files, edges)
    judged = {e: upward(*e) for e in edges}
    ups = [e for e in edges if judged[e]]
    unlayered = [f for f in files if layer_of(f) is None and not is_leaf(f)]
    group = lambda f: "leaves" if is_leaf(f) else "unlayered" if layer_of(f) is None else LAYERS[layer_of(f)][0]

    if args.dot:
        in_loop = {f for c in loops for f in c}
        print(f"digraph {CRATE} {{\n  rankdir=TB; node [shape=box, fontname=monospace];")
        for name in [n for n, _ in LAYERS] + ["leaves", "unlayered"]:
            nodes = "".join(f' "{f}"' + (" [style=filled, fillcolor=mistyrose]" if f in in_loop else "") + ";"
                            for f in files if group(f) == name)
            if nodes:
                print(f'  subgraph "cluster_{name}" {{ label="{name}";{nodes} }}')
        for a, b in edges:
            print(f'  "{a}" -> "{b}"' + (" [color=red]" if judged[(a, b)] else "") + ";")
        print("}")
        return 0

    print(f"files: {len(files)}")
    section(f"edges: {len(edges)}", [] if args.check else [f"{a} -> {b}" for a, b in edges])
    section(f"loops: {len(loops)}", [f"({len(c)} files) " + " ".join(c) for c in loops])
    print(f"files in loops: {sum(map(len, loops))} of {len(files)}")
    if unlayered:
        print(f"unlayered files (no LAYERS/LEAVES rule; edges between them and layers are not judged): "
              + " ".join(unlayered))
    not_judged = sum(v is None for v in judged.values())
    section(f"upward imports: {len(ups)} of {len(edges)}" + (f" ({not_judged} not judged)" if not_judged else ""),
            [f"{a} -> {b}  ({group(a)} -> {group(b)})" for a, b in ups])
    section(f"forbidden dependencies: {len(bad)}",
            [f"{f}: {what} (line {', '.join(map(str, sorted(lns)))})" for (f, what), lns in sorted(bad.items())])
    section(f"files over {MAX_FILE_LINES} lines: {len(big)}", big)
    if args.check:
        failed = [what for what, n in [("loops", loops), ("upward imports", ups), ("forbidden dependencies", bad),
                                       ("big files", big), ("unlayered files", unlayered)] if n]
        print("check: " + (f"FAILED ({', '.join(failed)})" if failed else "ok"))
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    sys.exit(main())
