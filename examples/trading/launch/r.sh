#!/bin/sh
# Runs the R strategy of the trading example when R and pbdZMQ are installed; otherwise says
# so and exits 0 (the manifest starts it with restart = "never", so the system runs on without
# it). Debian: apt-get install r-cran-pbdzmq.
set -eu
if ! command -v Rscript >/dev/null 2>&1; then
  echo "R strategy skipped: Rscript is not installed"
  exit 0
fi
if ! Rscript -e 'suppressMessages(library(pbdZMQ))' >/dev/null 2>&1; then
  echo "R strategy skipped: the R package pbdZMQ is not installed"
  exit 0
fi
exec Rscript "$@"
