#!/usr/bin/env bash
# Installs, once per machine, the Debian packages the tests drive as real peers: socat (the
# TLS terminator in front of the Kafka broker in tests/kafka_tls.rs), openssl (test
# certificates), mosquitto and mosquitto-clients (the MQTT broker tests/mqtt.rs starts
# privately, and its command-line clients), chromium and chromium-driver (the headless
# browser the HTML report's test opens through Selenium). Idempotent; used by `make test`.
set -euo pipefail
missing=()
command -v socat >/dev/null || missing+=(socat)
command -v openssl >/dev/null || missing+=(openssl)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-tools: installing ${missing[*]} (once per machine)" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
