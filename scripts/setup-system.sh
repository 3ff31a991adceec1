#!/usr/bin/env bash
# Installs, on Debian and as root, the system packages the test bed needs when any is missing
# (Postfix with its cdb maps, Dovecot with IMAP/POP3/LMTP/Sieve/ManageSieve, postsrsd, Redis, NSD
# for the tests' DNS server, Chromium for the browser tests, npm for their axe-core, and docker-compose to validate the compose
# file), and starts Redis when it is installed but not answering. Safe to run again: it only
# fills gaps.
set -euo pipefail

packages=(postfix postfix-cdb dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sqlite
          dovecot-sieve dovecot-managesieved redis-server
          postsrsd  # SRS for forwards to outside domains (provisioning/mailstack/srs.py)
          rspamd  # DKIM signing and spam scoring milter (provisioning/mailstack/rspamd.py)
          nsd  # the tests' authoritative DNS server (tests/dns_server.py); not on mail nodes
          chromium  # the browser tests drive Debian's Chromium (Playwright, no download)
          docker-compose)  # only to validate docker-compose.yml (`config`); no engine runs
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

# npm installs axe-core for the browser tests (package.json); Debian's own when none is there.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]} (run this script as root to install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  # "No configuration": the test bed runs private Postfix instances, never the system one.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Tests run private NSD instances on 127.53.x.y:53; the packaged service (where an init
  # system started it) would hold port 53 on every address.
  if [[ " ${missing[*]} " == *" nsd "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now nsd >/dev/null 2>&1 || true
  fi
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
