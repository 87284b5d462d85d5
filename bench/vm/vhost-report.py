#!/usr/bin/env python3
"""The vhost-path benchmark's report (bench/vm/vhost.sh).

    vhost-report.py --dest DIR [--quick 0|1]

Reads DIR/raw.jsonl (one line per run, blkio-check's JSON inside),
DIR/env.txt (guest) and DIR/host.txt (host); writes DIR/raw.csv and
DIR/RESULTS.md: medians with min-max per job and contender, and the
ratios vdk/QSD of the medians.  Python 3 standard library only.
"""

import argparse
import csv
import json
import os
import statistics

JOBS = [
    ("rr4k-qd1", "4k randread QD1", "iops"),
    ("rr4k-qd32", "4k randread QD32", "iops"),
    ("rw4k-qd32", "4k randwrite QD32", "iops"),
    ("sr256k-qd32", "256k read QD32", "mib_s"),
    ("sw256k-qd32", "256k write QD32", "mib_s"),
]
CONTENDERS = ["vdk-ram-vhost", "vdk-file-vhost", "qsd-file-vhost"]
NOTES = {
    "vdk-ram-vhost": "vdk blk, ram backend, `vdk bus NAME vhost` "
                     "(filled through its virtio disk first)",
    "vdk-file-vhost": "vdk blk, file backend: a file on tmpfs (page cache), "
                      "`vdk bus NAME vhost`",
    "qsd-file-vhost": "qemu-storage-daemon `--export vduse-blk` of the same "
                      "file (file driver, cache.direct=off, default aio), "
                      "`vdpa dev add`, unbound from virtio_vdpa, "
                      "driver_override=vhost_vdpa, drivers_probe",
}
RATIOS = [("vdk-ram-vhost", "qsd-file-vhost"),
          ("vdk-file-vhost", "qsd-file-vhost")]


def kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def fmt(v, unit):
    if unit == "iops":
        return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:.0f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", required=True)
    ap.add_argument("--quick", default="0")
    a = ap.parse_args()
    d = a.dest
    rows = []
    with open(os.path.join(d, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    with open(os.path.join(d, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job", "contender", "rep", "order", "status", "seconds",
                    "ios", "iops", "mib_s", "daemon_cpu_s", "error"])
        for r in rows:
            b = r.get("blkio") or {}
            w.writerow([r["job"], r["contender"], r["rep"], r["order"],
                        r["status"], b.get("seconds", ""), b.get("ios", ""),
                        b.get("iops", ""), b.get("mib_s", ""),
                        r.get("daemon_cpu_s", ""), r.get("error", "")])
    env, host = kv(os.path.join(d, "env.txt")), kv(os.path.join(d, "host.txt"))

    vals = {}
    cpu = {}
    for r in rows:
        b = r.get("blkio")
        if not b or r["status"] != 0:
            continue
        unit = dict((j, u) for j, _, u in JOBS).get(r["job"], "iops")
        vals.setdefault((r["job"], r["contender"]), []).append(b[unit])
        if b.get("ios"):
            cpu.setdefault((r["job"], r["contender"]), []).append(
                r["daemon_cpu_s"] / b["ios"] * 1e6)
    present = [c for c in CONTENDERS if any(k[1] == c for k in vals)]
    failed = sum(1 for r in rows if not r.get("blkio") or r["status"] != 0)

    L = []
    kernel = env.get("kernel", "?")
    title = "vhost path: vdk beside qemu-storage-daemon, libblkio client"
    L.append(f"# {title}" + (" (QUICK CHECK, not a measurement)"
                             if a.quick == "1" else ""))
    L.append("")
    L.append(f"Guest kernel {kernel}, {env.get('guest_cpus', '?')} vCPUs "
             f"under QEMU TCG; {env.get('reps', '?')} reps of "
             f"{env.get('runtime_s', '?')} s runs per job and contender, "
             f"interleaved (each job against every contender in turn, the "
             f"first one rotating from rep to rep), disks of "
             f"{env.get('size_mib', '?')} MiB, 1 queue.  Client: "
             f"`blkio-check --bench` (tests/vhost, libblkio's "
             f"virtio-blk-vhost-vdpa driver) on `/dev/vhost-vdpa-N`, the "
             f"daemons' memory access through the vhost IOTLB.")
    L.append("")
    L.append("Medians (min–max); IOPS for 4k jobs, MiB/s for 256k jobs.  "
             "Ratios are of medians, vdk / QSD.  blkio-check takes blocks "
             "of at most 256 KiB, so the sequential jobs are 256k at QD32 "
             "(the bytes in flight of the main benchmark's 1M QD8).")
    L.append("")
    head = ["job"] + [f"`{c}`" for c in present]
    rat = [(x, y) for x, y in RATIOS if x in present and y in present]
    head += [f"{x.split('-')[1]}/qsd" for x, _ in rat]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + " --- |" * len(head))
    for j, t, unit in JOBS:
        if not any((j, c) in vals for c in present):
            continue
        cells = [t]
        for c in present:
            v = vals.get((j, c))
            if not v:
                cells.append("failed")
                continue
            cells.append(f"{fmt(statistics.median(v), unit)} "
                         f"({fmt(min(v), unit)}–{fmt(max(v), unit)})")
        for x, y in rat:
            if vals.get((j, x)) and vals.get((j, y)):
                cells.append(f"{statistics.median(vals[(j, x)]) / statistics.median(vals[(j, y)]):.2f}")
            else:
                cells.append("–")
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append("Daemon CPU per I/O, µs (median; the daemon process's user + "
             "system time over the run / I/Os):")
    L.append("")
    L.append("| job | " + " | ".join(f"`{c}`" for c in present) + " |")
    L.append("|" + " --- |" * (len(present) + 1))
    for j, t, _ in JOBS:
        if not any((j, c) in cpu for c in present):
            continue
        L.append(f"| {t} | " + " | ".join(
            f"{statistics.median(cpu[(j, c)]):.1f}" if cpu.get((j, c))
            else "–" for c in present) + " |")
    L.append("")
    L.append(f"Runs: {len(rows)}, failed: {failed}.")
    L.append("")
    L.append("## Contenders")
    L.append("")
    for c in present:
        L.append(f"- `{c}`: {NOTES[c]}")
    missing = [c for c in CONTENDERS if c not in present]
    if missing:
        L.append(f"- left out (setup failed or not asked for): "
                 + ", ".join(f"`{c}`" for c in missing))
    L.append("")
    L.append("## Jobs")
    L.append("")
    L.append("| job | blkio-check |")
    L.append("| --- | --- |")
    args = {"rr4k-qd1": "--bench randread --bs 4k --qd 1",
            "rr4k-qd32": "--bench randread --bs 4k --qd 32",
            "rw4k-qd32": "--bench randwrite --bs 4k --qd 32",
            "sr256k-qd32": "--bench read --bs 256k --qd 32",
            "sw256k-qd32": "--bench write --bs 256k --qd 32"}
    for j, t, _ in JOBS:
        L.append(f"| {t} | `{args[j]} --queues 1 --seconds "
                 f"{env.get('runtime_s', '?')}` |")
    L.append("")
    L.append("## Environment")
    L.append("")
    L.append(f"- command: `{host.get('command', '?')}`")
    L.append(f"- date: {host.get('date', '?')}")
    L.append(f"- git commit: {host.get('git_commit', '?')}")
    L.append(f"- guest kernel: {kernel}; guest CPU: {env.get('guest_cpu', '?')}, "
             f"{env.get('guest_mem_mib', '?')} MiB")
    L.append(f"- vdk: {env.get('vdk', '?')}")
    L.append(f"- qemu-storage-daemon: {env.get('qsd', '?')}")
    for k in sorted(env):
        if k.startswith("pkg_"):
            L.append(f"- {k[4:]} {env[k]}")
    L.append(f"- host: {host.get('host_cpu', '?')}, {host.get('host_cpus', '?')} "
             f"CPUs, {host.get('host_os', '?')}; {host.get('host_qemu', '?')}")
    L.append(f"- host load average (1, 5, 15 min): start "
             f"{host.get('host_load_start', '?')}, end "
             f"{host.get('host_load_end', '?')}")
    L.append(f"- other QEMU guests on the host: {host.get('other_qemu', '?')}; "
             f"at the end: {host.get('other_qemu_end', '?')}")
    L.append(f"- guest kernel command line extras: `{host.get('guest_append', '')}`")
    L.append("")
    L.append("Files: `raw.jsonl` (one line per run, blkio-check's output "
             "inside), `raw.csv`, `env.txt` (guest), `host.txt`, `guest.log`.")
    with open(os.path.join(d, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
