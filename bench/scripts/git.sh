#!/bin/sh
# Read-only git work on the generated repository (bench/build.sh makes it): the whole history with patches
# and stats, and a blame of a few files. Output is deterministic (fixed dates, names and contents).
set -e
repo=$1
export GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent GIT_PAGER=cat
git -C "$repo" log -p --stat --no-color
git -C "$repo" log -p --word-diff --no-color -n 60
for f in f001.txt f017.txt f042.txt; do git -C "$repo" blame --porcelain "$f"; done
git -C "$repo" rev-list --objects --all | sort
