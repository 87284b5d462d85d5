#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The manual pages against what they describe, both ways.

vdk(8), man/vdk.8.scd, against the built vdk: every verb of `vdk help`,
every option that `vdk help VERB` shows, every backend and parameter of
`vdk backends -j` and every exit code is in the page, and the page has no
verb, option, parameter or exit code that vdk does not.  A backend the
page has and this build lacks (nbd, rbd without their libraries) is
skipped, not failed.

libvdk(3), man/libvdk.3.scd, against lib/libvdk.map and the header: every
exported function and every public struct is documented, and the page
documents no function that the library does not export.

The rendered pages (if scdoc built them) go through man --warnings.

Usage: check-man.py VDK MANSRC MANBUILD LIBVDK_MAP VDK_H
Exit: 0 pass, 1 fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys

OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          text=True).stdout


def sections(text, level):
    """{heading: body} of the scdoc headings of @level ('#' or '##')."""
    out, name, body = {}, None, []
    mark = level + " "
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith(level + "#"):
            if name is not None:
                out[name] = "\n".join(body)
            name, body = None, []
            if line.startswith(mark):
                name = line[len(mark):].strip()
            continue
        body.append(line)
    if name is not None:
        out[name] = "\n".join(body)
    return out


def help_options(text):
    """Options of a verb's help: its usage lines and option lines."""
    opts, in_options = set(), False
    for line in text.splitlines():
        s = line.strip()
        if line.startswith("Options") and line.endswith(":"):
            in_options = True
        elif not s:
            in_options = False
        elif line.startswith("Usage:") or line.startswith("       vdk"):
            opts.update(OPT.findall(s.split(" ", 2)[-1]))
        elif in_options and s.startswith("-"):
            # "-d, --daemon   meaning": the option words before the text.
            words = re.split(r"\s{2,}", s)[0]
            opts.update(OPT.findall(words))
    opts.discard("-")
    return opts


def man_options(body):
    """Options of a verb's section: its heading and its "*-" lines."""
    opts = set()
    for line in body.splitlines():
        if line.startswith("*-"):
            opts.update(re.findall(r"\*(--?[A-Za-z][\w-]*)\*", line))
    return opts


def compare(what, have, want_from, doc, doc_from):
    for x in sorted(have - doc):
        fail(f"{what}: {x} is in {want_from}, not in {doc_from}")
    for x in sorted(doc - have):
        fail(f"{what}: {x} is in {doc_from}, not in {want_from}")


def check_vdk8(vdk, src):
    page = uncommented(src)
    top = sections(page, "#")
    verbs_man = {}
    for head, body in sections(page, "##").items():
        m = re.match(r"vdk (\w+)(.*)", head)
        if m:
            verbs_man[m.group(1)] = (m.group(2), body)

    main = run(vdk, "help")
    verbs = re.findall(r"^  (\w+)", main.split("Verbs:")[1].split(
        "\n\n")[0], re.M)
    compare("verbs", set(verbs), "vdk help", set(verbs_man), "vdk.8")
    for g in ("--help", "--version"):
        if g not in main or g not in top.get("SYNOPSIS", ""):
            fail(f"vdk {g}: not in both vdk help and vdk.8's SYNOPSIS")

    for verb in verbs:
        if verb not in verbs_man:
            continue
        head, body = verbs_man[verb]
        if verb == "help":
            have = set()
        else:
            have = help_options(run(vdk, "help", verb))
        doc = man_options(body) | set(OPT.findall(head))
        compare(f"vdk {verb}", have, f"vdk help {verb}", doc,
                f"vdk.8 (## vdk {verb})")

    codes = set(re.findall(r"^  (\d+)  ", main.split("Exit codes:")[1],
                           re.M))
    doc = set(re.findall(r"^\*(\d+)\*$", top.get("EXIT STATUS", ""), re.M))
    compare("exit codes", codes, "vdk help", doc, "vdk.8 (EXIT STATUS)")

    backends = {b["name"]: {p["key"] for p in b["params"]}
                for b in json.loads(run(vdk, "backends", "-j"))}
    doc_backends = {}
    for head, body in sections(top.get("BACKENDS", ""), "##").items():
        doc_backends[head] = set(re.findall(r"^\*([\w-]+)\*=", body, re.M))
    for name in sorted(set(doc_backends) - set(backends)):
        print(f"SKIP: backend {name}: not in this build")
        del doc_backends[name]
    compare("backends", set(backends), "vdk backends", set(doc_backends),
            "vdk.8 (BACKENDS)")
    for name in sorted(set(backends) & set(doc_backends)):
        compare(f"backend {name}", backends[name], "vdk backends -j",
                doc_backends[name], f"vdk.8 (## {name})")


def uncommented(path):
    """An scdoc source without its comment lines."""
    return "\n".join(line for line in open(path).read().splitlines()
                     if not line.startswith(";"))


def check_libvdk3(src, mapfile, header):
    page = uncommented(src)
    text = open(mapfile).read()
    # The names of every version node ("local: *;" names none).
    exported = set(re.findall(r"^\s*(vdk_\w+);", text, re.M))
    doc = set(re.findall(r"\*(vdk_\w+)\*\(", page))
    compare("libvdk functions", exported, "libvdk.map", doc,
            "libvdk.3 (*vdk_x*( lines)")
    structs = set(re.findall(r"^struct (vdk_\w+) \{", open(header).read(),
                             re.M))
    for s in sorted(structs):
        if f"*struct {s}*" not in page:
            fail(f"struct {s}: in vdk.h, not in libvdk.3")


def check_render(manbuild):
    pages = [os.path.join(manbuild, p) for p in ("vdk.8", "libvdk.3")]
    pages = [p for p in pages if os.path.exists(p)]
    if not pages:
        print("SKIP: rendering: no page built (scdoc missing)")
        return
    if not shutil.which("man"):
        print("SKIP: rendering: no man (Debian package man-db)")
        return
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_STDERR="1")
    for p in pages:
        r = subprocess.run(["man", "--warnings", "-l", p], env=env,
                           capture_output=True, text=True)
        if r.returncode or r.stderr.strip() or not r.stdout.strip():
            fail(f"{p}: man --warnings: exit {r.returncode}: "
                 f"{r.stderr.strip()[:2000]}")


def main():
    vdk, mansrc, manbuild, mapfile, header = sys.argv[1:6]
    check_vdk8(vdk, os.path.join(mansrc, "vdk.8.scd"))
    check_libvdk3(os.path.join(mansrc, "libvdk.3.scd"), mapfile, header)
    check_render(manbuild)
    if failures:
        print(f"check-man: {len(failures)} mismatches", file=sys.stderr)
        return 1
    print("check-man: vdk.8 and libvdk.3 match vdk, libvdk.map and vdk.h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
