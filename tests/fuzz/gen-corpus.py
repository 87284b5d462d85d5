#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of the fuzzers (corpus/<target>/), small inputs in
each target's format: well-formed requests first, so that the fuzzer starts
from paths that reach deep, and a few of the classic hostile shapes.

    tests/fuzz/gen-corpus.py     (rewrites the files in place)
"""
import os
import struct

TOP = os.path.dirname(os.path.abspath(__file__))

NEXT, WRITE, INDIRECT = 1, 2, 4


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


# ---- fuzz-desc ----
# qsize byte, max_iovecs byte, cuts, data area, descriptors, perms, rounds.

def desc(addr=0, length=0, flags=0, nxt=0):
    """One descriptor, widening fields as needed (see read_desc())."""
    mode = 0
    tail = b''
    if addr > 0xffff:
        mode |= 1
        tail += u64(addr)
    if length > 0xffff:
        mode |= 4
        tail += u32(length)
    elif length > 0xff:
        mode |= 2
        tail += u16(length)
    if flags > 7:
        mode |= 8
        tail += u16(flags)
    if nxt > 0xff:
        mode |= 16
        tail += u16(nxt)
    return (u8(mode) + u16(addr) + u8(length) + u8(flags) + u8(nxt) +
            tail)


def desc_input(qlog=2, event_idx=False, max_iovecs=16, cuts=(), data=b'',
               descs=(), perms_before=(), perms_after=(), rounds=((0,),)):
    """rounds: tuples of heads, or (heads, opt, extra bytes)."""
    qsize = 2 << qlog
    out = u8(qlog | (0x80 if event_idx else 0)) + u8(max_iovecs - 1)
    out += u8(len(cuts))
    for c in cuts:
        out += u16(c - 0x2001)
    out += u16(len(data)) + data
    ds = list(descs) + [desc()] * (qsize - len(descs))
    for d in ds[:qsize]:
        out += d
    perms = perms_before if perms_before else perms_after
    out += u8(1 if perms_before else 0)
    out += u8(len(perms))
    for region, perm in perms:
        out += u8(region) + u8(perm)
    out += u8(len(rounds) - 1)
    for r in rounds:
        if isinstance(r[0], tuple):
            heads, opt, extra = r
        else:
            heads, opt, extra = r, 0, b''
        out += u8(len(heads))
        for h in heads:
            out += u8(h) if h < 0xf0 else u8(0xf0) + u16(h)
        out += u8(opt) + extra
    return out


def table(entries):
    """An indirect table's bytes: (addr, len, flags, next) each."""
    return b''.join(struct.pack('<QIHH', *e) for e in entries)


def blk_chain(first=0, write_data=True, data_len=512):
    """header, data, status as a direct chain at descriptors first..+2."""
    return [desc(0x3000, 16, NEXT, first + 1),
            desc(0x4000, data_len, NEXT | (WRITE if write_data else 0),
                 first + 2),
            desc(0x5000, 1, WRITE, 0)]


def fuzz_desc_seeds():
    s = {}
    s['blk-read'] = desc_input(descs=blk_chain())
    s['blk-write'] = desc_input(descs=blk_chain(write_data=False))
    s['blk-read-event-idx'] = desc_input(event_idx=True,
                                         descs=blk_chain())
    # Buffers crossing cuts.
    s['cuts'] = desc_input(cuts=(0x3008, 0x4001, 0x40ff, 0x4100, 0x5000,
                                 0x5001),
                           descs=blk_chain())
    # Indirect table at the start of the data area, itself cut in two.
    tab = table([(0x3000, 16, NEXT, 1), (0x4000, 512, WRITE | NEXT, 2),
                 (0x5000, 1, WRITE, 0)])
    s['indirect'] = desc_input(data=tab,
                               descs=[desc(0x2000, len(tab), INDIRECT)])
    s['indirect-split'] = desc_input(cuts=(0x2011,), data=tab,
                                     descs=[desc(0x2000, len(tab),
                                                 INDIRECT)])
    # Several requests in flight over rounds, half held each time.
    chains = blk_chain(0) + blk_chain(3) + blk_chain(6)[:2] + \
        [desc(0x6000, 1, WRITE, 0)]
    s['rounds'] = desc_input(qlog=3, descs=chains,
                             rounds=(((0,), 0x80, b''), ((3,), 0x80, b''),
                                     ((6,), 0, b'')))
    # Hostile shapes.
    s['loop'] = desc_input(descs=[desc(0x3000, 16, NEXT, 1),
                                  desc(0x3000, 16, NEXT, 0)])
    s['read-after-write'] = desc_input(descs=[desc(0x3000, 16, WRITE | NEXT,
                                                   1),
                                              desc(0x3000, 16, 0, 0)])
    s['head-out-of-range'] = desc_input(rounds=((0x200,),))
    s['unmapped'] = desc_input(cuts=(0x4000, 0x5000), descs=blk_chain(),
                               perms_after=((2, 0),))
    s['rings-unmapped'] = desc_input(descs=blk_chain(),
                                     perms_before=((0, 0),))
    s['wrap'] = desc_input(descs=[desc(0xfffffffffffffff0, 0x100, 0, 0)])
    s['avail-jump'] = desc_input(descs=blk_chain(),
                                 rounds=(((0,), 1, u16(0x1000)),))
    return s


def write(target, seeds):
    d = os.path.join(TOP, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    write('fuzz-desc', fuzz_desc_seeds())
