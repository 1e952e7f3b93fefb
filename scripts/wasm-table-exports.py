#!/usr/bin/env python3
"""wasm-table-exports.py BEFORE.wasm AFTER.wasm: puts AFTER's table exports back on tables of
the element type they had in BEFORE, and fails if that is not possible.

Debian 12's wasm-opt (binaryen 108) writes a module with two tables (the function table and
wasm-bindgen's externref table) with the table export `__wbindgen_externrefs` pointing at the
function table, even with no pass at all; the browser then fails in WebAssembly.Table.set and
the page never hydrates. The code itself keeps the right table indices, so only the export is
repointed, to the one table of the element type it had before. build_wasm runs this after
wasm-opt."""
import sys


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def enc(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sections(data):
    assert data[:4] == b"\0asm", "not a wasm module"
    i = 8
    while i < len(data):
        sid = data[i]
        size, body = leb(data, i + 1)
        yield sid, i, body, body + size
        i = body + size


def limits(data, i):
    flags = data[i]
    _, i = leb(data, i + 1)
    if flags & 1:
        _, i = leb(data, i)
    return i


def tables(data):
    """Element type of every table, imported ones first (their index order)."""
    types = []
    for sid, _, body, _end in sections(data):
        if sid == 2:  # imports
            n, i = leb(data, body)
            for _ in range(n):
                for _field in range(2):
                    length, i = leb(data, i)
                    i += length
                kind = data[i]
                i += 1
                if kind == 0:
                    _, i = leb(data, i)
                elif kind == 1:
                    types.append(data[i])
                    i = limits(data, i + 1)
                elif kind == 2:
                    i = limits(data, i)
                elif kind == 3:
                    i += 2
                else:
                    raise ValueError(f"import kind {kind}")
        if sid == 4:  # tables
            n, i = leb(data, body)
            for _ in range(n):
                types.append(data[i])
                i = limits(data, i + 1)
    return types


def exports(data):
    """(start, end) of the export section's body and its entries [name, kind, index]."""
    for sid, _, body, end in sections(data):
        if sid == 7:
            n, i = leb(data, body)
            entries = []
            for _ in range(n):
                length, i = leb(data, i)
                name = bytes(data[i : i + length])
                i += length
                kind = data[i]
                index, i = leb(data, i + 1)
                entries.append([name, kind, index])
            return body, end, entries
    return None, None, []


def main(before_path, after_path):
    before = open(before_path, "rb").read()
    after = bytearray(open(after_path, "rb").read())
    before_types = tables(before)
    wanted = {name: before_types[index] for name, kind, index in exports(before)[2] if kind == 1}
    after_types = tables(after)
    start, end, entries = exports(after)
    changed = False
    for entry in entries:
        name, kind, index = entry
        if kind != 1 or after_types[index] == wanted[name]:
            continue
        candidates = [i for i, t in enumerate(after_types) if t == wanted[name]]
        if len(candidates) != 1:
            sys.exit(f"{after_path}: no single table of type {wanted[name]:#x} for {name.decode()}")
        print(f"table export {name.decode()}: table {index} -> {candidates[0]} (wasm-opt's mistake)")
        entry[2] = candidates[0]
        changed = True
    if not changed:
        return
    body = bytearray(enc(len(entries)))
    for name, kind, index in entries:
        body += enc(len(name)) + name + bytes([kind]) + enc(index)
    # The section header (id and size) sits right before `start`; rewrite it with the body.
    header_start = next(s for sid, s, b, _ in sections(after) if sid == 7)
    after[header_start:end] = bytes([7]) + enc(len(body)) + body
    open(after_path, "wb").write(after)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: wasm-table-exports.py BEFORE.wasm AFTER.wasm")
    main(sys.argv[1], sys.argv[2])
