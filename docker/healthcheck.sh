#!/bin/bash
# eir-healthcheck: exits 0 when the eir-serve in this container answers GET /health with 200.
# The image's HEALTHCHECK and compose.yaml run it; bash's /dev/tcp keeps curl out of the image.
# Usage: eir-healthcheck [PORT]   (default: $EIR_SERVE_PORT, else 8000)
port=${1:-${EIR_SERVE_PORT:-8000}}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
case $status in
  "HTTP/1.1 200"* | "HTTP/1.0 200"*) exit 0 ;;
esac
echo "eir-healthcheck: /health answered: $status" >&2
exit 1
