#!/bin/bash
# Harness self-test: the kernel panics after /init; run.sh must exit 5.
echo "crashing the kernel"
echo c >/proc/sysrq-trigger
