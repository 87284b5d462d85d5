#!/bin/bash
# Harness self-test: never ends; run.sh --timeout 5 must exit 4.
echo "sleeping forever"
sleep 100000
