#!/usr/bin/env bash
# Installs what Lifeboat's tests and benchmarks need on a fresh Debian/Ubuntu
# machine, and nothing when it is already there. Safe to run repeatedly.
set -euo pipefail
export PATH="/usr/local/go/bin:$PATH"

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dovecot             || need+=(dovecot-imapd)
have doveadm             || need+=(dovecot-core)
have mbsync              || need+=(isync)
have gnome-keyring-daemon || need+=(gnome-keyring)
have dbus-run-session    || need+=(dbus)
have dbus-launch         || need+=(dbus-x11)
have openssl             || need+=(openssl)
# sync/testenv/mailstack: private Postfix instances (SMTP submission and relay) in
# front of private Dovecots, and swaks as a real SMTP client in tests.
[ -x /usr/sbin/postfix ] || need+=(postfix)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
have swaks               || need+=(swaks)
# Mail readers the archive must open as it is (mutt runs inside tmux: it
# needs a terminal).
have mutt                || need+=(mutt)
have tmux                || need+=(tmux)
# A standard mail program's SMTP client with its defaults (auth on, TLS),
# against the relay.
have msmtp               || need+=(msmtp)
perl -MNet::SSLeay -e1 2>/dev/null || need+=(libnet-ssleay-perl) # swaks's TLS
/usr/bin/python3 -c "import mailbox" 2>/dev/null || need+=(python3)
# The desktop app (Fyne) builds against GL and X11 headers; its end-to-end
# test runs under Xvfb and takes screenshots with ImageMagick's import.
for pkg in libgl1-mesa-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libx11-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
have Xvfb                || need+=(xvfb)
have import              || need+=(imagemagick)
have gcc                 || need+=(gcc)
# make windows: the Windows desktop binary is cross-compiled with MinGW
# (Fyne's GLFW driver is C); file checks that the result is a PE32+.
have x86_64-w64-mingw32-gcc || need+=(gcc-mingw-w64-x86-64)
have file                || need+=(file)
[ -x /usr/bin/time ]     || need+=(time)
# make bench-restore also measures imapsync, run from its source: Debian 12
# does not package it, but packages every Perl module it needs.
if [ "${1:-}" = bench ]; then
  for m in Mail::IMAPClient:libmail-imapclient-perl IO::Socket::INET6:libio-socket-inet6-perl IO::Socket::SSL:libio-socket-ssl-perl \
           IO::Tee:libio-tee-perl Term::ReadKey:libterm-readkey-perl Unicode::String:libunicode-string-perl Readonly:libreadonly-perl \
           Sys::MemInfo:libsys-meminfo-perl Regexp::Common:libregexp-common-perl File::Tail:libfile-tail-perl \
           File::Copy::Recursive:libfile-copy-recursive-perl Encode::IMAPUTF7:libencode-imaputf7-perl Digest::HMAC_SHA1:libdigest-hmac-perl; do
    perl -M"${m%%:*}" -e1 2>/dev/null || need+=("${m##*:}")
  done
  have curl || need+=(curl)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Keep the distribution's own Dovecot and Postfix services from starting:
  # the tests run private instances on loopback ports of their own.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $SUDO apt-get update -qq
  # Postfix asks how to configure the system's own mail server: not at all
  # (the tests run private instances with configurations of their own).
  if printf '%s\n' "${need[@]}" | grep -qx postfix; then
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$created_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
go mod download
