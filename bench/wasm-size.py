#!/usr/bin/env python3
"""Where the in-tab wasm's bytes go, by crate, raw and gzip -9.

    scripts/build-wasm.sh --names /tmp/wasm-names   # the shipped build, with function names
    python3 bench/wasm-size.py /tmp/wasm-names/hypha_core_bg.wasm

Function bodies are grouped by the crate their (demangled) name starts with; the exported
functions wasm-bindgen generates (`hyphaserver_*`), into which the optimiser inlined much of the
bridge, count as "exports". Each group is gzipped alone, so the groups' sum is a little more
than the code gzipped whole: read a group's gzip size as an upper estimate of its share.
"""
import collections
import gzip
import re
import sys


def leb128(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def skip_limits(buf, pos):
    flags, pos = leb128(buf, pos)
    _, pos = leb128(buf, pos)
    if flags & 1:
        _, pos = leb128(buf, pos)
    return pos


def imported_function_count(buf, pos):
    count, pos = leb128(buf, pos)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            length, pos = leb128(buf, pos)
            pos += length
        kind = buf[pos]
        pos += 1
        if kind == 0:  # function: type index
            _, pos = leb128(buf, pos)
            functions += 1
        elif kind == 1:  # table: reftype, limits
            pos = skip_limits(buf, pos + 1)
        elif kind == 2:  # memory: limits
            pos = skip_limits(buf, pos)
        elif kind == 3:  # global: valtype, mutability
            pos += 2
        elif kind == 4:  # tag: attribute, type index
            _, pos = leb128(buf, pos + 1)
        else:
            raise ValueError(f"unknown import kind {kind}")
    return functions


def function_names(buf, pos, end):
    """The `name` custom section's function names, by function index."""
    names = {}
    while pos < end:
        subsection = buf[pos]
        size, pos = leb128(buf, pos + 1)
        next_pos = pos + size
        if subsection == 1:
            count, pos = leb128(buf, pos)
            for _ in range(count):
                index, pos = leb128(buf, pos)
                length, pos = leb128(buf, pos)
                names[index] = buf[pos : pos + length].decode("utf-8", "replace")
                pos += length
        pos = next_pos
    return names


def read_module(buf):
    if buf[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    pos, imported, bodies, data, names = 8, 0, [], b"", {}
    while pos < len(buf):
        section_id = buf[pos]
        size, pos = leb128(buf, pos + 1)
        end = pos + size
        if section_id == 2:
            imported = imported_function_count(buf, pos)
        elif section_id == 10:
            count, p = leb128(buf, pos)
            for _ in range(count):
                length, p = leb128(buf, p)
                bodies.append(buf[p : p + length])
                p += length
        elif section_id == 11:
            data = buf[pos:end]
        elif section_id == 0:
            length, p = leb128(buf, pos)
            if buf[p : p + length] == b"name":
                names = function_names(buf, p + length, end)
        pos = end
    return imported, bodies, data, names


def crate_of(name):
    if name is None:
        return "(unnamed)"
    if name.startswith("hyphaserver_"):
        return "exports"
    # The first crate named: the function's own, or the one implementing a trait for a type.
    match = re.search(r"([a-z_][a-z_0-9]*)\[[0-9a-f]+\]::", name)
    if match:
        return match.group(1)
    if re.match(r"<(str|char|\[|u\d|i\d|usize|isize|f\d|bool)", name):
        return "core"  # methods of primitive types carry no crate in their names
    if name.startswith("__externref") or name.startswith("__wbindgen"):
        return "wasm_bindgen"
    return "other"


def main(path):
    buf = open(path, "rb").read()
    imported, bodies, data, names = read_module(buf)
    if not names:
        sys.exit(f"{path} has no function names: build it with scripts/build-wasm.sh --names DIR")
    groups = collections.defaultdict(list)
    for i, body in enumerate(bodies):
        groups[crate_of(names.get(imported + i))].append(body)
    code = b"".join(bodies)
    gz = lambda b: len(gzip.compress(b, 9))
    print(f"| part | raw bytes | gzip -9 alone |\n|---|---|---|")
    small_raw = small_gz = 0
    for crate, parts in sorted(groups.items(), key=lambda kv: -sum(map(len, kv[1]))):
        raw = b"".join(parts)
        if len(raw) < 1500:
            small_raw, small_gz = small_raw + len(raw), small_gz + gz(raw)
            continue
        print(f"| {crate} | {len(raw)} | {gz(raw)} |")
    print(f"| (crates under 1.5 KB each) | {small_raw} | {small_gz} |")
    print(f"| data section | {len(data)} | {gz(data)} |")
    print(f"| all code, gzipped whole | {len(code)} | {gz(code)} |")
    # What the browser downloads has no name section; its size is the shipped file's.
    print(f"\n{path}: {len(buf)} bytes with names; {len(bodies)} functions")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
