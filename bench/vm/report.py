#!/usr/bin/env python3
"""Turn the benchmark's raw runs into a table, ratios, targets and a chart.

    report.py --dest DIR [--raw raw.jsonl --env env.txt --host host.txt]
              [--latest RESULTS_ROOT]

With --raw, the guest's raw.jsonl (one line per run, fio's JSON report
inside) becomes DIR/raw.csv, and the guest's env.txt and the host's
host.txt are merged into DIR/env.txt.  Without it, DIR/raw.csv and
DIR/env.txt are read again (to regenerate the report).  Writes
DIR/RESULTS.md and DIR/chart.png (gnuplot); with --latest, also
RESULTS_ROOT/latest.md and RESULTS_ROOT/latest.png.

Python 3 standard library only; the chart needs gnuplot (gnuplot-nox).
"""

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

JOBS = [
    # id, title, unit ("iops" or "mibs")
    ("rr4k-qd1", "4k randread QD1", "iops"),
    ("rr4k-qd32", "4k randread QD32", "iops"),
    ("rw4k-qd32", "4k randwrite QD32", "iops"),
    ("sr1m-qd8", "1M read QD8", "mibs"),
    ("sw1m-qd8", "1M write QD8", "mibs"),
    ("rr4k-qd1-busy", "4k randread QD1, one CPU busy", "iops"),
    ("rr4k-qd32-busy", "4k randread QD32, one CPU busy", "iops"),
    ("rr4k-qd32-2q", "4k randread QD32, 2 queues, 2 jobs", "iops"),
]
JOB_TITLE = {j: t for j, t, _ in JOBS}
JOB_UNIT = {j: u for j, _, u in JOBS}

# The busy jobs are the quiet ones again beside stress-ng.
BUSY_OF = {"rr4k-qd1-busy": "rr4k-qd1", "rr4k-qd32-busy": "rr4k-qd32"}

# qemu-storage-daemon on the file, in each set-up measured; "qsd-best" is,
# job by job, the one with the highest median: the peer at its best.
QSD_FILE = ["qsd-file", "qsd-file-uring", "qsd-file-iou"]

CONTENDERS = ["vdk-ram", "vdk-ram-1q", "vdk-file", "vdk-file-base",
              "vdk-file-nopoll", "vdk-file-split", "vdk-file-inorder",
              "qsd-best", "qsd-file", "qsd-file-uring", "qsd-file-iou",
              "qsd-null",
              "vdk-nbd", "nbd", "fio-nbd", "null_blk", "vdk-rbd", "qsd-rbd",
              "vdk-file-root", "vdk-ram-root", "vdk-nbd-base", "qsd-nbd",
              "vdk-rbd-base"]
CONTENDER_NOTE = {
    "vdk-ram": "vdk blk, ram backend",
    "vdk-ram-1q": "vdk blk, ram backend, 1 queue (2-queue job only)",
    "vdk-file": "vdk blk, file backend: a file on tmpfs (page cache)",
    "qsd-file": "qemu-storage-daemon vduse-blk export of the same file "
                "(file driver, cache.direct=off, default aio=threads)",
    "qsd-file-uring": "qsd-file with aio=io_uring",
    "qsd-file-iou": "qsd-file with aio=io_uring and an iothread (its "
                    "default adaptive polling): the set-up QEMU's "
                    "documentation offers for speed",
    "qsd-best": "not a run: job by job, the qsd-file set-up with the "
                "highest median (named in the targets)",
    "vdk-file-nopoll": "vdk-file with VDK_POLL_US=0: queues never poll, "
                       "every request is a kick",
    "vdk-file-split": "vdk-file with split rings forced (--ring split); "
                      "vdk-file itself offers packed rings",
    "vdk-file-inorder": "vdk-file offering VIRTIO_F_IN_ORDER too "
                        "(--in-order; taken by Linux 7.x drivers)",
    "vdk-file-base": "vdk-file served by another vdk binary (run.sh "
                     "--base: the commit before)",
    "qsd-null": "qemu-storage-daemon vduse-blk export of a null-co node "
                "(reads return without touching the buffers)",
    "vdk-nbd": "vdk blk, nbd backend on an nbdkit memory export, unix "
               "socket (one connection per queue), shared with qsd-nbd and "
               "vdk-nbd-base when they run; daemon CPU is vdk's alone",
    "nbd": "nbdkit memory plugin + kernel nbd client, unix socket "
           "(2 connections for the 2-queue job)",
    "fio-nbd": "fio's nbd engine (libnbd) straight on an nbdkit memory "
               "export, no block device: what any user-space NBD client "
               "pays at least; daemon CPU is nbdkit's",
    "null_blk": "kernel null_blk, no memory backing, softirq completion: "
                "the block layer's ceiling",
    "vdk-rbd": "vdk blk, rbd backend, on an image of a single-node Ceph "
               "cluster in the guest (one monitor, one bluestore OSD on "
               "tmpfs); daemon CPU is vdk's alone, the OSD's is apart",
    "qsd-rbd": "qemu-storage-daemon vduse-blk export of an rbd blockdev on "
               "the same image (librbd defaults on both sides)",
    "vdk-file-root": "vdk-file served as root in one process "
                     "(--no-confine): the confinement's cost",
    "vdk-ram-root": "vdk-ram served as root in one process (--no-confine)",
    "vdk-nbd-base": "vdk-nbd served by another vdk binary (run.sh --base: "
                    "the commit before), on the same export",
    "vdk-rbd-base": "vdk-rbd served by another vdk binary (run.sh --base: "
                    "the commit before), on the same image",
    "qsd-nbd": "qemu-storage-daemon vduse-blk export over its nbd block "
               "driver (one connection), on the same nbdkit export as "
               "vdk-nbd: the user-space peer",
}

# Ratios shown for every job: (numerator, denominator).
RATIOS = [("vdk-file", "qsd-best"), ("vdk-file", "qsd-file"),
          ("vdk-ram", "qsd-null"), ("vdk-file", "null_blk"),
          ("vdk-file", "vdk-file-base"), ("vdk-file", "vdk-file-nopoll"),
          ("vdk-file", "vdk-file-split"), ("vdk-file-inorder", "vdk-file"),
          ("vdk-ram", "qsd-file"), ("vdk-ram", "nbd"), ("vdk-file", "nbd"),
          ("vdk-nbd", "nbd"), ("fio-nbd", "nbd"), ("vdk-nbd", "fio-nbd"),
          ("vdk-ram", "null_blk"),
          ("vdk-ram", "vdk-ram-1q"), ("vdk-rbd", "qsd-rbd"),
          ("vdk-file", "vdk-file-root"), ("vdk-ram", "vdk-ram-root"),
          ("vdk-nbd", "qsd-nbd"), ("vdk-nbd", "vdk-nbd-base"),
          ("qsd-nbd", "nbd"), ("vdk-rbd", "vdk-rbd-base")]

# Targets: (job, what, the pair that decides, pairs shown beside it,
# threshold).  QSD is judged on the same backing as vdk (the file on
# tmpfs); null-co is shown beside it (it does not even touch the
# buffers, so on large transfers it is a copy ahead of any server).
OTHER_QSD = [("vdk-file", "qsd-file"), ("vdk-ram", "qsd-null")]
TARGETS = [
    ("rr4k-qd32", "vdk ≥ 2.0× the best QSD", ("vdk-file", "qsd-best"),
     OTHER_QSD, 2.0),
    ("rr4k-qd32", "vdk ≥ 2× nbd", ("vdk-ram", "nbd"), [("vdk-file", "nbd")],
     2.0),
    ("rr4k-qd32", "vdk ≥ 60 % of null_blk", ("vdk-ram", "null_blk"),
     [("vdk-file", "null_blk")], 0.6),
    ("rr4k-qd1", "vdk ≥ 25 % of null_blk", ("vdk-ram", "null_blk"),
     [("vdk-file", "null_blk")], 0.25),
    ("rr4k-qd1", "vdk ≥ 2× the best QSD", ("vdk-file", "qsd-best"),
     OTHER_QSD, 2.0),
    ("rr4k-qd1", "vdk ≥ 1× nbd", ("vdk-ram", "nbd"), [("vdk-file", "nbd")],
     1.0),
    ("sr1m-qd8", "vdk ≥ 1.5× the best QSD", ("vdk-file", "qsd-best"),
     OTHER_QSD, 1.5),
    ("sw1m-qd8", "vdk ≥ 1.5× the best QSD", ("vdk-file", "qsd-best"),
     OTHER_QSD, 1.5),
    ("rr4k-qd32-2q", "2 queues ≥ 1.5× vdk with 1 queue",
     ("vdk-ram", "vdk-ram-1q"), [], 1.5),
    # vdk's nbd backend against the kernel's nbd client, on the same
    # kind of nbdkit export.
    ("rr4k-qd32", "vdk nbd backend ≥ 1.5× kernel nbd", ("vdk-nbd", "nbd"),
     [("fio-nbd", "nbd")], 1.5),
    ("sr1m-qd8", "vdk nbd backend ≥ 1.5× kernel nbd", ("vdk-nbd", "nbd"),
     [("fio-nbd", "nbd")], 1.5),
    # vdk's nbd backend against its user-space peer, QSD's nbd driver
    # behind a vduse-blk export, on the same nbdkit export.
    ("rr4k-qd1", "vdk nbd backend ≥ 1.3× QSD nbd", ("vdk-nbd", "qsd-nbd"),
     [("vdk-nbd", "nbd")], 1.3),
    ("rr4k-qd32", "vdk nbd backend ≥ 1.3× QSD nbd", ("vdk-nbd", "qsd-nbd"),
     [("vdk-nbd", "nbd")], 1.3),
    ("sr1m-qd8", "vdk nbd backend ≥ 1.0× QSD nbd", ("vdk-nbd", "qsd-nbd"),
     [("vdk-nbd", "nbd")], 1.0),
    # No speed lost to the engine: the commit before, same boot.
    ("rr4k-qd1", "vdk-nbd ≥ 1.0× the commit before",
     ("vdk-nbd", "vdk-nbd-base"), [], 1.0),
    ("rr4k-qd32", "vdk-nbd ≥ 1.0× the commit before",
     ("vdk-nbd", "vdk-nbd-base"), [], 1.0),
    ("sr1m-qd8", "vdk-nbd ≥ 1.0× the commit before",
     ("vdk-nbd", "vdk-nbd-base"), [], 1.0),
] + [
    # vdk's rbd backend against QSD's rbd driver, on the same image.
    (j, "vdk rbd backend ≥ 1.0× QSD rbd", ("vdk-rbd", "qsd-rbd"), [], 1.0)
    for j, _, _ in JOBS
] + [
    # No speed lost to the engine: the commit before, same boot.
    (j, "vdk-rbd ≥ 1.0× the commit before", ("vdk-rbd", "vdk-rbd-base"),
     [], 1.0)
    for j, _, _ in JOBS
]

CSV_FIELDS = ["order", "rep", "job", "contender", "queues", "device",
              "scheduler",
              "start_s", "fio_status", "iops", "bw_mib_s", "clat_mean_us",
              "clat_p50_us", "clat_p99_us", "clat_p999_us", "lat_mean_us",
              "total_ios", "runtime_s", "fio_usr_pct", "fio_sys_pct",
              "daemon_cpu_s", "guest_busy_s", "osd_cpu_s", "busy_ops_s",
              "host_others_cpus",
              "error"]

# A run during which other work on the host took at least this many of its
# CPUs on average (the guest's vCPUs lost them) is marked as disturbed.
DISTURBED_CPUS = 0.25


# ---- raw runs ----

def pct(clat, key):
    p = (clat or {}).get("percentile") or {}
    v = p.get(key)
    return round(v / 1000.0, 1) if v is not None else ""


def row_from_run(r):
    fio = r.get("fio")
    row = {k: "" for k in CSV_FIELDS}
    for k in ("order", "rep", "job", "contender", "queues", "device",
              "scheduler", "start_s", "fio_status", "daemon_cpu_s", "guest_busy_s",
              "osd_cpu_s", "busy_ops_s"):
        row[k] = r.get(k, "")
    if not fio or not fio.get("jobs"):
        row["error"] = r.get("error", "no fio report")
        return row
    j = fio["jobs"][0]
    iops = bw = ios = 0.0
    lat_n = 0
    clat_mean = lat_mean = 0.0
    clat = None
    for d in ("read", "write"):
        s = j.get(d) or {}
        n = s.get("total_ios", 0)
        if n <= 0:
            continue
        iops += s.get("iops", 0.0)
        bw += s.get("bw_bytes", 0) / 1048576.0
        ios += n
        c = s.get("clat_ns") or {}
        clat_mean += c.get("mean", 0.0) * n
        lat_mean += (s.get("lat_ns") or {}).get("mean", 0.0) * n
        lat_n += n
        if clat is None or n > clat[0]:
            clat = (n, c)
    c = clat[1] if clat else {}
    row.update({
        "iops": round(iops, 1),
        "bw_mib_s": round(bw, 2),
        "clat_mean_us": round(clat_mean / lat_n / 1000.0, 1) if lat_n else "",
        "lat_mean_us": round(lat_mean / lat_n / 1000.0, 1) if lat_n else "",
        "clat_p50_us": pct(c, "50.000000"),
        "clat_p99_us": pct(c, "99.000000"),
        "clat_p999_us": pct(c, "99.900000"),
        "total_ios": int(ios),
        "runtime_s": round(j.get("job_runtime", 0) / 1000.0, 2),
        "fio_usr_pct": round(j.get("usr_cpu", 0.0), 1),
        "fio_sys_pct": round(j.get("sys_cpu", 0.0), 1),
    })
    if j.get("error"):
        row["error"] = "fio error %s" % j["error"]
    return row


def read_host_samples(path):
    """run.sh's samples: (epoch, host busy CPU s, QEMU's CPU s), in order.
    Files of the older two-column form give none."""
    out = []
    if not path or not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            w = line.split()
            if len(w) < 4:
                continue
            try:
                out.append((float(w[0]), float(w[2]), float(w[3])))
            except ValueError:
                continue
    return out


def host_others(samples, t0, t1):
    """CPUs that work other than QEMU took on the host between @t0 and
    @t1 (epoch seconds), on average: the sample intervals that overlap the
    run, each counted for its overlap.  None without samples there."""
    busy = 0.0
    span = 0.0
    for (a, ba, qa), (b, bb, qb) in zip(samples, samples[1:]):
        if b <= a:
            continue
        lo, hi = max(a, t0), min(b, t1)
        if hi <= lo:
            continue
        frac = (hi - lo) / (b - a)
        busy += max(0.0, (bb - ba) - (qb - qa)) * frac
        span += hi - lo
    if span < 0.5 * (t1 - t0):
        return None
    return busy / span


def read_jsonl(path, samples=()):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                print("report: %s:%d: not JSON (%s): skipped" % (path, n, e),
                      file=sys.stderr)
                continue
            row = row_from_run(r)
            t0, t1 = r.get("start_epoch"), r.get("end_epoch")
            if samples and t0 and t1 and t1 > t0:
                o = host_others(samples, float(t0), float(t1))
                if o is not None:
                    row["host_others_cpus"] = round(o, 2)
            rows.append(row)
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_env(*paths):
    env = {}
    for p in paths:
        if not p or not os.path.exists(p):
            continue
        with open(p, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    env[k] = v
    return env


# ---- statistics ----

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def value(row):
    """The job's figure of merit: IOPS, or MiB/s for the 1M jobs."""
    if row.get("error") or num(row.get("iops")) is None:
        return None
    return num(row["bw_mib_s"] if JOB_UNIT.get(row["job"]) == "mibs"
               else row["iops"])


class Stats:
    def __init__(self, rows, ramp=0.0):
        self.ramp = ramp
        self.rows = rows
        self.runs = {}      # (job, contender) -> {rep: row}
        self.failed = []
        for r in rows:
            if value(r) is None:
                self.failed.append(r)
                continue
            self.runs.setdefault((r["job"], r["contender"]), {})[
                int(r["rep"])] = r
        # The peer at its best, job by job.
        self.best = {}
        for job in {j for j, _ in self.runs}:
            med = [(self.median(job, c), c) for c in QSD_FILE
                   if self.median(job, c)]
            if med:
                self.best[job] = max(med)[1]
                self.runs[(job, "qsd-best")] = self.runs[(job,
                                                          self.best[job])]

    def jobs(self):
        seen = {j for j, _ in self.runs}
        return [j for j, _, _ in JOBS if j in seen]

    def contenders(self, job=None):
        seen = {c for j, c in self.runs if job is None or j == job}
        return [c for c in CONTENDERS if c in seen]

    def values(self, job, c, field=None):
        reps = self.runs.get((job, c), {})
        out = []
        for rep in sorted(reps):
            v = value(reps[rep]) if field is None else num(reps[rep][field])
            if v is not None:
                out.append(v)
        return out

    def median(self, job, c, field=None):
        v = self.values(job, c, field)
        return statistics.median(v) if v else None

    def per_io(self, job, c, field):
        """Median over runs of FIELD (CPU seconds) per I/O, in µs.

        The CPU time covers fio's whole run, ramp included, while fio
        counts I/Os after the ramp only: the I/Os of the window are taken
        as IOPS × (ramp + runtime).
        """
        reps = self.runs.get((job, c), {})
        v = []
        for r in reps.values():
            cpu, iops = num(r.get(field)), num(r.get("iops"))
            rt = num(r.get("runtime_s"))
            if cpu is None or not iops or not rt:
                continue
            v.append(cpu / (iops * (rt + self.ramp)) * 1e6)
        return statistics.median(v) if v else None

    def ratio(self, job, a, b):
        ma, mb = self.median(job, a), self.median(job, b)
        if not ma or not mb:
            return None
        reps_a = self.runs.get((job, a), {})
        reps_b = self.runs.get((job, b), {})
        paired = [value(reps_a[r]) / value(reps_b[r])
                  for r in sorted(set(reps_a) & set(reps_b))
                  if value(reps_b[r])]
        return ma / mb, paired


# ---- formatting ----

def fmt_num(v, unit):
    if v is None:
        return "–"
    if unit == "mibs":
        return "%.0f" % v if v >= 100 else "%.1f" % v
    return "{:,.0f}".format(v)


def fmt_ratio(rt, bold=False):
    if rt is None:
        return "–"
    m, paired = rt
    s = ("**%.2f×**" if bold else "%.2f×") % m
    if len(paired) > 1:
        s += " (%.2f–%.2f)" % (min(paired), max(paired))
    return s


def fmt_us(v):
    if v is None:
        return "–"
    return "%.0f" % v if v >= 10 else "%.1f" % v


def table(headers, rows, align=None):
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def target_rows(st):
    rows, status = [], []
    measured = set(st.contenders())
    for job, what, (a, b), others, thr in TARGETS:
        # A pair neither of whose contenders ran at all (a partial run,
        # or the rbd contenders, which run only when named): no row.
        if not {a, b} & measured:
            continue
        rt = st.ratio(job, a, b)
        if rt is None:
            s = "not measured"
        elif rt[0] >= thr:
            s = "**met**"
        else:
            s = "**missed**"
        beside = []
        for oa, ob in others:
            ort = st.ratio(job, oa, ob)
            if ort:
                beside.append("%s/%s %.2f×" % (oa, ob, ort[0]))
        if b == "qsd-best" and job in st.best:
            beside.insert(0, "best QSD: %s" % st.best[job])
        if job == "rr4k-qd32-2q":
            one = st.median("rr4k-qd32", "vdk-ram")
            two = st.median(job, "vdk-ram")
            if one and two:
                beside.append("vdk-ram 2 jobs on 2 queues / 1 job QD32 on "
                              "1 queue %.2f×" % (two / one))
        status.append((job, what, s))
        rows.append([JOB_TITLE[job], what,
                     "%s/%s %s" % (a, b, fmt_ratio(rt, True)) if rt else "–",
                     "; ".join(beside) or "–", s])
    return rows, status


def busy_rows(st, env):
    """The busy machine: each contender's busy figure against its quiet
    one, and what stress-ng kept of its rate alone; then the target: vdk
    falls no further behind its quiet figure than the best QSD does."""
    alone = num(env.get("busy_alone_ops_s"))
    rows, status = [], []
    for job, quiet in BUSY_OF.items():
        keep = {}
        for c in st.contenders(job):
            if c == "qsd-best":
                continue
            b, q = st.median(job, c), st.median(quiet, c)
            ops = st.median(job, c, "busy_ops_s")
            if b is None or q is None:
                continue
            keep[c] = b / q
            rows.append([JOB_TITLE[job], c, fmt_num(q, "iops"),
                         fmt_num(b, "iops"), "%.2f" % (b / q),
                         "{:,.0f}".format(ops) if ops else "–",
                         "%.0f %%" % (100 * ops / alone)
                         if ops and alone else "–"])
        # The peer at its best is the QSD set-up best on the quiet job:
        # the share of its quiet figure that it keeps.
        peer = st.best.get(quiet)
        if "vdk-file" in keep and peer in keep:
            v, p = keep["vdk-file"], keep[peer]
            status.append((job, "vdk keeps ≥ the best QSD's share of its "
                           "quiet figure", "vdk-file %.2f, %s %.2f" % (
                               v, peer, p),
                           "**met**" if v >= p else "**missed**"))
    return rows, status


def results_md(st, env, rel_chart, title):
    L = []
    L.append("# %s" % title)
    L.append("")
    L.append("vdk blk beside qemu-storage-daemon's vduse-blk export, NBD and "
             "null_blk, in one boot of the test guest (QEMU TCG: absolute "
             "figures mean little, compare within the table). Medians of "
             "%s interleaved runs per cell, min–max in parentheses."
             % env.get("reps", "?"))
    L.append("")
    L.append("![chart](%s)" % rel_chart)
    L.append("")

    L.append("## Medians")
    L.append("")
    cs = st.contenders()
    rows = []
    for job in st.jobs():
        unit = JOB_UNIT[job]
        r = [JOB_TITLE[job], "IOPS" if unit == "iops" else "MiB/s"]
        for c in cs:
            v = st.values(job, c)
            if not v:
                r.append("–")
                continue
            r.append("%s (%s–%s)" % (fmt_num(statistics.median(v), unit),
                                     fmt_num(min(v), unit),
                                     fmt_num(max(v), unit)))
        rows.append(r)
    L.append(table(["job", "unit"] + cs, rows, ["l", "l"] + ["r"] * len(cs)))
    L.append("")

    L.append("## Ratios of medians")
    L.append("")
    L.append("In parentheses, the range of the ratios of runs of the same "
             "repetition (run next to each other).")
    L.append("")
    ratios = [(a, b) for a, b in RATIOS
              if any(st.ratio(j, a, b) for j in st.jobs())]
    rows = []
    for job in st.jobs():
        rows.append([JOB_TITLE[job]] +
                    [fmt_ratio(st.ratio(job, a, b)) for a, b in ratios])
    L.append(table(["job"] + ["%s / %s" % p for p in ratios], rows))
    L.append("")

    L.append("## Targets")
    L.append("")
    L.append("Each target is judged on the ratio of medians of one pair: "
             "against QSD, vdk-file/qsd-best (the same file on tmpfs "
             "behind both; qsd-best is, job by job, the best median of "
             "QSD's set-ups on the file); against nbd and null_blk, "
             "vdk-ram; on RBD, "
             "vdk-rbd/qsd-rbd (the same image behind both). Other "
             "pairs are shown beside it. qsd-null is no storage at all: "
             "its reads do not even write the buffers.")
    L.append("")
    trows, _ = target_rows(st)
    brows, bstatus = busy_rows(st, env)
    for job, what, dec, s in bstatus:
        trows.append([JOB_TITLE[job], what, dec, "–", s])
    L.append(table(["job", "target", "decides", "beside it", "status"],
                   trows, ["l", "l", "l", "l", "l"]))
    L.append("")

    if brows:
        L.append("## A busy machine")
        L.append("")
        L.append("The 4k jobs again while stress-ng (`--cpu 1 --cpu-method "
                 "int64`) keeps one of the guest's two CPUs busy. "
                 "busy/quiet is what a contender keeps of its quiet "
                 "figure; stress-ng's rate beside it, against its rate "
                 "alone (%s bogo ops/s), is what the serving left to "
                 "other work." % env.get("busy_alone_ops_s", "?"))
        L.append("")
        L.append(table(["job", "contender", "quiet IOPS", "busy IOPS",
                        "busy/quiet", "stress-ng ops/s", "of alone"],
                       brows, ["l", "l", "r", "r", "r", "r", "r"]))
        L.append("")

    L.append("## Latency and CPU per I/O (medians)")
    L.append("")
    L.append("Completion latency percentiles from fio; CPU time of the "
             "serving process (vdk, qemu-storage-daemon, nbdkit: all "
             "threads) and of the whole guest (both vCPUs, everything but "
             "idle) per I/O, over fio's whole run: fio's own start and end "
             "are counted too, so the guest figure is slightly overstated.")
    L.append("")
    # The Ceph OSD's CPU (rbd contenders) gets a column when recorded.
    osd = any(st.per_io(j, c, "osd_cpu_s") is not None
              for j in st.jobs() for c in st.contenders(j))
    rows = []
    for job in st.jobs():
        for c in st.contenders(job):
            if c == "qsd-best":
                continue
            rows.append([JOB_TITLE[job], c,
                         fmt_us(st.median(job, c, "clat_p50_us")),
                         fmt_us(st.median(job, c, "clat_p99_us")),
                         fmt_us(st.median(job, c, "clat_p999_us")),
                         fmt_us(st.per_io(job, c, "daemon_cpu_s"))] +
                        ([fmt_us(st.per_io(job, c, "osd_cpu_s"))]
                         if osd else []) +
                        [fmt_us(st.per_io(job, c, "guest_busy_s"))])
    L.append(table(["job", "contender", "p50 µs", "p99 µs", "p99.9 µs",
                    "daemon CPU µs/IO"] + (["OSD CPU µs/IO"] if osd else []) +
                   ["guest CPU µs/IO"], rows,
                   ["l", "l", "r", "r", "r", "r", "r"] + (["r"] if osd
                                                          else [])))
    L.append("")

    others = [(float(r["host_others_cpus"]), r) for r in st.rows
              if r.get("host_others_cpus") not in (None, "")]
    if others:
        cpus = [o for o, _ in others]
        bad = [(o, r) for o, r in others if o >= DISTURBED_CPUS]
        L.append("## Host disturbance")
        L.append("")
        L.append("Work other than QEMU on the host, in CPUs taken on "
                 "average over each run (run.sh samples the host every "
                 "2 s): under TCG a guest that loses host CPU runs slower "
                 "as a whole, whichever contender runs. Median %.2f, "
                 "highest %.2f over %d runs; %d at %.2f or more%s"
                 % (statistics.median(cpus), max(cpus), len(cpus),
                    len(bad), DISTURBED_CPUS, ":" if bad else "."))
        if bad:
            L.append("")
            for o, r in bad:
                L.append("- rep %s %s %s: %.2f CPUs" % (
                    r["rep"], r["job"], r["contender"], o))
        L.append("")

    if st.failed:
        L.append("## Failed runs")
        L.append("")
        for r in st.failed:
            L.append("- rep %s %s %s: %s" % (r["rep"], r["job"],
                                              r["contender"],
                                              r.get("error") or "no result"))
        L.append("")

    L.append("## How it was run")
    L.append("")
    if env.get("command"):
        L.append("```sh\n%s\n```" % env["command"])
        L.append("")
    info = [
        ("date", env.get("date")),
        ("git commit", env.get("git_commit")),
        ("guest kernel", env.get("kernel")),
        ("guest", "%s vCPUs (%s), %s MiB, QEMU TCG %s" % (
            env.get("guest_cpus", "?"), env.get("guest_cpu", "?"),
            env.get("guest_mem_mib", "?"), env.get("host_qemu", "?"))),
        ("host", "%s, %s CPUs, %s" % (env.get("host_cpu", "?"),
                                      env.get("host_cpus", "?"),
                                      env.get("host_os", "?"))),
        ("host load average", "%s at the start, %s at the end%s (the "
         "guest's vCPUs count for about 2: more is other work on the host)"
         % (env.get("host_load_start", "?"), env.get("host_load_end", "?"),
            "; 1-minute load during the run %s–%s, median %s" % (
                env["host_load_min"], env["host_load_max"],
                env["host_load_median"])
            if env.get("host_load_samples") else "")),
        ("vdk", env.get("vdk")),
        ("qemu-storage-daemon", env.get("pkg_qemu-utils")),
        ("fio", env.get("pkg_fio")),
        ("nbdkit", env.get("pkg_nbdkit")),
        ("nbd-client", env.get("pkg_nbd-client")),
        ("Ceph", env.get("ceph")),
        ("fio settings", "ioengine=%s, direct=1, ramp %s s, runtime %s s, "
         "randseed %s, norandommap; disks of %s MiB; reads of written data "
         "(vdk-ram, nbd and the file filled first)" % (
             env.get("ioengine", "?"), env.get("ramp_s", "?"),
             env.get("runtime_s", "?"),
             env.get("seed", "?") + (" plus the run's number"
                                     if env.get("seed_per_run") else ""),
             env.get("size_mib", "?"))),
        ("order", "rep by rep; in each rep every contender in turn (the "
         "first rotating from rep to rep) is set up alone, filled, run "
         "through its jobs and torn down" if env.get(
             "one_contender_at_a_time") else "rep by rep; in each rep every "
         "job runs against every contender in turn, the first contender "
         "rotating from rep to rep"),
    ]
    for k, v in info:
        if v:
            L.append("- %s: %s" % (k, v))
    L.append("")
    L.append("Contenders:")
    L.append("")
    for c in cs:
        L.append("- `%s`: %s" % (c, CONTENDER_NOTE.get(c, "")))
    L.append("")
    L.append("Raw runs: [raw.csv](raw.csv); environment: [env.txt](env.txt).")
    L.append("")
    return "\n".join(L)


# ---- chart ----

def chart(st, path, title):
    gp = shutil.which("gnuplot")
    if not gp:
        print("report: gnuplot not found (apt-get install gnuplot-nox): "
              "no chart", file=sys.stderr)
        return False
    jobs = st.jobs()
    cs = st.contenders()
    colors = {"vdk-ram": "#1b7837", "vdk-ram-1q": "#a6dba0",
              "vdk-file": "#5aae61", "qsd-file": "#762a83",
              "qsd-file-uring": "#9970ab", "qsd-file-iou": "#542788",
              "qsd-best": "#40004b", "vdk-file-base": "#d9f0d3",
              "qsd-null": "#c2a5cf", "vdk-nbd": "#92c5de", "nbd": "#2166ac",
              "fio-nbd": "#4393c3", "qsd-nbd": "#b2abd2",
              "vdk-nbd-base": "#d1e5f0",
              "null_blk": "#999999", "vdk-rbd": "#d95f02",
              "qsd-rbd": "#7570b3"}
    cols = 3
    rows = (len(jobs) + cols - 1) // cols
    g = []
    g.append("set terminal pngcairo size %d,%d font 'sans,10'"
             % (460 * cols, 330 * rows + 40))
    g.append("set output '%s'" % path.replace("'", ""))
    g.append("set multiplot layout %d,%d title \"%s\"" % (
        rows, cols, title.replace('"', "")))
    g.append("set style fill solid 0.9 border -1")
    g.append("set boxwidth 0.7")
    g.append("set grid ytics lc rgb '#dddddd'")
    g.append("set xtics rotate by -35 nomirror")
    g.append("set key off")
    g.append("set termoption noenhanced")
    # Log scale: null_blk is 5-20 times the others.
    g.append("set logscale y")
    g.append("set format y '%.0s%c'")
    for job in jobs:
        unit = JOB_UNIT[job]
        g.append("set title \"%s\"" % JOB_TITLE[job])
        g.append("set ylabel '%s, log scale'" %
                 ("IOPS" if unit == "iops" else "MiB/s"))
        data = []
        for i, c in enumerate(c for c in st.contenders(job)
                              if c != "qsd-best"):
            v = st.values(job, c)
            if not v:
                continue
            data.append("%d %s %g %g %g 0x%s" % (
                i, c, statistics.median(v), min(v), max(v),
                colors.get(c, "#888888")[1:]))
        g.append("$d << EOD")
        g.extend(data)
        g.append("EOD")
        lo = min(min(st.values(job, c)) for c in st.contenders(job))
        g.append("set yrange [%g:*]" % (10 ** int(math.log10(lo) - 1)
                                        if lo > 0 else 1))
        g.append("plot $d using 1:3:6:xtic(2) with boxes lc rgb variable, "
                 "$d using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0, "
                 "$d using 1:5:(sprintf('%s', $3 >= 100 ? "
                 "sprintf('%.0f', $3) : sprintf('%.1f', $3))) "
                 "with labels offset 0,0.7 font ',8'")
    g.append("unset multiplot")
    del cs
    r = subprocess.run([gp], input="\n".join(g) + "\n", text=True,
                       capture_output=True)
    if r.returncode != 0:
        print("report: gnuplot failed:\n" + r.stderr, file=sys.stderr)
        return False
    return True


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dest", required=True)
    ap.add_argument("--raw", help="the guest's raw.jsonl")
    ap.add_argument("--env", help="the guest's env.txt")
    ap.add_argument("--host", help="host.txt written by run.sh")
    ap.add_argument("--host-load",
                    help="host-load.txt written by run.sh (with --raw)")
    ap.add_argument("--latest", help="results root: update latest.md/png")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()

    os.makedirs(a.dest, exist_ok=True)
    csv_path = os.path.join(a.dest, "raw.csv")
    env_path = os.path.join(a.dest, "env.txt")
    if a.raw:
        rows = read_jsonl(a.raw, read_host_samples(a.host_load))
        write_csv(csv_path, rows)
        env = read_env(a.env, a.host)
        with open(env_path, "w", encoding="utf-8") as f:
            for k in sorted(env):
                f.write("%s=%s\n" % (k, env[k]))
    else:
        rows = read_csv(csv_path)
        env = read_env(env_path)
    if not rows:
        print("report: no runs", file=sys.stderr)
        return 1
    st = Stats(rows, num(env.get("ramp_s")) or 0.0)
    title = a.title or "vdk benchmark, %s, kernel %s" % (
        env.get("date", "?")[:10], env.get("kernel", "?"))
    have_chart = chart(st, os.path.join(a.dest, "chart.png"), title)
    md = results_md(st, env, "chart.png" if have_chart else "", title)
    with open(os.path.join(a.dest, "RESULTS.md"), "w",
              encoding="utf-8") as f:
        f.write(md)
    if a.latest:
        rel = os.path.relpath(a.dest, a.latest)
        latest = md.replace("](chart.png)", "](latest.png)")
        latest = latest.replace("](raw.csv)", "](%s/raw.csv)" % rel)
        latest = latest.replace("](env.txt)", "](%s/env.txt)" % rel)
        latest = latest.replace(
            "# %s" % title,
            "# %s\n\nThe newest full run, from [%s](%s/RESULTS.md). "
            "What limits each missed target, measured, and the partial "
            "runs since: [ANALYSIS.md](ANALYSIS.md)."
            % (title, rel, rel), 1)
        with open(os.path.join(a.latest, "latest.md"), "w",
                  encoding="utf-8") as f:
            f.write(latest)
        if have_chart:
            shutil.copyfile(os.path.join(a.dest, "chart.png"),
                            os.path.join(a.latest, "latest.png"))
    _, status = target_rows(st)
    status += [(j, w, s) for j, w, _, s in busy_rows(st, env)[1]]
    print("report: %d runs (%d failed) -> %s" % (
        len(rows), len(st.failed), os.path.join(a.dest, "RESULTS.md")))
    for job, what, s in status:
        print("  %-28s %-36s %s" % (JOB_TITLE[job], what, s.strip("*")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
