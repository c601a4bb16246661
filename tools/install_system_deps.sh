#!/usr/bin/env bash
# Installs the system packages the default corpora need: espeak-ng, sox,
# mbrola and the MBROLA diphone voices (Debian contrib / non-free) for the
# simulated emotional corpus, and the Debian-main packages that carry the
# real recorded voices of stage 1 (speechbrain_emoinv/data/prepare_real.py)
# with ffmpeg to decode their raw G.722 / GSM prompts.
#
# The machine's apt sources list only Debian's "main" component. We derive a
# second sources file from the machine's own Debian source (same URIs, suites
# and keyring) that adds "contrib non-free", so no mirror is ever named here.
# Idempotent: does nothing when every package is already installed.
#
# Usage: bash tools/install_system_deps.sh [voice ...]
#   (default voices: tools/mbrola_voices.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "$#" -gt 0 ]; then
    voices=("$@")
else
    mapfile -t voices < <(grep -v '^\s*#' "$here/mbrola_voices.txt" | awk 'NF')
fi
pkgs=(espeak-ng sox mbrola ffmpeg tuxpaint-stamps-default ktuberling-data
    klettres-data flight-of-the-amazon-queen asterisk-prompt-es-co
    asterisk-prompt-fr-armelle asterisk-prompt-it-menardi-wav)
for lang in en es fr it ru; do pkgs+=("asterisk-core-sounds-$lang-g722"); done
for v in "${voices[@]}"; do pkgs+=("mbrola-$v"); done

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "[install_system_deps] all ${#pkgs[@]} packages already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "[install_system_deps] ERROR: need root to apt-get install:" \
        "${missing[*]}. Re-run as root (or with sudo)." >&2
    exit 1
fi

src=/etc/apt/sources.list.d/debian.sources
extra=/etc/apt/sources.list.d/emoinv-contrib-nonfree.sources
if [ ! -f "$extra" ]; then
    if [ -f "$src" ]; then
        # Keep each stanza's Types/URIs/Suites/Signed-By, swap Components.
        awk '/^Components:/ {print "Components: contrib non-free"; next}
             {print}' "$src" > "$extra"
    elif [ -f /etc/apt/sources.list ]; then
        sed -n 's/^\(deb\s\+\S\+\s\+\S\+\)\s\+main.*/\1 contrib non-free/p' \
            /etc/apt/sources.list \
            > /etc/apt/sources.list.d/emoinv-contrib-nonfree.list
    else
        echo "[install_system_deps] ERROR: no Debian apt source found" \
            "($src or /etc/apt/sources.list)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    for p in "${missing[@]}"; do
        apt-cache show "$p" > /dev/null 2>&1 \
            || echo "[install_system_deps] ERROR: package '$p' cannot be" \
                "had from this machine's apt sources" >&2
    done
    exit 1
fi
echo "[install_system_deps] installed: ${missing[*]}"
