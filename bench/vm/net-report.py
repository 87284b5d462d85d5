#!/usr/bin/env python3
"""The virtio-net benchmark's report (bench/vm/net.sh).

    net-report.py --dest DIR [--quick 0|1]

Reads DIR/raw.jsonl (one line per run: job, contender, CPU seconds of the
serving processes and of the whole guest, the client's output file under
DIR/runs/), DIR/env.txt (guest) and DIR/host.txt (host); writes
DIR/raw.csv and DIR/RESULTS.md: per job and contender the median rate
(min-max over the reps) and the CPU it cost per GiB, per transaction or
per packet, then the ratios behind the targets.  Python 3 standard
library only.

CPU per unit is the CPU rate over the whole run (CPU seconds / wall
seconds, client start-up included) divided by the rate the client
measured: the same rule for every contender.
"""

import argparse
import csv
import json
import os
import re
import statistics

# job, title, kind (tcp: bytes; rr: transactions; udp: packets)
JOBS = [
    ("tcp-tx", "TCP, 1 stream, from m0 (iperf3)", "tcp"),
    ("tcp-rx", "TCP, 1 stream, to m0 (iperf3 -R)", "tcp"),
    ("rr-tcp", "TCP request/response, 64 B, 1 in flight (sockperf pp)", "rr"),
    ("rr-udp", "UDP request/response, 64 B, 1 in flight (sockperf pp)", "rr"),
    ("udp64-tx", "UDP 64 B packets from m0, received (iperf3 -u -b 0)", "udp"),
    ("udp64-rx", "UDP 64 B packets to m0, received (iperf3 -u -b 0 -R)",
     "udp"),
]
CONTENDERS = ["vdk", "dpdk", "veth"]
NOTES = {
    "vdk": "vdk net + tap (`vdk add --type net vnb tap`, virtio_vdpa); the "
           "tap bridged to a veth whose peer is in the other namespace; "
           "serving CPU: the daemon and its server process",
    "dpdk": "dpdk-testpmd serving the VDUSE net device itself "
            "(`--vdev net_vhost0,iface=/dev/vduse/dpk0`, `vdpa dev add`, "
            "virtio_vdpa), io forwarding to a `net_tap` PMD tap bridged as "
            "vdk's; serving CPU: testpmd (one lcore busy-polls)",
    "veth": "a veth pair between the two namespaces: the in-kernel "
            "ceiling; no serving process",
}
GIB = 1 << 30


def kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def parse_iperf(text, kind):
    """(rate, units in the run) of an iperf3 -J report: bytes/s for TCP,
    packets/s received for UDP."""
    try:
        j = json.loads(text)
    except ValueError:
        return None
    end = j.get("end", {})
    if kind == "tcp":
        s = end.get("sum_received")
        if not s or not s.get("seconds"):
            return None
        return s["bytes"] / s["seconds"]
    s = end.get("sum_received") or end.get("sum")
    if not s or "packets" not in s or not s.get("seconds"):
        s = end.get("sum")
    if not s or "packets" not in s or not s.get("seconds"):
        return None
    got = s["packets"] - s.get("lost_packets", 0)
    return got / s["seconds"]


SOCKPERF = re.compile(r"RunTime=([0-9.]+) sec; SentMessages=(\d+); "
                      r"ReceivedMessages=(\d+)")


def parse_sockperf(text):
    m = SOCKPERF.search(text)
    if not m or float(m.group(1)) <= 0:
        return None
    return int(m.group(3)) / float(m.group(1))


def fmt_rate(v, kind):
    if kind == "tcp":
        return f"{v * 8 / 1e9:.2f}"
    if kind == "udp":
        return f"{v / 1000:.1f}k"
    return f"{v:.0f}"


UNIT = {"tcp": "Gbit/s", "rr": "transactions/s", "udp": "packets/s"}
CPU_UNIT = {"tcp": "CPU s / GiB", "rr": "CPU µs / transaction",
            "udp": "CPU µs / packet"}


def per_unit(cpu_s, wall_s, rate, kind):
    if not rate or not wall_s:
        return None
    r = cpu_s / wall_s / rate
    return r * GIB if kind == "tcp" else r * 1e6


def fmt_cpu(v, kind):
    if v is None:
        return "-"
    return f"{v:.2f}" if kind == "tcp" else f"{v:.1f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", required=True)
    ap.add_argument("--quick", default="0")
    a = ap.parse_args()
    runs = []
    with open(os.path.join(a.dest, "raw.jsonl")) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    kinds = {j: k for j, _, k in JOBS}
    rows = []
    for r in runs:
        kind = kinds.get(r["job"])
        text = ""
        p = os.path.join(a.dest, r["out"])
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                text = f.read()
        rate = None
        if r["status"] == 0 and kind:
            rate = (parse_sockperf(text) if kind == "rr"
                    else parse_iperf(text, kind))
        r["rate"] = rate
        r["serve_per"] = per_unit(r["serve_cpu_s"], r["wall_s"], rate, kind)
        r["guest_per"] = per_unit(r["guest_cpu_s"], r["wall_s"], rate, kind)
        # Sleeps of the serving threads per transaction, per packet or
        # per MiB: how often the server went to sleep and was woken.
        r["wake_per"] = None
        if rate and r["wall_s"] and "serve_wakeups" in r:
            per = rate * r["wall_s"] / (1 << 20 if kind == "tcp" else 1)
            r["wake_per"] = r["serve_wakeups"] / per
        rows.append(r)

    with open(os.path.join(a.dest, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order", "rep", "job", "contender", "status", "rate",
                    "unit", "wall_s", "serve_cpu_s", "guest_cpu_s",
                    "serve_cpu_per", "guest_cpu_per", "cpu_unit",
                    "serve_wakeups", "serve_wakeups_per"])
        for r in rows:
            k = kinds.get(r["job"], "rr")
            w.writerow([r["order"], r["rep"], r["job"], r["contender"],
                        r["status"],
                        "" if r["rate"] is None else f"{r['rate']:.1f}",
                        UNIT[k].replace("Gbit/s", "bytes/s"), r["wall_s"],
                        r["serve_cpu_s"], r["guest_cpu_s"],
                        fmt_cpu(r["serve_per"], k), fmt_cpu(r["guest_per"], k),
                        CPU_UNIT[k], r.get("serve_wakeups", ""),
                        "" if r["wake_per"] is None
                        else f"{r['wake_per']:.3f}"])

    env = kv(os.path.join(a.dest, "env.txt"))
    host = kv(os.path.join(a.dest, "host.txt"))
    seen = [c for c in CONTENDERS if any(r["contender"] == c for r in rows)]
    stat = {}
    out = []
    out.append("# virtio-net: vdk net + tap, DPDK testpmd on VDUSE, veth\n")
    if a.quick == "1":
        out.append("**Quick run (1 rep of short runs): a smoke test, not "
                   "a measurement.**\n")
    out.append(f"Command: `{host.get('command', '?')}`  ")
    out.append(f"Date: {host.get('date', '?')}, commit "
               f"{host.get('git_commit', '?')}  ")
    out.append(f"Guest: Linux {env.get('kernel', '?')}, "
               f"{env.get('guest_cpus', '?')} vCPUs (QEMU TCG, no KVM) on "
               f"{host.get('host_cpu', '?')} ({host.get('host_cpus', '?')} "
               f"host CPUs shared with other work)  ")
    dpdk = env.get("pkg_dpdk") or env.get("pkg_librte-net-vhost25", "?")
    out.append(f"DPDK {dpdk} (dpdk-testpmd from dpdk-dev), iperf3 "
               f"{env.get('pkg_iperf3', '?')}, sockperf "
               f"{env.get('pkg_sockperf', '?')}; testpmd options "
               f"`{env.get('testpmd_app', '?')}`  ")
    out.append(f"One read(2) and one write(2) of a byte (dd) cost "
               f"{env.get('syscall_pair_us', '?')} µs in this guest; "
               f"Meltdown: {env.get('meltdown', '?')}  ")
    out.append(f"{env.get('reps', '?')} reps of {env.get('runtime_s', '?')} s "
               f"runs, contenders interleaved (rotated each rep)\n")
    out.append("Contenders:\n")
    for c in seen:
        out.append(f"- **{c}**: {NOTES[c]}")
    out.append("")
    out.append("Each cell: median rate (min-max over the reps); below it, "
               "CPU per unit of the serving process(es) / of the whole "
               "guest (/proc/stat, 2 vCPUs: clients, servers, kernel and "
               "all), medians.\n")
    out.append("| job | unit | " + " | ".join(seen) + " |")
    out.append("|---|---|" + "---|" * len(seen))
    for job, title, kind in JOBS:
        cells = []
        for c in seen:
            rs = [r for r in rows if r["job"] == job and r["contender"] == c]
            rates = [r["rate"] for r in rs if r["rate"] is not None]
            fails = len(rs) - len(rates)
            if not rs:
                cells.append("")
                continue
            if not rates:
                cells.append(f"failed ({fails})")
                continue
            m = med(rates)
            sp = med([r["serve_per"] for r in rs])
            gp = med([r["guest_per"] for r in rs])
            stat[(job, c)] = (m, sp, gp)
            cell = (f"**{fmt_rate(m, kind)}** ({fmt_rate(min(rates), kind)}"
                    f"-{fmt_rate(max(rates), kind)})<br>"
                    f"{fmt_cpu(sp, kind)} / {fmt_cpu(gp, kind)}")
            if fails:
                cell += f"<br>{fails} failed"
            cells.append(cell)
        out.append(f"| {job}: {title} | {UNIT[kind]}; {CPU_UNIT[kind]} | "
                   + " | ".join(cells) + " |")
    out.append("")
    out.append("## Targets\n")
    out.append("| job | vdk / dpdk rate | target | vdk / veth rate | "
               "guest CPU per unit, vdk / dpdk | serving CPU per unit, "
               "vdk / dpdk |")
    out.append("|---|---|---|---|---|---|")
    for job, _, kind in JOBS:
        v, d, e = (stat.get((job, c)) for c in CONTENDERS)
        if not v:
            continue
        target = {"tcp": "≥ 1.0× dpdk, ≥ 0.40× veth", "rr": "≥ 1.5× dpdk",
                  "udp": "(none)"}[kind]

        def ratio(x, y):
            return f"{x / y:.2f}×" if x is not None and y else "-"
        out.append(f"| {job} | {ratio(v[0], d and d[0])} | {target} | "
                   f"{ratio(v[0], e and e[0])} | "
                   f"{ratio(v[2], d and d[2])} | {ratio(v[1], d and d[1])} |")
    out.append("")
    out.append("The same ratios rep by rep (the contenders of one rep ran "
               "back to back), vdk / dpdk and vdk / veth:\n")
    reps = sorted({r["rep"] for r in rows})
    out.append("| job | " + " | ".join(f"rep {n}" for n in reps) + " |")
    out.append("|---|" + "---|" * len(reps))
    for job, _, kind in JOBS:
        cells = []
        for n in reps:
            got = {r["contender"]: r["rate"] for r in rows
                   if r["job"] == job and r["rep"] == n}
            v = got.get("vdk")

            def rr(o):
                x = got.get(o)
                return f"{v / x:.2f}×" if v and x else "-"
            cells.append(f"{rr('dpdk')} / {rr('veth')}")
        out.append(f"| {job} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("## Sleeps of the serving threads\n")
    out.append("Voluntary context switches of all the serving processes' "
               "threads during the run (medians), per MiB for TCP, per "
               "transaction or packet otherwise: how often the server slept "
               "and had to be woken.\n")
    out.append("| job | " + " | ".join(seen) + " |")
    out.append("|---|" + "---|" * len(seen))
    for job, _, kind in JOBS:
        cells = []
        for c in seen:
            m = med([r["wake_per"] for r in rows
                     if r["job"] == job and r["contender"] == c])
            cells.append("-" if m is None else f"{m:.2f}")
        out.append(f"| {job} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Host load: {host.get('host_load_start', '?')} at start, "
               f"{host.get('host_load_end', '?')} at the end; other guests: "
               f"{host.get('other_qemu', '?')}.  Raw: raw.jsonl, raw.csv, "
               f"runs/ (each client's output), logs/, guest.log.")
    with open(os.path.join(a.dest, "RESULTS.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
