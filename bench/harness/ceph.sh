# shellcheck shell=bash
# A throwaway one-node Ceph cluster for bench/compare.sh's rbd group: one monitor, one manager, one
# memstore OSD on loopback, auth off, pool "rbd" (the same cluster rbd/src/test/.../CephCluster.java starts
# for the tests; ../shared facts: fs-test-targets-and-ceph.md). Sourced after harness/lib.sh, not run.
# Every daemon is tracked with h_track, so h_cleanup stops it by pid if the script dies; ceph_stop stops
# them in order (OSD, manager, monitor). A memstore OSD keeps every object in its own memory and shares the
# machine's cores with the clients and servers being measured: the cluster is CPU-bound, not disk-bound.

# ceph_start DIR MEMSTORE_BYTES: boots the cluster under DIR; sets CEPH_CONF. Returns 1 with H_WHY set.
ceph_start() {
  local dir=$1 bytes=$2 fsid port mon_host i osd
  CEPH_DIR=$dir
  CEPH_CONF=$dir/ceph.conf
  CEPH_PIDS=()
  mkdir -p "$dir"/{run,log,mon,mgr,osd}
  : >"$dir/keyring"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  # Below the ephemeral port range: a monitor port inside it once collided with a client socket.
  port=$((17000 + 2 * (RANDOM % 7000)))
  mon_host="[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]"
  cat >"$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon host = $mon_host
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
mon data avail warn = 1
mon data avail crit = 0
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = $bytes
memstore page set = true
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon data = $dir/mon/\$cluster-\$id
mgr data = $dir/mgr/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
keyring = $dir/keyring
CONF
  monmaptool --create --addv a "$mon_host" --fsid "$fsid" "$dir/monmap" >/dev/null || { H_WHY="monmaptool failed"; return 1; }
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$dir/monmap" || { H_WHY="ceph-mon --mkfs failed"; return 1; }
  ceph-mon -c "$CEPH_CONF" -i a || { H_WHY="ceph-mon failed to start"; return 1; }
  ceph_track mon.a ceph-mon || return 1
  ceph-mgr -c "$CEPH_CONF" -i x || { H_WHY="ceph-mgr failed to start"; return 1; }
  ceph_track mgr.x ceph-mgr || return 1
  osd=$(ceph_cli osd create) || { H_WHY="ceph osd create failed"; return 1; }
  mkdir -p "$dir/osd/ceph-$osd"
  ceph-osd -c "$CEPH_CONF" -i "$osd" --mkfs >/dev/null 2>&1 || { H_WHY="ceph-osd --mkfs failed"; return 1; }
  ceph-osd -c "$CEPH_CONF" -i "$osd" || { H_WHY="ceph-osd failed to start"; return 1; }
  ceph_track "osd.$osd" ceph-osd || return 1
  for ((i = 0; i < 600; i++)); do
    ceph_cli osd stat 2>/dev/null | grep -q '1 up' && break
    sleep 0.1
  done
  ceph_cli osd stat | grep -q '1 up' || { H_WHY="the OSD did not come up"; return 1; }
  ceph_cli osd pool create rbd 8 >/dev/null 2>&1 || { H_WHY="pool create failed"; return 1; }
  timeout -k 5 60 rbd -c "$CEPH_CONF" pool init rbd || { H_WHY="rbd pool init failed"; return 1; }
}

# Every ceph CLI call is bounded: one that cannot reach a monitor waits forever otherwise.
ceph_cli() { timeout -k 5 60 ceph -c "$CEPH_CONF" --connect-timeout 30 "$@"; }

ceph_track() {
  local name=$1 what=$2 pid
  pid=$(h_read_pidfile "$CEPH_DIR/run/$name.pid")
  [[ -n $pid ]] || { H_WHY="$name wrote no pid file (see $CEPH_DIR/log)"; return 1; }
  h_track "$pid" "$what"
  CEPH_PIDS+=("$pid")
}

# Stops the daemons, OSD first, by pid.
ceph_stop() {
  local i
  for ((i = ${#CEPH_PIDS[@]} - 1; i >= 0; i--)); do
    h_stop_pid "${CEPH_PIDS[$i]}"
  done
  CEPH_PIDS=()
}
