#!/bin/sh
# Runs a Python part of the trading example with pyzmq: `sh launch/python.sh python/strategy.py`
# (from examples/trading). Uses $FERROMQ_PYTHON when it can import zmq (scripts/test sets it);
# otherwise a venv under target/trading-venv, made with pyzmq from PyPI on the first run.
set -eu
root=$(cd ../.. && pwd)
python=${FERROMQ_PYTHON:-}
if [ -z "$python" ] || ! "$python" -c 'import zmq' 2>/dev/null; then
  venv="${CARGO_TARGET_DIR:-$root/target}/trading-venv"
  python="$venv/bin/python"
  if ! "$python" -c 'import zmq' 2>/dev/null; then
    echo "setting up $venv with pyzmq (first run only)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'pyzmq>=25,<28'
  fi
fi
PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" exec "$python" "$@"
