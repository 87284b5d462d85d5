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


# ---- fuzz-ctrl ----
# One byte per operation (index into ops[] in fuzz-ctrl.c), then its fields.

(OP_STATUS, OP_DRIVER_OK, OP_GET_VQ_STATE, OP_UPDATE_IOTLB, OP_RAW, OP_CUT,
 OP_PERM, OP_POST, OP_POST2, OP_POP, OP_POP2, OP_PUSH, OP_PUSH2, OP_NOTIFY,
 OP_KICK, OP_REAP, OP_CONFIG, OP_REOPEN, OP_START_RET) = range(19)
DATA = 0x4000
MEM = 0x10000


def post(q=0, bufs=((0x1000, 16, False), (0x2000, 512, True),
                    (0x3000, 1, True)), table=None, force_kick=False):
    readable = sum(1 for b in bufs if not b[2])
    out = u8(OP_POST) + u8(q) + u8(len(bufs) - 1) + u8(readable)
    out += u8((1 if table is not None else 0) | (2 if force_kick else 0))
    for iova, length, _ in bufs:
        out += u16(iova) + u16(length - 1)
    if table is not None:
        out += u16(table)
    return out


def pop(q=0, k=8):
    return u8(OP_POP) + u8(q) + u8(k - 1)


def push(q=0, k=8, length=0x200):
    return u8(OP_PUSH) + u8(q) + u8(k - 1) + u16(length)


def notify(q=0):
    return u8(OP_NOTIFY) + u8(q)


def reap(q=0):
    return u8(OP_REAP) + u8(q)


def serve(q=0, **kw):
    return post(q, **kw) + pop(q) + push(q) + notify(q) + reap(q)


def status(st):
    return u8(OP_STATUS) + u8(st)


def driver_ok(mask=3, event_idx=False, indirect=True, qlogs=(2, 2)):
    out = u8(OP_DRIVER_OK) + u8(mask)
    out += u8((1 if event_idx else 0) | (2 if indirect else 0))
    for q in range(2):
        if mask & (1 << q):
            out += u8(qlogs[q])
    return out


def fuzz_ctrl_seeds():
    s = {}
    s['serve'] = serve(0) + serve(1) + serve(0)
    s['serve-indirect'] = serve(0, table=0x8000) + serve(1, table=0x9000)
    s['reset-with-held'] = (post(0) + post(0) + pop(0) + status(0) +
                            driver_ok(event_idx=True) + serve(0))
    s['reopen'] = (post(0) + pop(0) + push(0) + notify(0) + reap(0) +
                   post(0) +
                   u8(OP_REOPEN) + post(0) + u8(OP_REOPEN) + pop(0) +
                   push(0) + notify(0) + reap(0))
    s['iotlb'] = (post(0) + pop(0) + u8(OP_UPDATE_IOTLB) + u8(0) +
                  u16(0x1000) + u16(0x2000) + push(0) + serve(0) +
                  u8(OP_UPDATE_IOTLB) + u8(1) + u64(0) + u64(2**64 - 1) +
                  serve(1))
    s['cut-and-perm'] = (u8(OP_CUT) + u8(3) + u16(0x1000) + u16(0x2008) +
                         u16(0x3000) + serve(0) + u8(OP_PERM) + u8(40) +
                         u8(0) + u16(0x2000) + u16(0x100) + serve(0) +
                         u8(OP_PERM) + u8(1) + u8(0) + serve(1) +
                         status(0) + u8(OP_PERM) + u8(1) + u8(3) +
                         driver_ok() + serve(1))
    s['vq-state'] = (post(0) + post(0) + pop(0) + u8(OP_GET_VQ_STATE) +
                     u8(0) + u8(OP_GET_VQ_STATE) + u8(3) + push(0))
    s['start-fails'] = (u8(OP_START_RET) + u8(1) + driver_ok() +
                        u8(OP_START_RET) + u8(0) + driver_ok() + serve(0))
    s['config-and-raw'] = (u8(OP_CONFIG) + u8(2) + u8(4) + u8(OP_CONFIG) +
                           u8(7) + u8(3) + u8(OP_RAW) + u32(0x55) +
                           u64(0) + u64(0) + serve(0))
    s['kick'] = (u8(OP_KICK) + u8(0) + post(0) + u8(OP_KICK) + u8(0x80) +
                 post(0) + pop(0) + push(0) + notify(0) + reap(0))
    return s


# ---- fuzz-params ----
# Words separated by spaces, as on the command line.

def fuzz_params_seeds():
    return {
        'file': b'path=/srv/disk.img direct=on readonly=off',
        'ram': b'size=16M block-size=4096',
        'rbd': (b'image=disk pool=rbd namespace=ns conf=/etc/ceph/ceph.conf '
                b'id=vdk keyring=/etc/ceph/ceph.client.vdk.keyring timeout=30'),
        'sizes': b'size=1k block-size=512 zeroes=on',
        'bad-key': b'Size=1G',
        'twice': b'size=1 size=2',
        'no-value': b'path= direct',
        'overflow': b'size=18446744073709551616 block-size=99999999999T',
        'control-char': b'path=a\x01b',
    }


# ---- fuzz-blk ----
# A cut offset, then requests: type, sector, layout, data length, header
# length, status present, 16 bytes of discard/write-zeroes segment.

def blk_req(typ, sector=0, layout=0, length=512, hlen=16, status=1,
            seg=b''):
    return (u32(typ) + u64(sector) + u8(layout) + u16(length) + u8(hlen) +
            u8(status) + (seg + bytes(16))[:16])


def fuzz_blk_seeds():
    zero_seg = u64(8) + u32(8) + u32(1)
    return {
        'write-read': (u16(0x100) + blk_req(1, 0, 0, 4096) +
                       blk_req(0, 0, 2, 4096)),
        'last-sector': blk_req(0, (1 << 20) // 512 - 1, 2, 512),
        'past-end': blk_req(0, (1 << 20) // 512, 2, 512),
        'overflow': blk_req(1, (1 << 64) - 1, 0, 512),
        'flush-getid': blk_req(4, 0, 0, 0) + blk_req(8, 0, 2, 20),
        'discard': blk_req(11, 0, 1, 0, seg=u64(0) + u32(16) + u32(0)),
        'zeroes-unmap': blk_req(13, 0, 1, 0, seg=zero_seg),
        'short-header': blk_req(0, 0, 2, 512, hlen=7),
        'no-status': blk_req(1, 0, 0, 512, status=0),
        'unknown': blk_req(0x99, 0, 2, 64),
    }


def write(target, seeds):
    d = os.path.join(TOP, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


# ---- fuzz-desc-packed ----
# num byte, flags byte (1 event index, 2 in-flight log), max_iovecs byte,
# cuts, data area, raw ring entries, perms, rounds of posted chains.

def pdesc(addr=0, length=0, flags=0, ident=0):
    """One packed descriptor, widening fields as needed (read_desc())."""
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
    if ident > 0xff:
        mode |= 16
        tail += u16(ident)
    return (u8(mode) + u16(addr) + u8(length) + u8(flags) + u8(ident) +
            tail)


def packed_input(num=8, event_idx=False, log=False, max_iovecs=16, cuts=(),
                 data=b'', raw=(), perms_before=(), perms_after=(),
                 rounds=()):
    """rounds: (chains, opt, extra, push_from); chains: lists of pdesc."""
    out = u8(num - 1) + u8((1 if event_idx else 0) | (2 if log else 0))
    out += u8(max_iovecs - 1) + u8(len(cuts))
    for c in cuts:
        out += u16(c - 0x2001)
    out += u16(len(data)) + data
    out += u8(len(raw)) + b''.join(raw)
    perms = perms_before if perms_before else perms_after
    out += u8(1 if perms_before else 0) + u8(len(perms))
    for region, perm in perms:
        out += u8(region) + u8(perm)
    out += u8(len(rounds) - 1)
    for chains, opt, extra, push_from in rounds:
        out += u8(len(chains))
        for c in chains:
            out += u8(len(c) - 1) + b''.join(c)
        out += u8(opt) + extra + u8(push_from)
    return out


def ptable(entries):
    """A packed indirect table: (addr, len, flags) each."""
    return b''.join(struct.pack('<QIHH', a, n, 0, f) for a, n, f in entries)


def pblk(ident=0):
    return [pdesc(0x3000, 16, NEXT, ident),
            pdesc(0x4000, 512, NEXT | WRITE, ident),
            pdesc(0x5000, 1, WRITE, ident)]


def fuzz_desc_packed_seeds():
    s = {}
    one = (([pblk()], 0, b'', 0),)
    s['blk-read'] = packed_input(rounds=one)
    s['blk-read-event-idx'] = packed_input(
        event_idx=True, rounds=(([pblk()], 2 | 4 | 8, u8(2) + u16(1), 0),))
    two = [[pdesc(0x3000, 16, NEXT, i), pdesc(0x5000, 1, WRITE, i)]
           for i in range(3)]
    s['odd-size'] = packed_input(num=5, rounds=((two[:2], 0x20, b'', 1),
                                                (two[2:], 0, b'', 0)))
    s['cuts'] = packed_input(cuts=(0x3008, 0x4001, 0x40ff, 0x4100, 0x5000),
                             rounds=one)
    tab = ptable([(0x3000, 16, NEXT), (0x4000, 512, WRITE), (0x5000, 1,
                                                            WRITE)])
    ind = [pdesc(0x2000, len(tab), INDIRECT, 3)]
    s['indirect'] = packed_input(data=tab, rounds=(([ind], 0, b'', 0),))
    s['indirect-split'] = packed_input(cuts=(0x2011,), data=tab,
                                       rounds=(([ind], 0, b'', 0),))
    # Held over rounds, out of order, across the wrap, with restarts.
    held = [pblk(i) for i in range(2)]
    s['restart'] = packed_input(
        log=True, data=tab,
        rounds=((held, 0x20, b'', 1), ([ind], 0x80 | 0x20, b'', 0),
                ([pblk(5)], 0x80, b'', 1), ([pblk(6)], 0, b'', 0)))
    s['wrap'] = packed_input(num=4, rounds=tuple(
        ([pblk(i % 4)], 0x40, b'', 0) for i in range(8)))
    # Hostile shapes.
    s['id-out-of-range'] = packed_input(
        rounds=(([[pdesc(0x3000, 16, 0, 200)]], 0, b'', 0),))
    s['read-after-write'] = packed_input(
        rounds=(([[pdesc(0x3000, 16, WRITE | NEXT), pdesc(0x3000, 16)]], 0,
                 b'', 0),))
    s['too-long'] = packed_input(
        num=4, rounds=(([[pdesc(0x3000, 16, NEXT)] * 4], 0, b'', 0),))
    s['raw-rewrite'] = packed_input(
        rounds=(([pblk()], 1, u8(1) + pdesc(0x3000, 16, 0x8000 | NEXT, 0),
                 0),))
    s['buffer-wraps'] = packed_input(
        rounds=(([[pdesc(0xfffffffffffffff0, 0x100)]], 0, b'', 0),))
    s['unmapped'] = packed_input(cuts=(0x4000, 0x5000), perms_after=((2, 0),),
                                 rounds=one)
    s['ring-unmapped'] = packed_input(perms_before=((0, 0),), rounds=one)
    return s


if __name__ == '__main__':
    write('fuzz-desc', fuzz_desc_seeds())
    write('fuzz-desc-packed', fuzz_desc_packed_seeds())
    write('fuzz-ctrl', fuzz_ctrl_seeds())
    write('fuzz-params', fuzz_params_seeds())
    write('fuzz-blk', fuzz_blk_seeds())
