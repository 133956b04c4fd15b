#!/usr/bin/env bash
# Build the Space image with buildah on a locally made Debian base, serve it, and prove it works:
#   HTTP 200 on 7860, the page config names the bundled model, one tiny CLI stage runs inside it.
# Usage: scripts/check_image.sh   (as root; takes many minutes; not part of `make test`)
# Env: BASE (default localhost/debian:bookworm), IMAGE (default localhost/rlhf-playground:check),
#      PORT (default 7860), KEEP=1 keeps the working container for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-localhost/debian:bookworm}
IMAGE=${IMAGE:-localhost/rlhf-playground:check}
PORT=${PORT:-7860}
CA=/etc/ssl/certs/ca-certificates.crt
START=$(date +%s)
say() { printf '[check_image %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

for tool in buildah podman debootstrap curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y buildah podman debootstrap curl" >&2; exit 2; }
done

# 1. the base: no base-image registry is reachable here, so make Debian bookworm (python3 = 3.11) locally
if ! podman image exists "$BASE"; then
  say "making base $BASE with debootstrap"
  ROOTFS=$(mktemp -d /var/tmp/bookworm.XXXXXX)
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >/tmp/check_image_debootstrap.log
  tar -C "$ROOTFS" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi
say "base $BASE ready"

# 2. build. pip inside the build needs the host CA bundle; this machine's local wheel mirrors are mounted
#    and handed to pip when present (a Space build just uses PyPI).
VOLS=(-v "$CA:/host-ca.crt:ro")
ARGS=(--build-arg "BASE=$BASE" --build-arg PIP_CERT=/host-ca.crt)
links=() ; idx=()
[ -d /opt/wheels ] && { VOLS+=(-v /opt/wheels:/opt/wheels:ro); links+=(/opt/wheels); }
for d in /opt/pypi /opt/pypi-more; do
  [ -d "$d/simple" ] && { VOLS+=(-v "$d:$d:ro"); idx+=("file://$d/simple"); }
done
[ ${#links[@]} -gt 0 ] && ARGS+=(--build-arg "PIP_FIND_LINKS=${links[*]}" --build-arg TORCH_INDEX=)
[ ${#idx[@]} -gt 0 ] && ARGS+=(--build-arg "PIP_EXTRA_INDEX_URL=${idx[*]}")
say "building $IMAGE"
buildah bud --isolation chroot --layers --format docker "${ARGS[@]}" "${VOLS[@]}" -t "$IMAGE" . 2>&1 | sed 's/^/  | /'
say "built $IMAGE"

# 3. serve it: buildah from + buildah run (host network; podman run cannot start containers here)
for i in $(seq 1 60); do  # the container shares the host network: wait (up to 5 min) for the port to be free
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" || break
  [ "$i" = 1 ] && say "something else answers on port $PORT; waiting for it to go"
  [ "$i" = 60 ] && { echo "port $PORT stayed busy: stop what serves there or set PORT=..." >&2; exit 1; }
  sleep 5
done
CTR=$(buildah from "$IMAGE")
LOG=$(mktemp /tmp/check_image_app.XXXXXX.log)
APP_PID=
VOL=
stop_app() {  # the app runs in its own process group (setsid): stop buildah run and everything under it
  [ -n "$APP_PID" ] || return 0
  kill -TERM -- "-$APP_PID" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$APP_PID" 2>/dev/null || true
  APP_PID=
}
cleanup() {
  stop_app
  [ "${KEEP:-0}" = 1 ] || { buildah rm "$CTR" >/dev/null 2>&1; rm -rf "$VOL"; } || true
}
trap cleanup EXIT
# the image's CMD as a Space runs it: its user, the variables a Space with `hf_oauth: true` sets (placeholder OAuth
# client: nobody signs in here; Space mode: HF OAuth, allow-list, CPU sizes) and a "bucket" mounted at /data, so
# the workspace must land on the volume
VOL=$(mktemp -d /var/tmp/check_image_data.XXXXXX)
chown 1000:1000 "$VOL"
setsid buildah run --isolation chroot --user 1000:1000 -v "$VOL:/data" \
  -e SYSTEM=spaces -e SPACE_ID=local/image-check -e OAUTH_CLIENT_ID=check -e OAUTH_CLIENT_SECRET=check \
  -e "OAUTH_SCOPES=openid profile" -e OPENID_PROVIDER_URL=https://huggingface.co "$CTR" -- \
  sh -c 'cd /home/user/app && exec python -m playground.core.space --host 0.0.0.0 --port '"$PORT" >"$LOG" 2>&1 &
APP_PID=$!
say "container $CTR started (log $LOG)"
# first the app's own "Running on" line (so the 200 below is this container's, not another server's on the
# shared host network), then HTTP 200
code=
for _ in $(seq 1 300); do
  if grep -q "Running on local URL:  http://0.0.0.0:$PORT" "$LOG"; then
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)
    [ "$code" = 200 ] && break
  fi
  kill -0 "$APP_PID" 2>/dev/null || { tail -20 "$LOG"; echo "app exited before serving" >&2; exit 1; }
  sleep 2
done
[ "$code" = 200 ] || { tail -20 "$LOG"; echo "no HTTP 200 on $PORT" >&2; exit 1; }
say "HTTP 200 on http://127.0.0.1:$PORT/ (served by the container)"

head -1 "$LOG" | sed 's/^/  | /'
grep -q "workspace: /data/workspace · persistent" "$LOG" || { echo "the workspace is not on the /data volume" >&2; exit 1; }
[ -f "$VOL/workspace/playground.db" ] || { echo "no playground.db on the volume" >&2; exit 1; }
say "Space mode on; workspace on the mounted volume ($VOL/workspace/playground.db exists on the host)"

# 4. the page names the bundled model (Gradio serves the layout as /config)
if curl -s "http://127.0.0.1:$PORT/config" | grep -q 'SmolLM2-135M-Instruct'; then
  say "page config names the bundled model SmolLM2-135M-Instruct"
else
  echo "the page does not name the bundled model" >&2; exit 1
fi

# 5. the image's HEALTHCHECK command passes inside the running container
buildah run --isolation chroot --user 1000:1000 "$CTR" -- \
  python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/', timeout=4)"
say "HEALTHCHECK command passes"

# 6. one tiny CLI stage inside the image, as the image's user, into the workspace on the volume
say "running: python -m playground sft --config presets/sft/tiny-cpu.yaml"
buildah run --isolation chroot --user 1000:1000 -v "$VOL:/data" "$CTR" -- sh -c \
  'cd /home/user/app && PLAYGROUND_HOME=/data/workspace python -m playground sft --config presets/sft/tiny-cpu.yaml' \
  2>&1 | tail -3 | cut -c1-160 | sed 's/^/  | /'
STATUS=$(cat "$VOL"/workspace/runs/sft-*/status.json)
case "$STATUS" in *'"state": "succeeded"'*) ;; *) echo "the SFT run did not succeed: $STATUS" >&2; exit 1;; esac
say "tiny SFT stage succeeded inside the image; its run dir is on the volume: $(ls "$VOL"/workspace/runs)"

# 7. stop it
stop_app
curl -s -o /dev/null "http://127.0.0.1:$PORT/" && { echo "the app still answers after stop" >&2; exit 1; }
say "stopped; wall time $(( $(date +%s) - START )) s"
