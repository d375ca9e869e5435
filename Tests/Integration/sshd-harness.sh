#!/usr/bin/env bash
# Integration-test harness: a throw-away OpenSSH sshd on loopback plus real clients.
#
#   sshd-harness.sh setup   DIR
#   sshd-harness.sh start   DIR PORT [file|syslog] [listener|daemon|inetd] [-- -o Key=Value ...]   -> prints PID
#   sshd-harness.sh stop    DIR PORT
#   sshd-harness.sh ssh     DIR PORT USER [ssh args...]                  (key auth, exit = ssh's)
#   sshd-harness.sh sshpass DIR PORT USER PASSWORD [ssh args...]         (password auth, exit = sshpass/ssh's)
#
# Must run as root. Test users: sa_alice / Alice-Pw-7q, sa_bob / Bob-Pw-9z; key DIR/id_<user minus "sa_">.
# Files per listener: DIR/sshd_config_PORT, DIR/sshd_PORT.pid, DIR/sshd_PORT.log (LOGMODE file), DIR/sshd_PORT.out.
# LOGMODE syslog: sshd logs via syslog(3) to /dev/log; the caller must provide a listener there
# (without one the messages are silently dropped).
# STARTMODE: listener (default) runs sshd -D; daemon runs sshd without -D (it forks into the background;
# the PID printed is the child left listening); inetd runs sshd -i per connection under
# systemd-socket-activate --inetd -a (the PID printed and in the pid file is the socket manager's).
# Environment: SSHD_HARNESS_IPV6=1 also listens on [::1]; SSHD_HARNESS_HOST (default 127.0.0.1) is
# the address the clients connect to. SSHD_HARNESS_MPTCP=1 runs sshd and the ssh command under
# `mptcpize run`: their sockets are MPTCP ones (a plain TCP client of that sshd would fall back to TCP).
# SSHD_HARNESS_ROOT=ROOT runs sshd inside the root tree ROOT instead (chroot ROOT /usr/sbin/sshd, e.g.
# OpenSSH 10.x from trixie-root.sh ensure ROOT, 8.x from debian-root.sh ensure bullseye ROOT): setup
# creates the users inside ROOT (same uid/gid as the host's accounts of that name when free there) and
# bind-mounts /proc, /dev, /dev/pts into ROOT if needed. DIR is then a path as sshd sees it, kept at ROOT/DIR on the host (a DIR already under ROOT
# is taken as is); the files above live there. The clients stay the host's ssh/sshpass; the PIDs
# printed and in the pid file are the host's.
set -euo pipefail

die() { echo "sshd-harness: $*" >&2; exit 1; }
usage() { sed -n '4,8s/^#  *//p' "$0" >&2; exit 2; }

SSHD=/usr/sbin/sshd   # absolute path: sshd refuses to re-exec itself otherwise
declare -A PASSWORDS=([sa_alice]='Alice-Pw-7q' [sa_bob]='Bob-Pw-9z')
HOST=${SSHD_HARNESS_HOST:-127.0.0.1}

# RROOT: the root tree sshd runs in ("" = the host's /). Host paths of files sshd uses are "$RROOT$path".
RROOT=
if [[ -n ${SSHD_HARNESS_ROOT:-} ]]; then
  [[ $SSHD_HARNESS_ROOT == /* && $SSHD_HARNESS_ROOT != *[[:space:]%]* ]] ||
    die "SSHD_HARNESS_ROOT must be an absolute path without whitespace or '%': $SSHD_HARNESS_ROOT"
  RROOT=$(realpath -m -- "$SSHD_HARNESS_ROOT")
  [[ $RROOT != / ]] || RROOT=
fi
# Run a command with the tree's files and accounts (passwd, PAM, sshd binary): chroot when RROOT is set.
in_root() {
  if [[ -n $RROOT ]]; then chroot "$RROOT" "$@"; else "$@"; fi
}

# DIR: the directory on the host; SDIR: the same directory as sshd sees it (equal without RROOT).
need_dir() {
  [[ -n ${1:-} ]] || usage
  [[ $1 != *[[:space:]%]* ]] || die "DIR must not contain whitespace or '%' (sshd config tokens): $1"
  DIR=$(realpath -m -- "$1")
  SDIR=$DIR
  if [[ -n $RROOT ]]; then
    if [[ $DIR == "$RROOT"/* ]]; then SDIR=${DIR#"$RROOT"}; else DIR=$RROOT$SDIR; fi
  fi
}
# shellcheck disable=SC2015  # "A && B || die" is intended: die if either check fails
need_port() {
  [[ ${1:-} =~ ^[1-9][0-9]{0,4}$ ]] && (( $1 < 65536 )) || die "invalid PORT: ${1:-<missing>}"
  PORT=$1
}
need_root() { (( EUID == 0 )) || die "must run as root"; }

# StrictModes checks the keys file and *every* ancestor directory: each must be owned by root
# (or the user) and not group/world writable. A DIR under /tmp (1777) can never pass, so then
# the keys go to the users' ~/.ssh instead of weakening StrictModes.
dir_keys_ok() {
  local p=$SDIR   # sshd checks the ancestors it sees: up to ROOT (its "/") in a root tree
  while :; do
    [[ $(stat -c '%u' "$RROOT$p") == 0 ]] && (( ( 0$(stat -c '%a' "$RROOT$p") & 022 ) == 0 )) || return 1
    [[ $p == / ]] && return 0
    p=$(dirname "$p")
  done
}

# Is anything LISTENing on PORT (any address)? Read /proc instead of probing with connect():
# a probe connection would show up as a spurious connection in sshd's log / in audit traces.
listening() {
  local hex; hex=$(printf '%04X' "$1")
  awk -v h="$hex" '$4 == "0A" && $2 ~ (":" h "$") { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

ensure_privsep() {   # /run is tmpfs: recreate each time
  install -d -o root -g root -m 0755 "$RROOT/run/sshd"
  [[ -n $RROOT ]] || return 0
  # sshd in a root tree needs /dev (null, ptys) and /proc; the bind mounts do not survive a reboot.
  [[ -x $RROOT$SSHD ]] || die "no $SSHD in $RROOT (build the tree first, e.g. trixie-root.sh ensure $RROOT)"
  local m
  for m in proc dev dev/pts; do
    mountpoint -q "$RROOT/$m" && continue
    install -d -m 0755 "$RROOT/$m"
    mount --bind "/$m" "$RROOT/$m" || die "could not bind-mount /$m on $RROOT/$m"
    mount --make-rslave "$RROOT/$m" 2>/dev/null || true
  done
}

# Create USER inside the root tree; reuse the host account's uid/gid when the host has USER and the
# tree has those ids free, so that both sides (and a tracer resolving uids on the host) agree.
add_user_in_root() {
  local u=$1 uid gid
  if uid=$(id -u "$u" 2>/dev/null) && gid=$(id -g "$u" 2>/dev/null) && ! in_root getent passwd "$uid" >/dev/null; then
    if ! in_root getent group "$u" >/dev/null; then
      if in_root getent group "$gid" >/dev/null; then in_root groupadd "$u"; else in_root groupadd -g "$gid" "$u"; fi
    fi
    in_root useradd -m -s /bin/bash -u "$uid" -g "$u" "$u"
  else
    in_root useradd -m -s /bin/bash "$u"
  fi
}

cmd_setup() {
  need_root; need_dir "${1:-}"
  command -v sshpass >/dev/null || die "sshpass not installed (apt-get install -y sshpass)"
  ensure_privsep   # in a root tree: checks it and mounts /proc, /dev first
  install -d -o root -g root -m 0755 "$DIR" "$DIR/authorized_keys"
  [[ -f $DIR/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C harness-host -f "$DIR/ssh_host_ed25519_key"
  chmod 0600 "$DIR/ssh_host_ed25519_key"
  local u short home uid gid
  for u in sa_alice sa_bob; do
    short=${u#sa_}
    if [[ -n $RROOT ]]; then
      in_root id -u "$u" >/dev/null 2>&1 || add_user_in_root "$u"
    else
      id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
    fi
    [[ $(in_root getent passwd "$u" | cut -d: -f7) == /bin/bash ]] || in_root usermod -s /bin/bash "$u"
    echo "$u:${PASSWORDS[$u]}" | in_root chpasswd
    in_root usermod -U "$u" 2>/dev/null || true   # chpasswd already clears a '!' lock; keep as belt and braces
    in_root chage -E -1 -M -1 "$u"                # no account/password expiry
    [[ -f $DIR/id_$short ]] || ssh-keygen -q -t ed25519 -N '' -C "$u@harness" -f "$DIR/id_$short"
    # The client runs as the key's owner; ssh rejects private keys readable by others. (The client
    # is the host's: with a root tree and no such host account, the key stays root's.)
    if [[ -z $RROOT ]] || id -u "$u" >/dev/null 2>&1; then chown "$u:" "$DIR/id_$short" "$DIR/id_$short.pub"; fi
    chmod 0600 "$DIR/id_$short"; chmod 0644 "$DIR/id_$short.pub"
    install -o root -g root -m 0644 "$DIR/id_$short.pub" "$DIR/authorized_keys/$u"
    if ! dir_keys_ok; then
      # The account as sshd sees it (numeric ids: the host may have other ids for the name).
      home=$RROOT$(in_root getent passwd "$u" | cut -d: -f6)
      uid=$(in_root id -u "$u"); gid=$(in_root id -g "$u")
      install -d -o "$uid" -g "$gid" -m 0755 "$home"
      install -d -o "$uid" -g "$gid" -m 0700 "$home/.ssh"
      touch "$home/.ssh/authorized_keys"
      grep -qxF -f "$DIR/id_$short.pub" "$home/.ssh/authorized_keys" || cat "$DIR/id_$short.pub" >> "$home/.ssh/authorized_keys"
      chown "$uid:$gid" "$home/.ssh/authorized_keys"; chmod 0600 "$home/.ssh/authorized_keys"
    fi
  done
  dir_keys_ok || echo "sshd-harness: note: $DIR has a group/world-writable or non-root ancestor; StrictModes would reject keys there, installed them in ~/.ssh/authorized_keys instead" >&2
  ensure_privsep
}

# TERM all PIDs at once, wait (bounded) until each is gone, then SIGKILL survivors.
# A zombie counts as gone: kill -0 succeeds on it until its (sshd) parent reaps it.
alive() {
  local st; st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }; [[ ${st%% *} != Z ]]   # state field follows "(comm) "
}
kill_wait() {
  local i p left
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 70; i++)); do
    left=(); for p in "$@"; do alive "$p" && left+=("$p"); done
    (( ${#left[@]} )) || return 0
    (( i == 50 )) && kill -KILL "${left[@]}" 2>/dev/null
    sleep 0.1
  done
  die "could not kill pid(s) ${left[*]}"
}

descendants() {   # transitive children of $1
  ps -e -o pid=,ppid= | awk -v root="$1" '{ p[$1] = $2 } END {
    for (c in p) { x = c; while (x in p && x != root && x > 1) x = p[x]; if (x == root && c != root) print c } }'
}

cmd_stop() {
  need_root; need_dir "${1:-}"; need_port "${2:-}"
  local pidf=$DIR/sshd_$PORT.pid pid all p k
  [[ -f $pidf ]] || return 0
  pid=$(<"$pidf")
  # Guard against a recycled PID: only kill it if it really is our sshd for this config (and root tree).
  # (In inetd mode the pid is the socket manager's, on the host, which runs "chroot ROOT sshd -i".)
  local cmd; cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || cmd=
  if [[ $pid =~ ^[0-9]+$ && $cmd == *"-f $SDIR/sshd_config_$PORT "* &&
        ( -z $RROOT || $(readlink "/proc/$pid/root" 2>/dev/null) == "$RROOT" || $cmd == *"chroot $RROOT "* ) ]]; then
    # Per-connection sshd children call setsid() and would outlive the listener, so kill the
    # whole tree at once (one by one is slow: an interactive bash ignores SIGTERM and only
    # dies of SIGHUP when its sshd closes the pty).
    # shellcheck disable=SC2207
    all=("$pid" $(descendants "$pid"))
    kill_wait "${all[@]}"
    # Orphaned zombies are reaped by PID 1 a bit later; wait (bounded) so "pgrep sshd" is clean.
    for ((k = 0; k < 50; k++)); do
      for p in "${all[@]}"; do [[ -e /proc/$p ]] && { sleep 0.1; continue 2; }; done
      break
    done
  fi
  rm -f "$pidf"
}

cmd_start() {
  need_root; need_dir "${1:-}"; need_port "${2:-}"; shift 2
  local logmode=file
  if [[ $# -gt 0 && $1 != -- ]]; then logmode=$1; shift; fi
  [[ $logmode == file || $logmode == syslog ]] || die "LOGMODE must be 'file' or 'syslog', got '$logmode'"
  local startmode=listener
  if [[ $# -gt 0 && $1 != -- ]]; then startmode=$1; shift; fi
  [[ $startmode == listener || $startmode == daemon || $startmode == inetd ]] ||
    die "STARTMODE must be 'listener', 'daemon' or 'inetd', got '$startmode'"
  if [[ $# -gt 0 ]]; then [[ $1 == -- ]] || die "unexpected argument '$1' (extra sshd options go after --)"; shift; fi
  local extra=("$@")
  # Whether the extra options set KEY (-o KEY=VALUE, any case).
  extra_sets() { local o; for o in "${extra[@]}"; do [[ ${o,,} == "${1,,}="* ]] && return 0; done; return 1; }

  [[ -f $DIR/ssh_host_ed25519_key ]] || die "$DIR not set up (run: $0 setup $DIR)"
  ensure_privsep
  cmd_stop "$DIR" "$PORT"   # idempotent: restart a listener we started earlier on this port
  listening "$PORT" && die "port $PORT is already in use by another process"

  local cfg=$DIR/sshd_config_$PORT pidf=$DIR/sshd_$PORT.pid log=$DIR/sshd_$PORT.log out=$DIR/sshd_$PORT.out akf
  # As sshd sees them (the same paths without a root tree):
  local scfg=$SDIR/sshd_config_$PORT spidf=$SDIR/sshd_$PORT.pid slog=$SDIR/sshd_$PORT.log
  if dir_keys_ok; then akf="$SDIR/authorized_keys/%u"; else akf=".ssh/authorized_keys"; fi
  {
    echo "ListenAddress 127.0.0.1"
    [[ ${SSHD_HARNESS_IPV6:-0} == 1 ]] && echo "ListenAddress ::1"
    cat <<EOF
Port $PORT
HostKey $SDIR/ssh_host_ed25519_key
PidFile $spidf
UsePAM yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
StrictModes yes
AuthorizedKeysFile $akf
LogLevel VERBOSE
MaxSessions 50
EOF
    # Default 10:30:100 randomly drops parallel unauthenticated connections. sshd takes MaxStartups
    # and PerSourcePenalties from the file even over -o: a test's own value replaces the line.
    extra_sets MaxStartups || echo "MaxStartups 100:30:200"
  } > "$cfg"
  chmod 0644 "$cfg"
  local err
  err=$(in_root "$SSHD" -t -f "$scfg" "${extra[@]}" 2>&1) || die "sshd -t rejected $cfg: $(head -n1 <<<"$err")"
  # What this sshd makes of the config (nothing if -T fails: then no line is added below).
  local eff; eff=$(in_root "$SSHD" -T -f "$scfg" 2>/dev/null) || eff=
  # OpenSSH >= 9.8 would refuse loopback connections after repeated auth failures (tests do that
  # on purpose).
  if grep -q '^persourcepenalties ' <<<"$eff" && ! extra_sets PerSourcePenalties; then echo "PerSourcePenalties no" >> "$cfg"; fi
  # OpenSSH < 8.7 turns keyboard-interactive back on when ChallengeResponseAuthentication is left at
  # its default (yes), whatever KbdInteractiveAuthentication says.
  if grep -q '^challengeresponseauthentication yes' <<<"$eff"; then echo "ChallengeResponseAuthentication no" >> "$cfg"; fi

  rm -f "$pidf" "$log"; : > "$out"
  local logargs=()
  if [[ $logmode == file ]]; then logargs=(-E "$slog"); fi   # sshd appends; log was removed above -> fresh per start
  local launch=()
  if [[ -n $RROOT ]]; then launch=(chroot "$RROOT"); fi   # chroot execs sshd in place: same PID
  # mptcpize execs sshd in place too, its sockets made MPTCP ones (with the host's sshd only).
  if [[ ${SSHD_HARNESS_MPTCP:-0} == 1 ]]; then launch+=(mptcpize run); fi
  # Fully detached: own session, no inherited stdin/stdout, so "$(harness start ...)" returns.
  local spid i
  case $startmode in
    listener)
      setsid "${launch[@]}" "$SSHD" -D -f "$scfg" "${logargs[@]}" "${extra[@]}" < /dev/null >> "$out" 2>&1 &
      spid=$! ;;
    daemon)
      # sshd forks into the background and its child writes the pid file; the parent exits 0.
      setsid "${launch[@]}" "$SSHD" -f "$scfg" "${logargs[@]}" "${extra[@]}" < /dev/null >> "$out" 2>&1 ||
        die "sshd failed to start: $(cat "$out" ${logargs[1]:+"$log"} 2>/dev/null | grep . | tail -n1)"
      for ((i = 0; i < 100; i++)); do [[ -s $pidf ]] && break; sleep 0.1; done
      [[ -s $pidf ]] || die "sshd wrote no pid file within 10s (see $out)"
      spid=$(<"$pidf") ;;
    inetd)
      # The socket manager accepts; each connection gets its own sshd -i with the socket on stdin/stdout.
      command -v systemd-socket-activate >/dev/null || die "systemd-socket-activate not installed"
      setsid systemd-socket-activate --inetd -a -l "$HOST:$PORT" "${launch[@]}" "$SSHD" -i -f "$scfg" "${logargs[@]}" "${extra[@]}" \
        < /dev/null >> "$out" 2>&1 &
      spid=$!
      echo "$spid" > "$pidf" ;;
  esac
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$spid" 2>/dev/null; then
      die "sshd exited during startup: $(cat "$out" ${logargs[1]:+"$log"} 2>/dev/null | grep . | tail -n1)"
    fi
    if [[ -s $pidf ]] && listening "$PORT"; then echo "$(<"$pidf")"; return 0; fi
    sleep 0.1
  done
  kill_wait "$spid"
  die "sshd did not listen on port $PORT within 10s (see $out${logargs[1]:+ and $log})"
}

# Run the client as the local account USER when it exists (realistic client uid), else as the caller.
run_as() {
  local u=$1; shift
  if [[ $u != root ]] && id -u "$u" >/dev/null 2>&1 && (( EUID == 0 )); then
    exec setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups --reset-env -- "$@"
  fi
  exec "$@"
}

COMMON_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

cmd_ssh() {
  need_dir "${1:-}"; need_port "${2:-}"; [[ -n ${3:-} ]] || usage
  local user=$3; shift 3
  local key=$DIR/id_${user#sa_}
  [[ -f $key ]] || die "no key $key for user $user"
  # IdentitiesOnly: don't also offer agent/default keys -> exactly one publickey attempt in the log.
  local wrap=()
  if [[ ${SSHD_HARNESS_MPTCP:-0} == 1 ]]; then wrap=(mptcpize run); fi   # the client's socket MPTCP too
  run_as "$(stat -c %U "$key")" "${wrap[@]}" ssh -i "$key" -p "$PORT" "${COMMON_OPTS[@]}" -o BatchMode=yes \
    -o IdentitiesOnly=yes "$user@$HOST" "$@"
}

cmd_sshpass() {
  need_dir "${1:-}"; need_port "${2:-}"; [[ -n ${3:-} && $# -ge 4 ]] || usage
  local user=$3 pw=$4; shift 4
  run_as "$user" sshpass -p "$pw" ssh -p "$PORT" "${COMMON_OPTS[@]}" -o PubkeyAuthentication=no \
    -o PreferredAuthentications=password,keyboard-interactive "$user@$HOST" "$@"
}

sub=${1:-}; shift || true
case $sub in
  setup)   cmd_setup "$@" ;;
  start)   cmd_start "$@" ;;
  stop)    cmd_stop "$@" ;;
  ssh)     cmd_ssh "$@" ;;
  sshpass) cmd_sshpass "$@" ;;
  *)       usage ;;
esac
