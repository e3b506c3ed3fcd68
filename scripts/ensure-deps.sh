#!/usr/bin/env bash
# Makes sure what the tests and the demo need is installed: the PostgreSQL
# server programs (initdb, postgres), the client programs (pg_dump, psql,
# pg_restore), zstd and gzip. On Debian/Ubuntu as root it installs what is
# missing; elsewhere it says what to install and fails.
set -euo pipefail

have_server() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_server || missing+=(postgresql)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
command -v sha256sum >/dev/null 2>&1 || missing+=(coreutils)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
# Shipping tests: a real sshd and ssh client on loopback, GNU time for RSS.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/bin/time ] || missing+=(time)

# The S3-compatible test server comes from PyPI.
if ! command -v moto_server >/dev/null 2>&1 && ! python3 -c "import moto.server" >/dev/null 2>&1; then
    echo "installing: moto[server] (pip)" >&2
    python3 -m pip install --quiet "moto[server]>=5" || {
        echo "cannot install moto[server]: run python3 -m pip install 'moto[server]'" >&2
        exit 1
    }
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's postgresql package creates and starts a cluster of its own;
    # pgb's tests and demo start their own throwaway servers instead.
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        for conf in /etc/postgresql/*/main; do
            [ -d "$conf" ] || continue
            version=$(basename "$(dirname "$conf")")
            pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
        done
    fi
    exit 0
fi
echo "missing: ${missing[*]}" >&2
echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again" >&2
exit 1
